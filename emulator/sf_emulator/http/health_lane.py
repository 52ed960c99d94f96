"""Health checks are answered while every request thread is busy.

Clients that send slowly can take every request thread (each for up to `request_read_timeout` seconds, then 408),
and a health check queued behind them would wait as long. A connection whose next request is a health check (a
route with `health_check=True`: `GET /livez`, `/readyz`, `/healthz`) goes to threads of its own instead. The
selector thread recognises it without reading: it peeks at the socket, and only a whole head (request line and
headers, no body) counts, so a health-check thread never waits on a client. Over TLS the bytes cannot be seen
before the handshake, and health checks share the request threads.
"""

from __future__ import annotations

import re
import socket
import ssl
from collections.abc import Collection

from sf_emulator.http.router import ROUTER

HEALTH_THREADS = 2  # a health check takes a millisecond; the second thread covers one stuck on a slow reader
PEEK_BYTES = 4096  # a probe's head is a few hundred bytes; one that has not fully arrived goes the usual way
_REQUEST_LINE = re.compile(rb'(?:GET|HEAD) (/[^ ?#]*)(?:\?[^ ]*)? HTTP/1\.[01]\r?\n')
_END_OF_HEAD = re.compile(rb'\r?\n\r?\n')
_BODY_HEADER = re.compile(rb'\n(?:content-length|transfer-encoding)[ \t]*:', re.IGNORECASE)


def health_check_waiting(sock: socket.socket) -> bool:
    """Whether the next request on a readable connection is a health check that has fully arrived."""
    if isinstance(sock, ssl.SSLSocket):
        return False
    try:
        head = sock.recv(PEEK_BYTES, socket.MSG_PEEK | socket.MSG_DONTWAIT)
    except OSError:
        return False
    return is_health_check(head, ROUTER.health_paths)


def is_health_check(head: bytes, paths: Collection[str]) -> bool:
    """`head`: the first bytes of a request. True for a whole head of a GET or HEAD of one of `paths`, without a
    body."""
    line = _REQUEST_LINE.match(head)
    if line is None or line.group(1).decode('latin-1') not in paths:
        return False
    end = _END_OF_HEAD.search(head, line.end() - 2)
    return end is not None and _BODY_HEADER.search(head, 0, end.start() + 1) is None
