"""The threaded HTTP/1.1 server: accepts connections (a cap, TLS) and hands them to handler.Handler."""

from __future__ import annotations

import contextlib
import errno
import socket
import ssl
import threading
import time
from http.server import HTTPServer
from typing import TYPE_CHECKING, Any

from sf_emulator.http.connections import Connection, Parker, Refusals, RequestThreads
from sf_emulator.http.handler import Handler
from sf_emulator.http.health_lane import HEALTH_THREADS

if TYPE_CHECKING:
    from sf_emulator.runtime import Runtime

# Open connections beyond this get a 503; requests are answered by at most this many threads (idle connections
# hold no thread). Both are `serve` flags.
DEFAULT_MAX_CONNECTIONS = 1024
DEFAULT_REQUEST_THREADS = 64


def tls_context(cert: str, key: str) -> ssl.SSLContext:
    """A server context for `--tls-cert`/`--tls-key`: TLS 1.2 or newer, the Python defaults otherwise."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    return context


class EmulatorHTTPServer(HTTPServer):
    """Accepts connections up to `max_connections` (503 beyond); idle ones wait in one selector thread and
    requests run on at most `request_threads` threads, health checks on threads of their own (see connections.py)."""

    allow_reuse_address = True
    request_queue_size = 1024

    def __init__(
        self,
        address: tuple[str, int],
        app: Runtime,
        *,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        request_threads: int = DEFAULT_REQUEST_THREADS,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.app = app
        self.tls = tls  # HTTPS: each accepted connection is wrapped; its handshake runs on a request thread
        self.scheme = 'https' if tls is not None else 'http'
        self.max_connections = max(1, max_connections)
        self._open = 0
        self._open_lock = threading.Lock()
        self.request_threads = RequestThreads(self, request_threads)
        self.health_threads = RequestThreads(self, HEALTH_THREADS, name='sf-http-health', one_request=True)
        self.parker = Parker(self, idle_timeout=Handler.timeout)
        self.refusals = Refusals(self)
        super().__init__(address, Handler)  # binds and listens; on failure it calls server_close()
        self.parker.start()

    def server_bind(self) -> None:
        self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for option in (socket.SO_RCVBUF, socket.SO_SNDBUF):
            with contextlib.suppress(OSError):
                self.socket.setsockopt(socket.SOL_SOCKET, option, 4 * 1024 * 1024)
        super().server_bind()

    @property
    def open_connections(self) -> int:
        return self._open

    def get_request(self) -> tuple[Any, Any]:
        try:
            return super().get_request()
        except OSError as exc:
            if exc.errno in (errno.EMFILE, errno.ENFILE):
                time.sleep(0.1)  # out of file descriptors: the listening socket stays readable, do not spin on it
            raise

    def process_request(self, request: Any, client_address: Any) -> None:
        """Called by the accept loop: count the connection and park it until it has a request to read."""
        with self._open_lock:
            accepted = self._open < self.max_connections
            if accepted:
                self._open += 1
        if self.tls is not None:
            try:
                request = self.tls.wrap_socket(request, server_side=True, do_handshake_on_connect=False)
            except (OSError, ValueError):
                self.shutdown_request(request)
                if accepted:
                    self.connection_closed()
                return
        if not accepted:
            self.refusals.refuse(request)
            return
        self.parker.park(Connection(self, request, client_address))

    def connection_closed(self) -> None:
        with self._open_lock:
            self._open -= 1

    def server_close(self) -> None:
        self.parker.stop()
        super().server_close()
