"""Slow clients: a request is read with a deadline on silence (408, then closed), health checks answer while every
request thread is busy, and an HTTP/0.9 request line is answered and closed at once.

Before: 64 sockets each sending half a request head (or 70 half-sent `POST /auth` bodies) held all 64 request
threads for the 600 s a socket may stay silent, and nobody else was answered, `/livez` included.
"""

from __future__ import annotations

import http.client
import json
import socket
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
from sfe_helpers import Api, process_status

from sf_emulator.http.health_lane import is_health_check
from sf_emulator.testing import EmulatorProcess

DEADLINE = 5.0  # the default request_read_timeout
REQUEST_THREADS = 64  # the default --request-threads
HALF_HEAD = b'GET /artifacts HTTP/1.1\r\nHost: x\r\n'  # no blank line: the head never ends
HALF_BODY = (b'POST /auth HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 60\r\n\r\n'
             b'{"namespace": "sys')
HEALTH_CHECKS = ('/livez', '/readyz', '/healthz')


@contextmanager
def slow_clients(sf: EmulatorProcess, count: int, sent: bytes) -> Iterator[list[socket.socket]]:
    """`count` connections that each sent `sent` and then go silent; closed on the way out."""
    with ExitStack() as stack:
        socks = []
        for _ in range(count):
            sock = stack.enter_context(socket.create_connection(('127.0.0.1', sf.port), timeout=30))
            sock.sendall(sent)
            socks.append(sock)
        yield socks


def wait_for_threads(pid: int, at_least: int, timeout: float = 20) -> None:
    """Until the process runs `at_least` threads: the slow clients have taken the request threads."""
    deadline = time.monotonic() + timeout
    while process_status(pid)[1] < at_least:
        assert time.monotonic() < deadline, f'the emulator never took the slow clients ({process_status(pid)[1]})'
        time.sleep(0.1)


def timed(sf: EmulatorProcess, method: str, path: str, token: str | None = None) -> tuple[int, bytes, float]:
    """One request from a fresh client: (status, body, seconds until the answer)."""
    connection = http.client.HTTPConnection('127.0.0.1', sf.port, timeout=60)
    started = time.monotonic()
    try:
        connection.request(method, path, headers={'Authorization': f'Bearer {token}'} if token else {})
        answer = connection.getresponse()
        return answer.status, answer.read(), time.monotonic() - started
    finally:
        connection.close()


def answer_of(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """The next answer on a connection: (status, headers, body)."""
    answer = http.client.HTTPResponse(sock)
    answer.begin()
    return answer.status, dict(answer.getheaders()), answer.read()


def last_answer_of(sock: socket.socket) -> tuple[int, dict[str, str], bytes, bytes]:
    """The answer after which the server closes the connection: (status, headers, body, anything after it)."""
    status, headers, body = answer_of(sock)
    rest = b''
    while chunk := sock.recv(4096):
        rest += chunk
    return status, headers, body, rest


@pytest.mark.parametrize(('count', 'sent'), [(64, HALF_HEAD), (70, HALF_HEAD), (70, HALF_BODY)],
                         ids=['64-half-heads', '70-half-heads', '70-half-bodies'])
def test_slow_clients_do_not_stall_everyone_else(tmp_path: Path, count: int, sent: bytes) -> None:
    with EmulatorProcess(tmp_path / 'data') as sf:
        token = Api(sf.url, 'system', sf.system_key).login()
        threads_before = process_status(sf.pid or 0)[1]
        with slow_clients(sf, count, sent) as socks:
            flooded = time.monotonic()
            wait_for_threads(sf.pid or 0, threads_before + REQUEST_THREADS - 2)  # at most 2 were started before
            health = {path: timed(sf, 'GET', path) for path in HEALTH_CHECKS}
            status, body, took = timed(sf, 'GET', '/artifacts', token)
            answered = time.monotonic() - flooded
            shown = ', '.join(f'{path} {code} in {seconds:.3f} s' for path, (code, _, seconds) in health.items())
            print(f'\n{count} slow clients: {shown}; /artifacts {status} in {took:.2f} s, {answered:.2f} s after the '
                  'flood began')
            for path, (code, _body, seconds) in health.items():
                assert code == 200 and seconds < 2, (path, code, seconds)
            assert (status, json.loads(body)) == (200, [])
            assert answered < 3 * DEADLINE
            # Every slow client was answered 408 and closed.
            for sock in socks:
                status, headers, body, rest = last_answer_of(sock)
                assert (status, headers['Connection'], headers['Content-Type'], rest) == \
                    (408, 'close', 'application/json', b'')
                assert json.loads(body) == {
                    'error': f'request timed out: the client sent nothing for {DEADLINE:g} seconds', 'status': 408}


def test_the_deadline_is_on_silence_not_on_the_whole_request(tmp_path: Path) -> None:
    """A body that trickles in over three times the deadline, a byte at a time, is read to the end."""
    with EmulatorProcess(tmp_path / 'data', extra_args=['--request-read-timeout', '1']) as sf:
        body = json.dumps({'namespace': 'system', 'key': sf.system_key}).encode()
        with socket.create_connection(('127.0.0.1', sf.port), timeout=30) as sock:
            sock.sendall(b'POST /auth HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n'
                         b'Content-Length: %d\r\n\r\n' % len(body))
            pause = 3.0 / len(body)
            for byte in body:
                time.sleep(pause)
                sock.sendall(bytes([byte]))
            status, _headers, answer = answer_of(sock)
        assert status == 200 and 'access_token' in json.loads(answer)


def test_the_deadline_is_a_setting(emulator: EmulatorProcess) -> None:
    assert emulator.set_config(request_read_timeout=1)['request_read_timeout'] == 1
    with slow_clients(emulator, 1, HALF_HEAD) as (sock,):
        started = time.monotonic()
        status, _headers, body, _rest = last_answer_of(sock)
        took = time.monotonic() - started
    assert (status, json.loads(body)['error']) == (408, 'request timed out: the client sent nothing for 1 seconds')
    assert 0.5 < took < DEADLINE, took


@pytest.mark.parametrize('line', [b'GET /\r\n', b'GET /livez\r\n', b'POST /auth\r\n'])
def test_an_http_0_9_request_is_answered_400_and_closed_at_once(emulator: EmulatorProcess, line: bytes) -> None:
    """No headers follow a request line without a version: 400 and close (gunicorn's answer), never a wait for
    headers (that would end in the 408 of the read deadline)."""
    with socket.create_connection(('127.0.0.1', emulator.port), timeout=30) as sock:
        sock.sendall(line)
        status, headers, body, rest = last_answer_of(sock)
    assert (status, headers['Connection'], rest) == (400, 'close', b'')
    assert f'Invalid HTTP request line: {line.decode().strip()!r}'.encode() in body


@pytest.mark.parametrize('line', [b'GET\r\n', b'GET / HTTP/x\r\n'])
def test_a_garbled_request_line_is_a_400_with_a_status_line(emulator: EmulatorProcess, line: bytes) -> None:
    """http.server answered these with a bare HTML page, without a status line, as if to an HTTP/0.9 client."""
    with socket.create_connection(('127.0.0.1', emulator.port), timeout=30) as sock:
        sock.sendall(line)
        status, headers, _body, rest = last_answer_of(sock)
    assert (status, headers['Connection'], rest) == (400, 'close', b'')


@pytest.mark.parametrize(('head', 'expected'), [
    (b'GET /livez HTTP/1.1\r\nHost: x\r\n\r\n', True),
    (b'HEAD /readyz?verbose=1 HTTP/1.0\r\n\r\n', True),
    (b'GET /healthz HTTP/1.1\nHost: x\n\nGET /artifacts HTTP/1.1\r\n', True),
    (b'GET /livez HTTP/1.1\r\nHost: x\r\n', False),  # the head has not fully arrived: it might never
    (b'GET /livez HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc', False),  # a body is read on the request threads
    (b'GET /livez HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n', False),
    (b'POST /livez HTTP/1.1\r\n\r\n', False),
    (b'GET /livez/x HTTP/1.1\r\n\r\n', False),
    (b'GET /artifacts HTTP/1.1\r\n\r\n', False),
    (b'GET /livez\r\n', False),
])
def test_what_counts_as_a_health_check(head: bytes, expected: bool) -> None:
    assert is_health_check(head, {'/livez', '/readyz', '/healthz'}) is expected
