"""Crash safety: SIGKILL the emulator at the worst moments, start it again, and find every object whole.

`SF_EMULATOR_PAUSE_AT=<point>` freezes the process at a named point (sf_emulator/crashpoints.py); the test then
kills it there with SIGKILL, as a crash or an OOM kill would, and restarts it on the same data directory.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
import time
import uuid
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
from sfe_helpers import Api

from sf_emulator.testing import EmulatorProcess

OCTETS = {'Content-Type': 'application/octet-stream'}
FAST = ['--op-delay', '0.05', '--fetch-delay', '0.05', '--cleaner-interval', '0.2']


def files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def wait_for_pause(sf: EmulatorProcess, point: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if f'paused at {point}' in sf.log_tail():
            return
        time.sleep(0.02)
    raise AssertionError(f'the emulator never reached {point}:\n{sf.log_tail()}')


def crash_at(sf: EmulatorProcess, point: str, request: threading.Thread) -> None:
    """Wait for the request to freeze the process at `point`, SIGKILL it, restart it without the pause."""
    request.start()
    wait_for_pause(sf, point)
    sf.kill()
    request.join(timeout=30)
    sf.env.pop('SF_EMULATOR_PAUSE_AT')
    sf.restart()


def in_background(call: partial[object]) -> threading.Thread:
    def run() -> None:
        with contextlib.suppress(requests.RequestException):  # the process died under the request: the point
            call()

    return threading.Thread(target=run, daemon=True)


def new_upload(api: Api, data: bytes) -> str:
    upload = api.ok('POST', '/upload')['uuid']
    assert api.ok('POST', f'/upload/{upload}', data=data, headers=OCTETS) == len(data)
    return str(upload)


def check_blob(api: Api, blob_uuid: str, data: bytes) -> None:
    blob = api.ok('GET', f'/blobs/{blob_uuid}')
    assert (blob['size'], blob['sha512']) == (len(data), hashlib.sha512(data).hexdigest())
    assert api.call('GET', f'/blobs/{blob_uuid}/data').content == data


@pytest.mark.parametrize('point', ['convert-linked', 'convert-committed'])
def test_killed_during_a_convert(tmp_path: Path, point: str) -> None:
    """Before the commit: the upload is whole and converts again. After it: the version is whole. Either way no
    file is left that no row references."""
    data_dir = tmp_path / 'data'
    with EmulatorProcess(data_dir, extra_args=FAST, env={'SF_EMULATOR_PAUSE_AT': point}) as sf:
        api = Api(sf.url, 'system', sf.system_key)
        data = os.urandom(3 << 20)
        upload = new_upload(api, data)
        crash_at(sf, point, in_background(partial(api.call, 'POST', '/artifacts/upload/crashy',
                                                  {'upload_uuid': upload})))
        api.session.close()
        listed = [a for a in api.ok('GET', '/artifacts') if a['source_url'] == 'sf://upload/system/crashy']
        if point == 'convert-linked':
            assert listed == [] and files(data_dir / 'blobs') == [] and files(data_dir / 'uploads') == [upload]
            art = api.ok('POST', '/artifacts/upload/crashy', {'upload_uuid': upload})
        else:
            assert files(data_dir / 'uploads') == []
            art = listed[0]
            assert api.error('POST', f'/upload/{upload}', data=b'x', headers=OCTETS) == (404, 'upload not found')
        assert art['index'] == 1
        check_blob(api, art['blob_uuid'], data)
        assert files(data_dir / 'blobs') == [art['blob_uuid']] and files(data_dir / 'uploads') == []


class Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def image_site(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    root = tmp_path / 'site'
    root.mkdir()
    server = ThreadingHTTPServer(('127.0.0.1', 0), partial(Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f'http://127.0.0.1:{server.server_address[1]}/', root
    server.shutdown()
    server.server_close()


def test_killed_while_a_fetch_records_its_blob(tmp_path: Path, image_site: tuple[str, Path]) -> None:
    """The fetched file is in blobs/ but its row is not committed: start-up removes the file, the job runs again."""
    base, root = image_site
    data = os.urandom(1 << 20)
    (root / 'disk.img').write_bytes(data)
    data_dir = tmp_path / 'data'
    with EmulatorProcess(data_dir, extra_args=FAST, env={'SF_EMULATOR_PAUSE_AT': 'fetch-moved'}) as sf:
        api = Api(sf.url, 'system', sf.system_key)
        art = api.ok('POST', '/artifacts', {'url': base + 'disk.img'})
        wait_for_pause(sf, 'fetch-moved')
        assert len(files(data_dir / 'blobs')) == 1  # the file is there, its row is not
        sf.kill()
        sf.env.pop('SF_EMULATOR_PAUSE_AT')
        sf.restart()
        assert 'removed 1 file(s) no row references' in sf.log_tail()
        api.session.close()
        deadline = time.monotonic() + 20
        while (view := api.ok('GET', f'/artifacts/{art["uuid"]}'))['state'] != 'created':
            assert view['state'] != 'error' and time.monotonic() < deadline, view
            time.sleep(0.05)
        check_blob(api, view['blob_uuid'], data)
        assert files(data_dir / 'blobs') == [view['blob_uuid']]


def test_start_up_removes_files_no_row_references(tmp_path: Path) -> None:
    data_dir = tmp_path / 'data'
    with EmulatorProcess(data_dir, extra_args=FAST) as sf:
        api = Api(sf.url, 'system', sf.system_key)
        kept_data = os.urandom(10_000)
        kept_blob = api.upload_bytes('kept', kept_data)['blob_uuid']
        kept_upload = new_upload(api, b'still uploading')
        strays = [data_dir / 'blobs' / str(uuid.uuid4()), data_dir / 'uploads' / str(uuid.uuid4())]
        for stray in strays:
            stray.write_bytes(b'left by a crash')
        sf.kill()
        sf.restart()
        assert not any(stray.exists() for stray in strays)
        assert files(data_dir / 'blobs') == [kept_blob] and files(data_dir / 'uploads') == [kept_upload]
        api.session.close()
        check_blob(api, kept_blob, kept_data)
        assert api.ok('POST', f'/upload/{kept_upload}', data=b'!', headers=OCTETS) == len(b'still uploading!')


def test_a_convert_of_missing_bytes_fails_and_creates_nothing(emulator: EmulatorProcess) -> None:
    """Never a version of nothing: no data sent, or the upload's file gone (lost in a crash or removed)."""
    api = Api(emulator.url, 'system', emulator.system_key)
    blobs_before = api.ok('GET', '/blobs')
    empty = api.ok('POST', '/upload')['uuid']
    assert api.error('POST', '/artifacts/upload/never-sent', {'upload_uuid': empty}) == (404, 'upload has no data')
    lost = new_upload(api, os.urandom(5000))
    (emulator.data_dir / 'uploads' / lost).unlink()
    assert api.error('POST', '/artifacts/upload/lost', {'upload_uuid': lost}) == (404, 'upload data missing')
    short = new_upload(api, os.urandom(5000))
    os.truncate(emulator.data_dir / 'uploads' / short, 100)
    assert api.error('POST', '/artifacts/upload/short', {'upload_uuid': short}) == (404, 'upload data missing')
    assert api.ok('GET', '/blobs') == blobs_before
    urls = [a['source_url'] for a in api.ok('GET', '/artifacts')]
    assert not {'sf://upload/system/never-sent', 'sf://upload/system/lost', 'sf://upload/system/short'} & set(urls)
    # An upload that got bytes after all converts normally.
    assert api.ok('POST', f'/upload/{empty}', data=b'late', headers=OCTETS) == 4
    art = api.ok('POST', '/artifacts/upload/never-sent', {'upload_uuid': empty})
    check_blob(api, art['blob_uuid'], b'late')
