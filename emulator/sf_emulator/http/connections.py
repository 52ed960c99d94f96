"""Client connections: a cap, one selector thread for idle ones, a bounded pool of threads for requests.

http.server's threading server gives every connection a thread for its whole life, idle or not, without a limit:
4,000 idle keep-alive connections took 4,000 threads (about 100 MB) and closing them stalled the server for
seconds. Here a connection holds a thread only while a request is being read or answered:

- accepted connections, and connections between requests, wait in one selector thread (`Parker`);
- when one becomes readable it goes to the request pool (`RequestThreads`, at most `size` threads, started as
  needed), which answers requests while input is at hand and then parks the connection again; a request is read
  with a deadline on silence (request_stream.py), so a slow client holds its thread for seconds, not minutes;
- a connection whose next request is a whole health check goes to a pool of its own instead, which answers that
  one request (health_lane.py): health checks answer while every request thread waits on a slow client;
- beyond `max_connections` open connections a new one is answered 503 (`too many connections`, `Retry-After: 1`)
  by one of a few refusal threads, or closed at once when those are busy too;
- a connection idle for `idle_timeout` seconds is closed.

The handler object (and so its buffered input) stays with the connection across requests and threads; see
`Handler.for_connection` and `Handler.input_pending` in handler.py.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import selectors
import socket
import ssl
import threading
import time
from typing import Any, Literal, Protocol

from sf_emulator.http.health_lane import health_check_waiting

log = logging.getLogger('sf_emulator.http')

REFUSERS = 8  # threads that may answer 503 at the same time; beyond, refused connections are just closed
REFUSE_TIMEOUT = 2.0
BUSY_BODY = json.dumps({'error': 'too many connections', 'status': 503}).encode()
BUSY_ANSWER = (
    b'HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n'
    b'Content-Length: %d\r\nRetry-After: 1\r\nConnection: close\r\n\r\n%s' % (len(BUSY_BODY), BUSY_BODY)
)


class ConnectionServer(Protocol):
    """What connections need of the server that accepted them (`server.EmulatorHTTPServer`)."""

    RequestHandlerClass: Any  # its `for_connection` makes the handler that stays with a connection
    request_threads: RequestThreads
    health_threads: RequestThreads
    parker: Parker

    def shutdown_request(self, request: Any) -> None: ...

    def connection_closed(self) -> None: ...


Outcome = Literal['park', 'closed', 'more']


class Connection:
    """One client connection, from accept to close."""

    def __init__(self, server: ConnectionServer, sock: socket.socket, address: Any) -> None:
        self.server = server
        self.sock = sock
        self.address = address
        self.handler: Any = None  # created by the first request thread that serves it (TLS handshake included)
        self.idle_since = time.monotonic()
        self._closed = False

    def serve(self, one_request: bool = False) -> Outcome:
        """Answer requests while input is at hand: then 'park' (wait for the next one) or 'closed'. With
        `one_request`, 'more' after one request when the next is already at hand."""
        try:
            if self.handler is None:
                self.handler = self.server.RequestHandlerClass.for_connection(self.sock, self.address, self.server)
            handler = self.handler
            while True:
                handler.close_connection = True  # as BaseHTTPRequestHandler.handle() does before each request
                handler.handle_one_request()
                if handler.close_connection:
                    break
                if not handler.input_pending():
                    return 'park'
                if one_request:
                    return 'more'
        except OSError:
            pass  # a failed TLS handshake, a reset: nothing to answer
        except Exception:
            log.exception('unexpected error on a connection from %s', self.address)
        self.close()
        return 'closed'

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self.handler is not None:
            with contextlib.suppress(Exception):
                self.handler.finish()
        self.server.shutdown_request(self.sock)
        self.server.connection_closed()


class Parker(threading.Thread):
    """Idle connections wait here, in one selector, until they have something to read."""

    def __init__(self, server: ConnectionServer, idle_timeout: float) -> None:
        super().__init__(name='sf-http-parker', daemon=True)
        self.server = server
        self.idle_timeout = idle_timeout
        self._selector = selectors.DefaultSelector()
        self._wake_read, self._wake_write = socket.socketpair()
        self._wake_read.setblocking(False)
        self._wake_write.setblocking(False)
        self._selector.register(self._wake_read, selectors.EVENT_READ, None)
        self._incoming: queue.SimpleQueue[Connection] = queue.SimpleQueue()
        self._parked: dict[Connection, None] = {}
        self._stopping = False

    def park(self, connection: Connection) -> None:
        """Any thread: hand a connection over until its next request arrives."""
        connection.idle_since = time.monotonic()
        self._incoming.put(connection)
        self._wake()

    def _wake(self) -> None:
        with contextlib.suppress(OSError):  # full: the selector wakes up anyway
            self._wake_write.send(b'\0')

    def stop(self) -> None:
        self._stopping = True
        if self.is_alive():
            self._wake()
            self.join(timeout=5)
        else:
            self._close_all()

    def run(self) -> None:
        last_sweep = time.monotonic()
        while not self._stopping:
            for key, _events in self._selector.select(timeout=1.0):
                if key.data is None:
                    with contextlib.suppress(OSError):
                        while self._wake_read.recv(4096):
                            pass
                    continue
                connection: Connection = key.data
                self._selector.unregister(connection.sock)
                self._parked.pop(connection, None)
                health = health_check_waiting(connection.sock)
                (self.server.health_threads if health else self.server.request_threads).submit(connection)
            self._take_incoming()
            now = time.monotonic()
            if now - last_sweep >= 1.0:
                last_sweep = now
                self._close_idle(now)
        self._close_all()

    def _close_all(self) -> None:
        for connection in list(self._parked):
            self._drop(connection)
        self._selector.close()
        self._wake_read.close()
        self._wake_write.close()

    def _take_incoming(self) -> None:
        while True:
            try:
                connection = self._incoming.get_nowait()
            except queue.Empty:
                return
            try:
                self._selector.register(connection.sock, selectors.EVENT_READ, connection)
            except (OSError, ValueError):
                connection.close()  # closed meanwhile
                continue
            self._parked[connection] = None

    def _close_idle(self, now: float) -> None:
        for connection in [c for c in self._parked if now - c.idle_since > self.idle_timeout]:
            self._drop(connection)

    def _drop(self, connection: Connection) -> None:
        with contextlib.suppress(KeyError, ValueError, OSError):
            self._selector.unregister(connection.sock)
        self._parked.pop(connection, None)
        connection.close()


class RequestThreads:
    """At most `size` daemon threads answer requests; they start as work needs them and then stay. With
    `one_request` (health checks), a thread answers one request of a connection and passes any next one at hand to
    the request threads."""

    def __init__(self, server: ConnectionServer, size: int, name: str = 'sf-http', one_request: bool = False) -> None:
        self.server = server
        self.size = max(1, size)
        self.name = name
        self.one_request = one_request
        self._queue: queue.SimpleQueue[Connection] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads = 0
        self._idle = 0
        self._waiting = 0

    def submit(self, connection: Connection) -> None:
        with self._lock:
            self._waiting += 1
            start = self._waiting > self._idle and self._threads < self.size
            if start:
                self._threads += 1
        self._queue.put(connection)
        if start:
            threading.Thread(target=self._run, name=f'{self.name}-{self._threads}', daemon=True).start()

    @property
    def started(self) -> int:
        return self._threads

    def _run(self) -> None:
        while True:
            with self._lock:
                self._idle += 1
            connection = self._queue.get()
            with self._lock:
                self._idle -= 1
                self._waiting -= 1
            outcome = connection.serve(self.one_request)
            if outcome == 'park':
                self.server.parker.park(connection)
            elif outcome == 'more':
                self.server.request_threads.submit(connection)


class Refusals:
    """Answers 503 to connections over the cap, from a few threads, so the accept loop never waits on a client."""

    def __init__(self, server: ConnectionServer) -> None:
        self.server = server
        self._slots = threading.BoundedSemaphore(REFUSERS)

    def refuse(self, sock: socket.socket) -> None:
        if not self._slots.acquire(blocking=False):
            self.server.shutdown_request(sock)
            return
        threading.Thread(target=self._answer, args=(sock,), name='sf-http-refuse', daemon=True).start()

    def _answer(self, sock: socket.socket) -> None:
        try:
            sock.settimeout(REFUSE_TIMEOUT)
            if isinstance(sock, ssl.SSLSocket):
                sock.do_handshake()
            sock.sendall(BUSY_ANSWER)
            # Read what the client sent before closing: closing with unread input resets the connection, and the
            # client could lose the answer.
            sock.shutdown(socket.SHUT_WR)
            deadline = time.monotonic() + REFUSE_TIMEOUT
            while time.monotonic() < deadline and sock.recv(65536):
                pass
        except OSError:
            pass
        finally:
            self.server.shutdown_request(sock)
            self._slots.release()
