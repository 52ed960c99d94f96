"""Scale and speed: concurrent uploads with one shared label, listing 5,000 artifacts, raw upload throughput."""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from sfe_helpers import Api, process_status, wait_until_ok

from sf_emulator.testing import EmulatorProcess

MIB = 1024 * 1024
OCTETS = {'Content-Type': 'application/octet-stream'}


def _file(path: Path, size: int) -> str:
    """Write `size` random bytes to `path`; return their sha512."""
    digest = hashlib.sha512()
    with open(path, 'wb') as handle:
        left = size
        while left:
            chunk = os.urandom(min(left, 4 * MIB))
            handle.write(chunk)
            digest.update(chunk)
            left -= len(chunk)
    return digest.hexdigest()


@pytest.mark.slow
def test_16_concurrent_uploads_and_one_shared_label(emulator: EmulatorProcess, tmp_path: Path) -> None:
    system = Api(emulator.url, 'system', emulator.system_key)
    label = f'shared-label-{os.getpid()}'
    clients = 16
    files = []
    for n in range(clients):
        path = tmp_path / f'upload-{n}.img'
        files.append((path, _file(path, 64 * MIB)))
    # the label keeps every version so we can check each one arrived exactly once
    seed = system.upload_bytes('label-seed', b'seed')
    system.ok('POST', f'/label/{label}', {'blob_uuid': seed['blob_uuid'], 'max_versions': 100})

    def one(n: int) -> tuple[str, str]:
        api = Api(emulator.url, 'system', emulator.system_key)
        path, _ = files[n]
        upload = api.ok('POST', '/upload')['uuid']
        sent = 0
        with open(path, 'rb') as handle:
            while chunk := handle.read(8 * MIB):  # several chunks per upload, like the client
                sent += len(chunk)
                assert api.ok('POST', f'/upload/{upload}', data=chunk, headers=OCTETS) == sent
        art = api.ok('POST', f'/artifacts/upload/concurrent-{n}', {'upload_uuid': upload})
        api.ok('POST', f'/label/{label}', {'blob_uuid': art['blob_uuid']})
        return art['uuid'], art['blob_uuid']

    with ThreadPoolExecutor(max_workers=clients) as pool:
        results = list(pool.map(one, range(clients)))

    for n, (_, blob_uuid) in enumerate(results):
        blob = system.ok('GET', f'/blobs/{blob_uuid}')
        assert blob['sha512'] == files[n][1] and blob['size'] == 64 * MIB and blob['state'] == 'created'
    versions = system.ok('GET', f'/artifacts/{label}/versions')
    assert [v['index'] for v in versions] == list(range(1, clients + 2))  # seed + one per client, no gaps
    assert sorted(v['uuid'] for v in versions[1:]) == sorted(b for _, b in results)
    assert versions[0]['uuid'] == seed['blob_uuid']
    log = [e for e in emulator.request_log() if e['path'].startswith('/label/')]
    assert all(e['status'] == 200 for e in log)


@pytest.mark.slow
def test_listing_5000_artifacts_is_fast(emulator: EmulatorProcess) -> None:
    system = Api(emulator.url, 'system', emulator.system_key)
    blob = system.upload_bytes('list-seed', b'x' * 100)['blob_uuid']

    def make(batch: range) -> None:
        api = Api(emulator.url, 'system', emulator.system_key)
        for n in batch:
            api.ok('POST', f'/artifacts/upload/list-{n}', {'blob_uuid': blob})

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(make, [range(start, 5000, 4) for start in range(4)]))
    timings = []
    for _ in range(3):
        started = time.monotonic()
        listing = system.ok('GET', '/artifacts', {'node': None})
        timings.append(time.monotonic() - started)
    print(f'\nlisting {len(listing)} artifacts: best {min(timings) * 1000:.0f} ms, worst {max(timings) * 1000:.0f} ms')
    assert len(listing) == 5001
    assert min(timings) < 0.5, timings


@pytest.mark.slow
@pytest.mark.skipif(shutil.which('curl') is None, reason='needs curl')
def test_raw_upload_throughput(emulator: EmulatorProcess, tmp_path: Path) -> None:
    """`curl --data-binary @256MiB` into /upload/<uuid>; the target is 300 MB/s on loopback."""
    api = Api(emulator.url, 'system', emulator.system_key)
    path = tmp_path / 'big.img'
    expected = _file(path, 256 * MIB)
    token = api.login()
    speeds = []
    for attempt in range(3):
        upload = api.ok('POST', '/upload')['uuid']
        result = subprocess.run(
            ['curl', '-sS', '-o', '/dev/null', '-w', '%{http_code} %{speed_upload}', '-H',
             f'Authorization: Bearer {token}', '-H', 'Content-Type: application/octet-stream', '--data-binary',
             f'@{path}', f'{emulator.url}/upload/{upload}'],
            capture_output=True, text=True, check=True, timeout=120,
        )
        status, speed = result.stdout.split()
        assert status == '200'
        speeds.append(float(speed) / 1e6)
        if attempt == 0:
            art = api.ok('POST', '/artifacts/upload/throughput', {'upload_uuid': upload})
            assert api.ok('GET', f'/blobs/{art["blob_uuid"]}')['sha512'] == expected
        else:
            api.ok('POST', f'/upload/{upload}/truncate/0')
    print(f'\nraw 256 MiB upload: {", ".join(f"{s:.0f}" for s in speeds)} MB/s (best {max(speeds):.0f})')
    # Generous floor: this machine is shared with other test runs; the target (300 MB/s) is reported above.
    assert max(speeds) >= 100, speeds


def test_many_small_concurrent_requests_never_lock(emulator: EmulatorProcess) -> None:
    """Many clients writing at once: every request succeeds (no 'database is locked'), no version lost."""
    system = Api(emulator.url, 'system', emulator.system_key)
    blobs = [system.upload_bytes(f'small-{n}', os.urandom(32))['blob_uuid'] for n in range(8)]
    system.ok('POST', '/label/hot', {'blob_uuid': blobs[0], 'max_versions': 50})

    def hammer(n: int) -> list[int]:
        session = requests.Session()
        api = Api(emulator.url, 'system', emulator.system_key)
        api.session = session
        statuses = []
        for i in range(20):
            statuses.append(api.call('POST', '/label/hot', {'blob_uuid': blobs[(n + i) % 8]}).status_code)
            statuses.append(api.call('GET', '/artifacts').status_code)
        return statuses

    with ThreadPoolExecutor(max_workers=16) as pool:
        statuses = [s for batch in pool.map(hammer, range(16)) for s in batch]
    assert set(statuses) == {200}
    versions = system.ok('GET', '/artifacts/hot/versions')
    indexes = [v['index'] for v in versions]
    assert indexes == sorted(set(indexes)) and len(indexes) <= 50


@pytest.mark.slow
def test_4000_idle_connections(emulator: EmulatorProcess) -> None:
    """http.server gave each connection a thread: 4,000 idle ones took about 100 MB and 4,000 threads, and the
    request after closing them waited 5-20 s. Now: parked in a selector, the ones over the cap refused."""
    pid = emulator.pid or 0
    rss_before, threads_before = process_status(pid)
    idle = [socket.create_connection(('127.0.0.1', emulator.port)) for _ in range(4000)]
    time.sleep(2)
    rss, threads = process_status(pid)
    print(f'\n4,000 idle connections: {rss - rss_before} MiB more, {threads - threads_before} more threads')
    assert rss - rss_before < 40 and threads - threads_before <= 10, (rss_before, rss, threads_before, threads)
    for sock in idle:
        sock.close()
    waited = wait_until_ok(emulator)
    print(f'first answer after closing them: {waited:.2f} s')
    assert waited < 2
