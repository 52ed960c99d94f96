"""One connection's requests: parse, inject faults, authenticate, dispatch to a route, answer, log."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import socket
import ssl
import sys
import time
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import parse_qsl, quote

from sf_emulator.errors import ApiError, bad_request
from sf_emulator.http.body import BodyReader, DropConnection, MalformedRequest
from sf_emulator.http.flask_answers import REDIRECT_SAFE, unrouted
from sf_emulator.http.parsing import decode_path, parse_json_body, split_target
from sf_emulator.http.request import Request
from sf_emulator.http.request_stream import HeadTooLarge, ReadTimeout, RequestStream
from sf_emulator.http.responses import FileResponse, RawResponse, Response
from sf_emulator.http.router import ROUTER, Resolution, Route

if TYPE_CHECKING:
    from sf_emulator.runtime import Runtime

log = logging.getLogger('sf_emulator.http')

TLS_HANDSHAKE_TIMEOUT = 30.0
MAX_JSON_BODY = 16 * 1024 * 1024
# The request line and headers together (gunicorn, in front of the real server, allows 100 fields of 8 KiB each
# and answers 400 beyond; one budget for the whole head is simpler and stops a never-ending header section).
MAX_HEAD_BYTES = 64 * 1024
_DIGITS = re.compile(r'[0-9]+')
# Bodies left unread up to this size are drained so the client reads our answer (e.g. a 401 before it re-authenticates
# and retries an upload chunk) instead of a connection reset; larger ones close the connection.
DRAIN_LIMIT = 64 * 1024 * 1024
# 0.7.2's blob data handler reads the file 8 KiB at a time and gunicorn sends each read as one HTTP chunk
# (tests/emulator/conformance pins it): clients see 131,072 chunks per GiB, as from the real server.
STREAMED_CHUNK = 8192
STREAMED_BATCH = 128 * STREAMED_CHUNK  # chunks framed in memory and sent with one write


class HandlerServer(Protocol):
    """What a handler needs of the server it answers for (`server.EmulatorHTTPServer`)."""

    app: Runtime
    scheme: str  # http or https, for redirects
    tls: ssl.SSLContext | None
    server_address: Any


class Handler(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    default_request_version = 'HTTP/1.1'  # so a 400 for a request line without a valid version has a status line
    server_version = 'sf-emulator'
    sys_version = ''
    timeout = 600  # seconds of silence between requests, or while an answer is written, before a connection closes
    server: HandlerServer  # type: ignore[assignment]  # narrower than BaseServer: always the server that made it

    # --- plumbing -----------------------------------------------------------------------------------------------
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - signature of the base class
        pass  # requests are logged once, by _log(), and only with --verbose

    @classmethod
    def for_connection(cls, sock: Any, address: Any, server: HandlerServer) -> Handler:
        """A handler that stays with its connection across requests and threads (BaseRequestHandler's constructor
        would serve the whole connection on the calling thread)."""
        if isinstance(sock, ssl.SSLSocket):
            # The handshake is read from the client too: a silent one gives its thread back as a request does.
            sock.settimeout(min(TLS_HANDSHAKE_TIMEOUT, cls.read_deadline(server)))
            sock.do_handshake()
        handler = cls.__new__(cls)
        handler.request, handler.client_address, handler.server = sock, address, server
        handler.setup()
        return handler

    def setup(self) -> None:
        super().setup()
        self.rfile = RequestStream(self.rfile)

    def input_pending(self) -> bool:
        """Whether bytes of a next request were already read (pipelining, TLS records): checked without blocking,
        so the connection is parked only when the selector will see its next request."""
        sock = self.connection
        if isinstance(sock, ssl.SSLSocket) and sock.pending():
            return True
        sock.setblocking(False)
        try:
            return bool(self.rfile.peek(1))  # type: ignore[attr-defined]
        except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
            return False
        except OSError:
            return True  # the next read meets the error and closes the connection
        finally:
            sock.settimeout(self.timeout)

    def handle_one_request(self) -> None:
        stream: RequestStream = self.rfile
        stream.head_left = MAX_HEAD_BYTES
        self.command, self.requestline, self.request_version = '', '', 'HTTP/1.1'  # none left from the last request
        self._reading()
        try:
            super().handle_one_request()
        except HeadTooLarge:
            self.send_error(400, 'Request header too large')
        except ReadTimeout:
            self._send_error(Request(self.server.app, self.command, '', {}, {}), *self._timed_out())
        except (ConnectionError, socket.timeout, DropConnection):
            self.close_connection = True

    @classmethod
    def read_deadline(cls, server: HandlerServer) -> float:
        """Seconds a read of a request waits for the client's next bytes (`request_read_timeout`; 0: `timeout`)."""
        return float(server.app.config['request_read_timeout'] or cls.timeout)

    def _reading(self) -> None:
        self.connection.settimeout(self.read_deadline(self.server))

    def _writing(self) -> None:
        """Answers go out with the connection's own timeout (a large download may take a while to be read)."""
        self.connection.settimeout(self.timeout)

    def _timed_out(self) -> tuple[int, dict[str, Any]]:
        """The 408 for a client that went silent in the middle of its request; the connection closes after it."""
        self.close_connection = True
        seconds = self.read_deadline(self.server)
        return 408, {'error': f'request timed out: the client sent nothing for {seconds:g} seconds', 'status': 408}

    def parse_request(self) -> bool:
        """An HTTP/0.9 request line (no version) has no headers after it, but http.server would wait for them until
        the client gave up. Answer 400 and close at once, as gunicorn (in front of the real server) does."""
        line = str(self.raw_requestline, 'iso-8859-1').rstrip('\r\n')
        if len(line.split()) != 2:
            return super().parse_request()
        self.requestline, self.close_connection = line, True
        self.send_error(400, f'Invalid HTTP request line: {line!r}')
        return False

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """The HTTP layer's own refusals (before any handler runs). gunicorn answers 400 for a request line or
        header section over its limits where http.server says 414 or 431: follow gunicorn."""
        if code in (414, 431):
            code = 400
        self._writing()
        super().send_error(code, message, explain)

    def __getattr__(self, name: str) -> Any:
        if name.startswith('do_'):
            return self._dispatch
        raise AttributeError(name)

    # --- one request --------------------------------------------------------------------------------------------
    def _dispatch(self) -> None:
        app = self.server.app
        started = time.monotonic()
        raw_path, raw_query = split_target(self.path)
        path = decode_path(raw_path)
        query = dict(parse_qsl(raw_query, keep_blank_values=True))
        req = Request(app, self.command, path, query, self.headers)
        self.rfile.head_left = None  # type: ignore[attr-defined]
        status, sent = 500, 0
        try:
            length, chunked = self._framing()
            resolution = ROUTER.resolve(self.command, path, emulator_routes=app.admin_routes,
                                        served=app.profile.serves)
            route = resolution.route
            faults = [] if route is not None and route.emulator_only else app.faults.take(self.command, path)
            drop_after = next((f.after_bytes for f in faults if f.kind == 'drop'), None)
            req.body = BodyReader(self.rfile, length, chunked, drop_after)
            for fault in faults:
                if fault.kind == 'latency':
                    time.sleep(fault.seconds)
                if fault.kind == 'cut':
                    req.cut = (fault.after_bytes, fault.seconds)
            if drop_after is not None:
                req.body.read_all(1 << 62)  # reads up to the drop point, then raises DropConnection
                raise DropConnection()  # the body ended before the drop point: drop at its end
            if route is None:
                result: Any = self._unrouted(resolution, raw_query)
            else:
                for fault in faults:
                    if fault.kind in ('fail', 'not_ready'):
                        raise ApiError(fault.status, fault.message)
                after = next((f for f in faults if f.kind == 'fail_after'), None)
                try:
                    result = self._run(app, route, resolution.params, req)
                except ApiError as exc:
                    if after is None or isinstance(exc, MalformedRequest):
                        raise
                if after is not None:  # handled, and what it changed stays changed, but answered with an error
                    raise ApiError(after.status, after.message)
            status, sent = self._answer(req, result)
        except DropConnection:
            status = 0
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
        except ApiError as exc:
            if isinstance(exc, MalformedRequest):
                self.close_connection = True
            if exc.status == 302:
                status, sent = self._send_error(req, 302, exc.body(), {'Location': '/'})
            else:
                status, sent = self._send_error(req, exc.status, exc.body())
        except ReadTimeout:
            status, sent = self._send_error(req, *self._timed_out())
        except (ConnectionError, socket.timeout):
            status = 0
            self.close_connection = True
        except Exception as exc:  # the server's own shape for unhandled errors
            log.exception('unhandled error on %s %s', self.command, path)
            status, sent = self._send_error(req, 500, {'error': f'server error: {exc!r}', 'status': 500})
        finally:
            self._finish_body(req)
            duration = time.monotonic() - started
            self._log(req, status, duration, sent)

    def _framing(self) -> tuple[int | None, bool]:
        """(Content-Length, chunked) of the body. Anything ambiguous is a 400 that closes the connection: a
        negative or non-numeric length would otherwise be read until the client gives up."""
        lengths = {value.strip() for value in self.headers.get_all('Content-Length') or []}
        codings = self.headers.get_all('Transfer-Encoding') or []
        if codings:
            if [c.strip().lower() for c in ','.join(codings).split(',')] != ['chunked']:
                raise MalformedRequest('unsupported Transfer-Encoding: only chunked is understood')
            if lengths:
                raise MalformedRequest('a request cannot have both Content-Length and Transfer-Encoding')
            return None, True
        if not lengths:
            return 0, False
        value = lengths.pop()
        if lengths or not _DIGITS.fullmatch(value):
            raise MalformedRequest('invalid Content-Length')
        return int(value), False

    def _unrouted(self, resolution: Resolution, raw_query: str) -> RawResponse | Response:
        location = None
        if resolution.redirect is not None:
            location = f'{self.server.scheme}://{self._host()}{quote(resolution.redirect, safe=REDIRECT_SAFE)}'
            location += f'?{raw_query}' if raw_query else ''
        return unrouted(resolution, self.command, location)

    def _host(self) -> str:
        """The host part of a redirect, as Werkzeug builds it: the Host header, without the scheme's default port."""
        host = self.headers.get('Host')
        if not host:
            address, port = self.server.server_address[:2]
            name = address.decode() if isinstance(address, bytes) else address
            host = f'{name}:{port}'
        return str(host).removesuffix(':443' if self.server.tls is not None else ':80')

    def _run(self, app: Runtime, route: Route, params: dict[str, Any], req: Request) -> Any:
        if route.emulator_only or not route.public:
            app.authenticate(req)
            if (route.admin or route.emulator_only) and not req.is_admin:
                raise ApiError(401, 'unauthorized')
        kwargs = dict(params)
        if route.emulator_only or app.profile.reads_query_arguments:
            for key, value in req.query.items():
                if key in route.accepts and key not in params:
                    kwargs[key] = value
        if not route.raw_body:
            assert req.body is not None
            if (req.body.length or 0) > MAX_JSON_BODY:
                raise ApiError(413, 'request body too large')  # before reading any of it
            raw = req.body.read_all(MAX_JSON_BODY)
            kwargs.update(self._arguments(app, route, parse_json_body(raw)))
        return route.handler(req, **kwargs)

    @staticmethod
    def _arguments(app: Runtime, route: Route, body: dict[str, Any]) -> dict[str, Any]:
        """The body keys the handler gets. A key the server's handler does not take is a 400 naming that handler,
        as Python's TypeError reads; under a profile that declares the route, a key that release takes and the
        emulator's handler does not is ignored."""
        endpoint = None if route.emulator_only else app.profile.endpoint(route.key)
        name = route.handler.__name__ if endpoint is None else endpoint.name
        taken = None if endpoint is None else endpoint.arguments
        for key in body:
            if key not in taken if taken is not None else route.unexpected_keys([key]):
                raise bad_request(f"{name}() got an unexpected keyword argument '{key}'")
        return {k: v for k, v in body.items() if not route.unexpected_keys([k])}

    # --- answers ------------------------------------------------------------------------------------------------
    def _answer(self, req: Request, result: Any) -> tuple[int, int]:
        if isinstance(result, Response):
            return self._send_json(req, result.status, result.body, result.headers)
        if isinstance(result, RawResponse):
            return self._send_bytes(req, result.status, result.data, result.content_type, result.headers)
        if isinstance(result, FileResponse):
            return self._send_file(req, result)
        return self._send_json(req, 200, result)

    def _headers(self, req: Request, status: int, content_type: str, length: int | None,
                 extra: dict[str, str]) -> None:
        """`length` None: the body goes out chunked."""
        self._writing()
        self.send_response(status)
        self.send_header('Content-Type', content_type)
        if length is None:
            self.send_header('Transfer-Encoding', 'chunked')
        else:
            self.send_header('Content-Length', str(length))
        self.send_header('X-Request-ID', req.request_id)
        for name, value in extra.items():
            self.send_header(name, value)
        if req.body is not None and not req.body.finished and self._unread(req) > DRAIN_LIMIT:
            self.close_connection = True
        if self.close_connection:
            self.send_header('Connection', 'close')
        self.end_headers()

    def _send_json(
        self, req: Request, status: int, value: Any, extra: dict[str, str] | None = None
    ) -> tuple[int, int]:
        data = json.dumps(value, separators=(', ', ': ')).encode('utf-8') + b'\n'
        return self._send_bytes(req, status, data, 'application/json', extra or {})

    def _send_error(
        self, req: Request, status: int, value: Any, extra: dict[str, str] | None = None
    ) -> tuple[int, int]:
        # The server's error helper sends bare json.dumps(); only flask-restful's answers end with a newline.
        data = json.dumps(value, separators=(', ', ': ')).encode('utf-8')
        return self._send_bytes(req, status, data, 'application/json', extra or {})

    def _send_bytes(
        self, req: Request, status: int, data: bytes, content_type: str, extra: dict[str, str] | None = None
    ) -> tuple[int, int]:
        self._headers(req, status, content_type, len(data), extra or {})
        if self.command != 'HEAD':
            self.wfile.write(data)
        return status, len(data)

    def _send_file(self, req: Request, response: FileResponse) -> tuple[int, int]:
        if response.chunked:
            return self._send_chunked(req, response)
        with open(response.path, 'rb') as handle:
            self._headers(req, 200, response.content_type, response.length, {})
            if self.command == 'HEAD' or response.length == 0:
                return 200, 0
            self.wfile.flush()
            if req.cut is not None:
                return self._send_cut(handle, response, *req.cut)
            sent = self.connection.sendfile(handle, response.offset, response.length)
        if sent != response.length:
            self.close_connection = True
        return 200, sent

    def _send_chunked(self, req: Request, response: FileResponse) -> tuple[int, int]:
        """The file in chunks of STREAMED_CHUNK bytes (the last one shorter), then the empty last chunk. A `cut`
        fault sends `after_bytes` of the data, waits and drops the connection before the last chunk."""
        with open(response.path, 'rb') as handle:
            self._headers(req, 200, response.content_type, None, {})
            if self.command == 'HEAD':
                return 200, 0
            limit = response.length if req.cut is None else min(req.cut[0], response.length)
            sent = 0
            while sent < limit:
                data = os.pread(handle.fileno(), min(STREAMED_BATCH, limit - sent), response.offset + sent)
                if not data:  # the file shrank under us
                    self.close_connection = True
                    return 200, sent
                self.wfile.write(_framed(data))
                sent += len(data)
            if req.cut is not None:
                time.sleep(req.cut[1])
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)
                return 200, sent
            self.wfile.write(b'0\r\n\r\n')
        return 200, sent

    def _send_cut(self, handle: Any, response: FileResponse, send: int, wait: float) -> tuple[int, int]:
        """Injected fault: part of a file's body, a pause, then the connection dropped."""
        sent = self.connection.sendfile(handle, response.offset, min(send, response.length)) if send else 0
        time.sleep(wait)
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)
        return 200, sent

    def _unread(self, req: Request) -> int:
        body = req.body
        if body is None or body.finished:
            return 0
        if body.length is None:
            return DRAIN_LIMIT + 1  # unread chunked body: cannot tell, close instead
        return body.length - body.bytes_read

    def _finish_body(self, req: Request) -> None:
        """Keep the connection usable: drain a small unread body, otherwise close the connection."""
        body = req.body
        if body is None or body.finished or self.close_connection:
            return
        if self._unread(req) > DRAIN_LIMIT:
            self.close_connection = True
            return
        try:
            body._drop_after = None
            self._reading()
            body.read_all(DRAIN_LIMIT + 1)
        except Exception:
            self.close_connection = True

    def _log(self, req: Request, status: int, duration: float, sent: int) -> None:
        received = req.body.bytes_read if req.body is not None else 0
        entry = {
            'time': time.time(),
            'method': req.method,
            'path': req.path,
            'query': req.query,
            'status': status,
            'duration': round(duration, 6),
            'bytes_in': received,
            'bytes_out': sent,
            'namespace': req.namespace,
            'request_id': req.request_id,
            'user_agent': req.headers.get('User-Agent'),
        }
        if not req.path.startswith('/_emulator/'):
            self.server.app.request_log.add(entry)
        if self.server.app.verbose:
            print(
                f'{req.method} {self.path} {status} {duration * 1000:.1f}ms in={received} out={sent}',
                file=sys.stderr,
                flush=True,
            )


def _framed(data: bytes) -> bytes:
    """`data` as HTTP chunks of STREAMED_CHUNK bytes."""
    view = memoryview(data)
    parts: list[bytes | memoryview] = []
    for start in range(0, len(view), STREAMED_CHUNK):
        piece = view[start:start + STREAMED_CHUNK]
        parts += (b'%x\r\n' % len(piece), piece, b'\r\n')
    return b''.join(parts)
