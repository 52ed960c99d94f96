"""Hostile or broken requests get a prompt 4xx, never a 500, a hang or a silently dropped connection."""

from __future__ import annotations

import hashlib
import http.client
import json
import socket
from typing import Any

import pytest
from sfe_helpers import Api

from sf_emulator.testing import EmulatorProcess

TIMEOUT = 10


def exchange(sf: EmulatorProcess, head: bytes, body: bytes = b'') -> tuple[int, Any, bool]:
    """Send raw bytes; return (status, parsed body, whether the server then closed the connection)."""
    with socket.create_connection(('127.0.0.1', sf.port), timeout=TIMEOUT) as sock:
        sock.sendall(head + body)
        answer = http.client.HTTPResponse(sock)
        answer.begin()
        data = answer.read()
        sock.settimeout(1)
        try:
            closed = sock.recv(1) == b''
        except ConnectionResetError:
            closed = True
        except TimeoutError:
            closed = False
        try:
            parsed = json.loads(data)
        except ValueError:
            parsed = data.decode(errors='replace')
        return answer.status, parsed, closed


def post(path: str, headers: dict[str, str], token: str | None = None) -> bytes:
    lines = [f'POST {path} HTTP/1.1', 'Host: x']
    if token:
        lines.append(f'Authorization: Bearer {token}')
    lines += [f'{name}: {value}' for name, value in headers.items()]
    return ('\r\n'.join(lines) + '\r\n\r\n').encode()


def test_deeply_nested_json_is_a_400(private_system: Api) -> None:
    for body in (b'[' * 200_000, b'{"a": ' * 200_000, b'[' * 2000 + b']' * 2000, json.dumps(nest(100)).encode()):
        answer = private_system.call('POST', '/auth', data=body, headers={'Content-Type': 'application/json'})
        assert answer.status_code == 400, (answer.status_code, answer.text[:200])
        assert answer.json()['status'] == 400
    art = private_system.upload_bytes('deep-metadata', b'x')
    path = f'/artifacts/{art["uuid"]}/metadata'
    assert private_system.error('POST', path, {'key': 'k', 'value': nest(80)})[0] == 400
    private_system.ok('POST', path, {'key': 'k', 'value': nest(20)})  # reasonable nesting still works
    assert private_system.ok('GET', path) == {'k': nest(20)}


@pytest.mark.parametrize(('body', 'says'), [
    (b'{"max_versions": 1' + b'0' * 30 + b'}', 'an integer beyond 64 bits'),
    (b'{"max_versions": 9223372036854775808}', 'an integer beyond 64 bits'),
    (b'{"max_versions": 1e400}', 'too large for a float'),
    (b'{"max_versions": NaN}', 'too large for a float'),
    (b'{"key": "k", "value": "\\ud800"}', 'not valid Unicode'),
    (b'{"\\udfff": "v"}', 'not valid Unicode'),
])
def test_values_that_cannot_be_stored_are_a_400_not_a_500(private_system: Api, body: bytes, says: str) -> None:
    """A lone surrogate and numbers past 64 bits used to reach SQLite and int() and come back as 500s."""
    art = private_system.upload_bytes(f'bounds-{hashlib.sha256(body).hexdigest()[:8]}', b'x')
    for path in (f'/artifacts/{art["uuid"]}/versions', f'/artifacts/{art["uuid"]}/metadata'):
        answer = private_system.call('POST', path, data=body, headers={'Content-Type': 'application/json'})
        assert answer.status_code == 400 and says in answer.json()['error'], (path, answer.text[:300])
    assert private_system.ok('GET', f'/artifacts/{art["uuid"]}')['max_versions'] == 3  # nothing changed


def nest(depth: int) -> Any:
    value: Any = 'leaf'
    for _ in range(depth):
        value = {'a': value}
    return value


def test_bad_content_length_is_a_400_at_once(emulator: EmulatorProcess) -> None:
    """No body is sent: a server that trusted these lengths would wait for one until the client gives up."""
    for length in ('-1', '-5000', 'abc', '+5', '5 5', '0x10', '1e3', ''):
        status, body, closed = exchange(emulator, post('/auth', {'Content-Length': length}))
        assert (status, body['error'], closed) == (400, 'invalid Content-Length', True), length
    two = b'POST /auth HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n'
    assert exchange(emulator, two)[:2] == (400, {'error': 'invalid Content-Length', 'status': 400})
    both = post('/auth', {'Content-Length': '5', 'Transfer-Encoding': 'chunked'})
    assert exchange(emulator, both, b'0\r\n\r\n')[0] == 400
    assert exchange(emulator, post('/auth', {'Transfer-Encoding': 'gzip, chunked'}))[0] == 400


def test_oversized_json_body_is_a_413_before_it_is_read(emulator: EmulatorProcess) -> None:
    status, body, _ = exchange(emulator, post('/auth', {'Content-Length': str(64 * 1024 * 1024)}))
    assert (status, body) == (413, {'error': 'request body too large', 'status': 413})


BROKEN_CHUNKS = {
    'not hex': b'zz\r\n{}\r\n0\r\n\r\n',
    'negative': b'-2\r\n{}\r\n0\r\n\r\n',
    'no line end after a chunk': b'2\r\n{}XX0\r\n\r\n',
    'endless size line': b'2;' + b'x' * 2000 + b'\r\n{}\r\n0\r\n\r\n',
    'endless trailers': b'0\r\n' + b'X-Trailer: y\r\n' * 1000 + b'\r\n',
}


@pytest.mark.parametrize('chunks', BROKEN_CHUNKS.values(), ids=BROKEN_CHUNKS.keys())
def test_malformed_chunked_body_is_a_400(emulator: EmulatorProcess, chunks: bytes) -> None:
    status, body, closed = exchange(emulator, post('/auth', {'Transfer-Encoding': 'chunked'}), chunks)
    assert status == 400 and body['error'].startswith('malformed chunked body') and closed


def test_malformed_chunked_upload_is_a_400(emulator: EmulatorProcess) -> None:
    api = Api(emulator.url, 'system', emulator.system_key)
    upload = api.ok('POST', '/upload')['uuid']
    head = post(f'/upload/{upload}', {'Transfer-Encoding': 'chunked'}, api.login())
    status, body, closed = exchange(emulator, head, b'4\r\nabcd\r\nqq\r\n')
    assert status == 400 and body['error'].startswith('malformed chunked body') and closed
    # Bytes of the broken request may or may not have been kept; the running hash matches the file either way.
    kept = api.ok('POST', f'/upload/{upload}', data=b'ef', headers={'Content-Type': 'text/plain'})
    assert kept in (2, 6)
    status, body, _ = exchange(emulator, head, b'2\r\ngh\r\n0\r\n\r\n')
    assert (status, body) == (200, kept + 2)
    blob = api.ok('POST', '/artifacts/upload/after-bad-chunk', {'upload_uuid': upload})['blob_uuid']
    data = api.call('GET', f'/blobs/{blob}/data').content
    assert data.endswith(b'efgh') and hashlib.sha512(data).hexdigest() == api.ok('GET', f'/blobs/{blob}')['sha512']


def test_chunked_json_still_works(emulator: EmulatorProcess) -> None:
    payload = json.dumps({'namespace': 'system', 'key': emulator.system_key}).encode()
    chunks = b'%x\r\n%s\r\n0\r\nX-Trailer: ok\r\n\r\n' % (len(payload), payload)
    status, body, _ = exchange(emulator, post('/auth', {'Transfer-Encoding': 'chunked'}), chunks)
    assert status == 200 and body['access_token']


def test_oversized_request_head_is_a_400(emulator: EmulatorProcess) -> None:
    long_line = b'GET /livez?' + b'a' * 70_000 + b' HTTP/1.1\r\nHost: x\r\n\r\n'
    big_header = b'GET /livez HTTP/1.1\r\nHost: x\r\nX-Big: ' + b'b' * 70_000 + b'\r\n\r\n'
    many_headers = b'GET /livez HTTP/1.1\r\nHost: x\r\n' + b''.join(b'X-%d: 1\r\n' % n for n in range(150)) + b'\r\n'
    sum_over = b'GET /livez HTTP/1.1\r\nHost: x\r\n' + b''.join(b'X-%d: %s\r\n' % (n, b'c' * 1000)
                                                             for n in range(90)) + b'\r\n'
    for head in (long_line, big_header, many_headers, sum_over):
        status, _, closed = exchange(emulator, head)
        assert status == 400 and closed, head[:40]
    assert exchange(emulator, b'GET /livez HTTP/1.1\r\nHost: x\r\n\r\n')[:2] == (200, 'ok')
