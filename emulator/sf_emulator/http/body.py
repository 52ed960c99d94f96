"""The request body as a stream: Content-Length or chunked framing, and the injected `drop` fault's cut-off."""

from __future__ import annotations

import re
from typing import Any

from sf_emulator.errors import ApiError

MAX_TRAILER_BYTES = 8 * 1024
_CHUNK_SIZE = re.compile(rb'[0-9A-Fa-f]{1,16}')


class DropConnection(Exception):
    """Injected fault: abandon the request without an answer."""


class MalformedRequest(ApiError):
    """A 400 for a request whose framing cannot be trusted (length, chunks): answered, then the connection closes,
    because where the next request starts is unknown."""

    def __init__(self, message: str) -> None:
        super().__init__(400, message)


class BodyReader:
    """The request body as a stream: Content-Length or chunked, with an optional injected drop point."""

    def __init__(self, rfile: Any, length: int | None, chunked: bool, drop_after: int | None) -> None:
        self._rfile = rfile
        self._remaining = length if length is not None else 0
        self._chunked = chunked
        self._chunk_left = 0
        self._chunked_done = not chunked
        self.length = length
        self.bytes_read = 0
        self._drop_after = drop_after

    @property
    def finished(self) -> bool:
        return self._chunked_done if self._chunked else self._remaining == 0

    def _limit(self, size: int) -> int:
        if self._drop_after is not None:
            if self.bytes_read >= self._drop_after:
                raise DropConnection()
            size = min(size, self._drop_after - self.bytes_read)
        return size

    def readinto(self, buffer: memoryview) -> int:
        """Fill part of `buffer`; 0 means the body is over. Raises ConnectionError if the client went away."""
        if self._chunked:
            return self._readinto_chunked(buffer)
        if self._remaining == 0:
            if self._drop_after is not None and self.bytes_read >= self._drop_after:
                raise DropConnection()
            return 0
        size = self._limit(min(len(buffer), self._remaining))
        got = self._rfile.readinto(buffer[:size])
        if not got:
            raise ConnectionError('client closed the connection before sending the whole body')
        self._remaining -= got
        self.bytes_read += got
        return got

    def _readinto_chunked(self, buffer: memoryview) -> int:
        if self._chunked_done:
            return 0
        if self._chunk_left == 0:
            line = self._rfile.readline(1024)
            if not line:
                raise ConnectionError('client closed the connection inside a chunked body')
            size = line.split(b';')[0].strip()
            if not line.endswith(b'\n') or not _CHUNK_SIZE.fullmatch(size):
                raise MalformedRequest('malformed chunked body: bad chunk size line')
            self._chunk_left = int(size, 16)
            if self._chunk_left == 0:
                self._read_trailers()
                self._chunked_done = True
                return 0
        size = self._limit(min(len(buffer), self._chunk_left))
        got = self._rfile.readinto(buffer[:size])
        if not got:
            raise ConnectionError('client closed the connection inside a chunk')
        self._chunk_left -= got
        self.bytes_read += got
        if self._chunk_left == 0:
            end = self._rfile.readline(3)
            if not end:
                raise ConnectionError('client closed the connection inside a chunked body')
            if end not in (b'\r\n', b'\n'):
                raise MalformedRequest('malformed chunked body: no line end after a chunk')
        return got

    def _read_trailers(self) -> None:
        budget = MAX_TRAILER_BYTES
        while True:
            line = self._rfile.readline(budget + 1)
            if not line:
                raise ConnectionError('client closed the connection inside a chunked body')
            budget -= len(line)
            if budget < 0 or not line.endswith(b'\n'):
                raise MalformedRequest('malformed chunked body: trailers too large')
            if line in (b'\r\n', b'\n'):
                return

    def read_all(self, limit: int) -> bytes:
        out = bytearray()
        buffer = bytearray(256 * 1024)
        view = memoryview(buffer)
        while True:
            got = self.readinto(view)
            if not got:
                return bytes(out)
            out += view[:got]
            if len(out) > limit:
                raise ApiError(413, 'request body too large')
