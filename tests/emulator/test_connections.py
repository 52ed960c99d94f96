"""Connections: a cap with a 503 beyond it, idle connections that hold no thread, keep-alive and pipelining."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import requests
from sfe_helpers import get_raw, process_status, wait_until_ok

from sf_emulator.testing import EmulatorProcess


def open_idle(sf: EmulatorProcess, count: int) -> list[socket.socket]:
    """`count` connections the server accepted and keeps open (a connection still closing, such as the start-up
    check's, may take a slot for a moment: one refused is replaced)."""
    idle: list[socket.socket] = []
    deadline = time.monotonic() + 10
    while len(idle) < count and time.monotonic() < deadline:
        idle.append(socket.create_connection(('127.0.0.1', sf.port)))
        time.sleep(0.3)
        for sock in list(idle):
            sock.setblocking(False)
            try:
                refused = sock.recv(1) is not None  # the 503, or the end of the stream
            except BlockingIOError:
                refused = False
            if refused:
                idle.remove(sock)
                sock.close()
    assert len(idle) == count
    return idle


def test_connections_over_the_cap_get_a_503(tmp_path: Path) -> None:
    with EmulatorProcess(tmp_path / 'data', extra_args=['--max-connections', '4']) as sf:
        idle = open_idle(sf, 4)
        status, headers, body = get_raw(sf)
        assert status == 503 and headers['Retry-After'] == '1' and headers['Connection'] == 'close'
        assert json.loads(body) == {'error': 'too many connections', 'status': 503}
        for sock in idle[:2]:
            sock.close()
        wait_until_ok(sf)
        # One keep-alive connection is one connection however many requests it carries.
        with requests.Session() as session:
            assert [session.get(sf.url + '/livez').status_code for _ in range(5)] == [200] * 5
        for sock in idle[2:]:
            sock.close()


def test_idle_connections_hold_no_thread(tmp_path: Path) -> None:
    """500 idle keep-alive connections: no thread each (http.server gave each its own), little memory, the
    server keeps answering, and closing them all does not stall it."""
    with EmulatorProcess(tmp_path / 'data') as sf:
        assert get_raw(sf)[0] == 200
        rss_before, threads_before = process_status(sf.pid or 0)
        idle = [socket.create_connection(('127.0.0.1', sf.port)) for _ in range(500)]
        time.sleep(0.5)
        rss, threads = process_status(sf.pid or 0)
        assert threads <= threads_before + 2, (threads_before, threads)
        assert rss - rss_before < 20, (rss_before, rss)
        assert get_raw(sf)[0] == 200
        for sock in idle:
            sock.close()
        assert wait_until_ok(sf) < 2


def test_keep_alive_and_pipelined_requests(emulator: EmulatorProcess) -> None:
    with socket.create_connection(('127.0.0.1', emulator.port), timeout=10) as sock:
        sock.sendall(b'GET /livez HTTP/1.1\r\nHost: x\r\n\r\nGET /readyz HTTP/1.1\r\nHost: x\r\n\r\n')
        received = b''
        while not received.endswith(b'ready'):
            received += sock.recv(4096)
        assert received.startswith(b'HTTP/1.1 200') and received.count(b'HTTP/1.1 200') == 2
        assert b'\r\n\r\nokHTTP/1.1 200' in received
        time.sleep(0.2)  # the connection is parked now; a later request on it still gets an answer
        sock.sendall(b'GET /livez HTTP/1.1\r\nHost: x\r\n\r\n')
        received = b''
        while not received.endswith(b'ok'):
            received += sock.recv(4096)
        assert received.startswith(b'HTTP/1.1 200')
