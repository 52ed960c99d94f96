"""Uploads (append, truncate, convert, expiry) and blobs (views, data ranges, checksums, reference counts)."""

from __future__ import annotations

import hashlib
import http.client
import os
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from sfe_helpers import Api, make_namespace

from sf_emulator.testing import EmulatorProcess

OCTETS = {'Content-Type': 'application/octet-stream'}


@pytest.mark.server_profile('latest')  # blob views carry checksums
def test_upload_appends_return_total_size_and_convert_keeps_bytes(system: Api) -> None:
    upload = system.ok('POST', '/upload')
    assert set(upload) >= {'uuid', 'node', 'created_at', 'state'}
    parts = [os.urandom(1000), os.urandom(3000), b'', os.urandom(17)]
    total = 0
    for part in parts:
        total += len(part)
        assert system.ok('POST', f'/upload/{upload["uuid"]}', data=part, headers=OCTETS) == total
    art = system.ok('POST', '/artifacts/upload/conv-test', {'upload_uuid': upload['uuid']})
    data = b''.join(parts)
    blob = system.ok('GET', f'/blobs/{art["blob_uuid"]}')
    assert blob['size'] == len(data) and blob['sha512'] == hashlib.sha512(data).hexdigest()
    assert blob['checksums']['sha512'] == blob['sha512']
    assert system.call('GET', f'/blobs/{art["blob_uuid"]}/data').content == data
    # the upload is gone once converted
    assert system.error('POST', f'/upload/{upload["uuid"]}', data=b'x', headers=OCTETS) == (404, 'upload not found')


def test_truncate_rules(system: Api) -> None:
    upload = system.ok('POST', '/upload')['uuid']
    assert system.ok('POST', f'/upload/{upload}/truncate/0') is None  # nothing sent: truncating to 0 is a no-op
    assert system.error('POST', f'/upload/{upload}/truncate/5') == (404, 'upload has no data')
    system.ok('POST', f'/upload/{upload}', data=b'0123456789', headers=OCTETS)
    assert system.error('POST', f'/upload/{upload}/truncate/11') == (400, 'offset is beyond the end of the upload')
    for offset in ('-1', 'abc'):  # the newest server's `int:` converter routes digits only: a Flask HTML 404
        answer = system.call('POST', f'/upload/{upload}/truncate/{offset}')
        assert (answer.status_code, answer.headers['Content-Type']) == (404, 'text/html; charset=utf-8')
    # A body key overrides the path value (as on the real server), so the handler's own check stays reachable.
    assert system.error('POST', f'/upload/{upload}/truncate/0', {'offset': -1}) == (400, 'offset must not be negative')
    assert system.error('POST', '/upload/no-such-upload/truncate/0') == (404, 'upload not found')
    assert system.ok('POST', f'/upload/{upload}/truncate/4') is None
    assert system.ok('POST', f'/upload/{upload}', data=b'XY', headers=OCTETS) == 6
    art = system.ok('POST', '/artifacts/upload/trunc-test', {'upload_uuid': upload})
    blob = system.ok('GET', f'/blobs/{art["blob_uuid"]}')
    assert blob['sha512'] == hashlib.sha512(b'0123XY').hexdigest()


def test_convert_errors(system: Api, tenant: Api) -> None:
    upload = system.ok('POST', '/upload')['uuid']
    assert system.error('POST', '/artifacts/upload/x', {'upload_uuid': upload, 'blob_uuid': 'b'}) == (
        400, 'only specify one of upload_uuid and blob_uuid')
    assert system.error('POST', '/artifacts/upload/x', {'upload_uuid': 'nope'}) == (404, 'upload not found')
    assert system.error('POST', '/artifacts/upload/x', {'blob_uuid': 'nope'}) == (404, 'blob not found')
    assert system.error('POST', '/artifacts/upload/x', {'upload_uuid': upload, 'artifact_type': 'label'}) == (
        403, 'invalid artifact type specified')
    assert tenant.error('POST', '/artifacts/upload/x', {'upload_uuid': upload, 'shared': True}) == (
        403, 'only the system namespace can create shared artifacts')
    assert system.error('POST', '/artifacts/upload/x', {'upload_uuid': upload, 'namespace': 'no-such-ns'}) == (
        404, 'namespace not found')
    # none of the refusals left an artifact behind
    names = [a['source_url'] for a in system.ok('GET', '/artifacts')]
    assert 'sf://upload/system/x' not in names and f'sf://upload/{tenant.namespace}/x' not in names


def test_other_type_and_blob_uuid_conversion(system: Api) -> None:
    first = system.upload_bytes('first-blob', os.urandom(100))
    other = system.ok('POST', '/artifacts/upload/other-art', {'blob_uuid': first['blob_uuid'],
                                                               'artifact_type': 'other'})
    assert other['artifact_type'] == 'other' and other['blob_uuid'] == first['blob_uuid']
    assert system.ok('GET', f'/blobs/{first["blob_uuid"]}')['reference_count'] == 2


@pytest.mark.server_profile('latest')  # limit honoured, Content-Length
def test_blob_data_offset_and_limit(system: Api) -> None:
    data = os.urandom(5000)
    blob = system.upload_bytes('ranges', data)['blob_uuid']
    cases = {'': data, '?offset=100': data[100:], '?limit=10': data[:10], '?offset=4990&limit=100': data[4990:],
             '?offset=6000': b''}
    for query, expected in cases.items():
        answer = system.call('GET', f'/blobs/{blob}/data{query}')
        assert answer.status_code == 200 and answer.content == expected, query
    assert system.error('GET', f'/blobs/{blob}/data?offset=-1')[0] == 400
    assert system.error('GET', f'/blobs/{blob}/data?limit=-5')[0] == 400
    assert system.error('GET', '/blobs/unknown/data') == (404, 'blob not found')


@pytest.mark.server_profile('latest')  # every algorithm routed, checksum route
def test_checksum_lookups(system: Api) -> None:
    data = os.urandom(2048)
    blob = system.upload_bytes('sums', data)['blob_uuid']
    sha512 = hashlib.sha512(data).hexdigest()
    found = system.ok('GET', f'/blob_checksums/sha512/{sha512}')
    assert found['uuid'] == blob and 'instances' in found
    assert system.ok('GET', f'/blob_checksums/sha512/{"0" * 128}') is None
    assert system.error('GET', f'/blob_checksums/md5/{sha512}') == (400, 'unknown hash algorithm')
    assert system.ok('GET', f'/blobs/{blob}/checksum/sha512') == sha512
    assert system.error('GET', f'/blobs/{blob}/checksum/crc32') == (400, 'unknown hash algorithm')
    deadline = time.monotonic() + 10
    value = system.ok('GET', f'/blobs/{blob}/checksum/sha256')  # null at first: hashed in the background
    while value is None and time.monotonic() < deadline:
        time.sleep(0.1)
        value = system.ok('GET', f'/blobs/{blob}/checksum/sha256')
    assert value == hashlib.sha256(data).hexdigest()
    assert system.ok('GET', f'/blob_checksums/sha256/{value}')['uuid'] == blob


@pytest.mark.server_profile('latest')  # locations for system only
def test_blob_views_locations_and_listing(system: Api, tenant: Api) -> None:
    blob = system.upload_bytes('views', b'abc')['blob_uuid']
    as_system = system.ok('GET', f'/blobs/{blob}')
    as_tenant = tenant.ok('GET', f'/blobs/{blob}')  # blobs have no owner
    assert as_system['locations'] and 'locations' not in as_tenant
    assert as_system['references_to']['artifact_index'][0]['target_uuid'] == blob
    assert blob in [b['uuid'] for b in system.ok('GET', '/blobs')]
    assert tenant.error('GET', '/blobs') == (401, 'unauthorized')
    assert system.error('GET', '/blobs/does-not-exist') == (404, 'blob not found')
    assert system.call('DELETE', f'/blobs/{blob}').status_code == 405  # no blob delete route


@pytest.mark.server_profile('latest')  # blob events, metadata 404
def test_blob_metadata_and_events(system: Api) -> None:
    blob = system.upload_bytes('blob-meta', b'xyz')['blob_uuid']
    assert system.ok('POST', f'/blobs/{blob}/metadata', {'key': 'a', 'value': 1}) is None
    assert system.ok('PUT', f'/blobs/{blob}/metadata/b', {'value': 'two'}) is None
    assert system.ok('GET', f'/blobs/{blob}/metadata') == {'a': 1, 'b': 'two'}
    assert system.ok('DELETE', f'/blobs/{blob}/metadata/a') is None
    assert system.ok('GET', f'/blobs/{blob}/metadata') == {'b': 'two'}
    assert system.error('POST', f'/blobs/{blob}/metadata', {'value': 1}) == (400, 'no key specified')
    events = system.ok('GET', f'/blobs/{blob}/events')
    assert events[-1]['message'] == 'blob created'


def test_reference_count_falls_to_zero_and_blob_is_deleted(system: Api) -> None:
    art = system.upload_bytes('refcount', os.urandom(64))
    blob = art['blob_uuid']
    label = system.ok('POST', f'/label/refcount-label-{blob[:8]}', {'blob_uuid': blob})
    assert system.ok('GET', f'/blobs/{blob}')['reference_count'] == 2
    system.ok('DELETE', f'/artifacts/{art["uuid"]}')
    assert system.ok('GET', f'/blobs/{blob}')['reference_count'] == 1
    system.ok('DELETE', f'/artifacts/{label["uuid"]}')
    view = system.ok('GET', f'/blobs/{blob}')
    assert view['reference_count'] == 0 and view['state'] == 'deleted'
    assert system.error('GET', f'/blobs/{blob}/data')[0] == 404
    assert system.ok('GET', f'/blob_checksums/sha512/{view["sha512"]}') is None


def test_uploads_expire(tmp_path: Path) -> None:
    with EmulatorProcess(tmp_path / 'd', extra_args=['--upload-max-age', '0.5', '--cleaner-interval', '0.1']) as sf:
        api = Api(sf.url, 'system', sf.system_key)
        upload = api.ok('POST', '/upload')['uuid']
        api.ok('POST', f'/upload/{upload}', data=b'abc', headers=OCTETS)
        time.sleep(1.5)
        assert api.error('POST', f'/upload/{upload}', data=b'x', headers=OCTETS) == (404, 'upload not found')
        assert not (tmp_path / 'd' / 'uploads' / upload).exists()


def test_upload_retry_after_dropped_chunk(emulator: EmulatorProcess) -> None:
    """A chunk cut by a dropped connection keeps what arrived; truncate then resend gives the right blob."""
    api = Api(emulator.url, 'system', emulator.system_key)
    upload = api.ok('POST', '/upload')['uuid']
    first, second = os.urandom(1 << 20), os.urandom(1 << 20)
    assert api.ok('POST', f'/upload/{upload}', data=first, headers=OCTETS) == len(first)
    emulator.add_fault(kind='drop', method='POST', path=f'^/upload/{upload}$', after_bytes=1000)
    try:
        api.call('POST', f'/upload/{upload}', data=second, headers=OCTETS)
        raise AssertionError('the connection should have been dropped')
    except Exception as exc:  # requests raises ConnectionError
        assert 'Connection' in type(exc).__name__ or 'connection' in str(exc).lower()
    api.session.close()
    api.ok('POST', f'/upload/{upload}/truncate/{len(first)}')
    assert api.ok('POST', f'/upload/{upload}', data=second, headers=OCTETS) == 2 << 20
    art = api.ok('POST', '/artifacts/upload/after-drop', {'upload_uuid': upload})
    assert api.ok('GET', f'/blobs/{art["blob_uuid"]}')['sha512'] == hashlib.sha512(first + second).hexdigest()


@pytest.mark.parametrize('profile', [pytest.param(p, marks=pytest.mark.server_profile(p)) for p in ('0.7.2', 'latest')])
def test_cut_fault_breaks_blob_data_off_midway(emulator: EmulatorProcess, profile: str) -> None:
    """A `cut` fault announces the whole body (0.7.2 streams it chunked, without a length), sends part of it and
    drops the connection; the next read is whole."""
    api = Api(emulator.url, 'system', emulator.system_key)
    data = os.urandom(300_000)
    blob = api.upload_bytes('cut', data)['blob_uuid']
    emulator.add_fault(kind='cut', method='GET', path=f'^/blobs/{blob}/data$', after_bytes=100_000)
    raw = api.call('GET', f'/blobs/{blob}/data', stream=True)
    framing = {'latest': ('Content-Length', str(len(data))), '0.7.2': ('Transfer-Encoding', 'chunked')}[profile]
    assert raw.status_code == 200 and raw.headers.get(framing[0]) == framing[1]
    received = b''
    with pytest.raises(requests.exceptions.RequestException):
        for block in raw.iter_content(1000):
            received += block
    # The client may drop the short block it was reading when the connection broke: a prefix arrived.
    assert 90_000 <= len(received) <= 100_000 and data.startswith(received)
    api.session.close()
    assert api.call('GET', f'/blobs/{blob}/data?offset=100000').content == data[100_000:]


def test_tenant_can_read_blob_it_cannot_list(system: Api) -> None:
    other = make_namespace(system)
    blob = other.upload_bytes('private', b'secret-bytes')['blob_uuid']
    assert system.call('GET', f'/blobs/{blob}/data').content == b'secret-bytes'


def test_appends_racing_a_convert_never_corrupt_the_blob(emulator: EmulatorProcess) -> None:
    """A convert and appends to the same upload, many times over: the blob's bytes always hash to the recorded
    sha512, every append the server acknowledged is in the blob, and every other one was refused as the server
    refuses appends to a converted upload (404 `upload not found`)."""
    system = Api(emulator.url, 'system', emulator.system_key)
    appenders, chunk = 3, 512 * 1024
    for attempt in range(25):
        upload = system.ok('POST', '/upload')['uuid']
        initial = os.urandom(4 << 20)
        system.ok('POST', f'/upload/{upload}', data=initial, headers=OCTETS)
        start = threading.Barrier(appenders + 1)
        outcomes: list[tuple[int, Any]] = []

        def append(n: int, upload: str = upload, start: threading.Barrier = start,
                   outcomes: list[tuple[int, Any]] = outcomes) -> None:
            api = Api(emulator.url, 'system', emulator.system_key)
            api.login()
            start.wait()
            for _ in range(8):
                answer = api.call('POST', f'/upload/{upload}', data=os.urandom(chunk), headers=OCTETS)
                outcomes.append((answer.status_code, answer.json()))
                if answer.status_code != 200:
                    return

        threads = [threading.Thread(target=append, args=(n,)) for n in range(appenders)]
        for thread in threads:
            thread.start()
        start.wait()
        time.sleep(0.002 * (attempt % 5))
        art = system.ok('POST', f'/artifacts/upload/race-{attempt}', {'upload_uuid': upload})
        for thread in threads:
            thread.join(timeout=60)
        blob = system.ok('GET', f'/blobs/{art["blob_uuid"]}')
        data = system.call('GET', f'/blobs/{art["blob_uuid"]}/data').content
        assert len(data) == blob['size'] and hashlib.sha512(data).hexdigest() == blob['sha512'], attempt
        assert data.startswith(initial)
        accepted = [body for status, body in outcomes if status == 200]
        refused = [(status, body) for status, body in outcomes if status != 200]
        assert blob['size'] == len(initial) + chunk * len(accepted), (attempt, outcomes)
        assert all(answer == (404, {'error': 'upload not found', 'status': 404}) for answer in refused), refused
    assert list((emulator.data_dir / 'uploads').iterdir()) == []  # no append re-created a converted upload


def test_an_upload_is_not_expired_while_an_append_is_writing(tmp_path: Path) -> None:
    """The cleaner removed an upload whose append was still writing (last_write is set when an append ends): the
    append answered a size of 0 and its bytes were gone. An upload in use is not abandoned."""
    with EmulatorProcess(tmp_path / 'd', extra_args=['--upload-max-age', '0.5', '--cleaner-interval', '0.1']) as sf:
        api = Api(sf.url, 'system', sf.system_key)
        upload = api.ok('POST', '/upload')['uuid']
        with socket.create_connection(('127.0.0.1', sf.port), timeout=30) as sock:
            sock.sendall(f'POST /upload/{upload} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {api.login()}\r\n'
                         'Transfer-Encoding: chunked\r\n\r\n'.encode())
            for _ in range(10):  # two seconds of a slow client, four times the upload's maximum age
                sock.sendall(b'3e8\r\n' + b'x' * 1000 + b'\r\n')
                time.sleep(0.2)
            sock.sendall(b'0\r\n\r\n')
            answer = http.client.HTTPResponse(sock)
            answer.begin()
            assert (answer.status, answer.read()) == (200, b'10000\n')
        art = api.ok('POST', '/artifacts/upload/slow-writer', {'upload_uuid': upload})
        assert api.call('GET', f'/blobs/{art["blob_uuid"]}/data').content == b'x' * 10000
