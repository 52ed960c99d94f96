"""A connection's input while a request is read: the head's byte budget and the deadline on a silent client.

A request thread reading from a client that stopped sending is a thread no one else gets: 64 sockets each sending
half a request head held all 64 request threads, for the 600 s a socket may stay silent. While a request's head and
body are read, each read now waits at most `request_read_timeout` seconds for the next bytes; a client that sends
nothing for that long is answered 408 and closed (handler.py). The deadline is on silence, not on the whole request:
an upload that keeps sending takes as long as it needs.
"""

from __future__ import annotations

from typing import Any

from sf_emulator.config import define

define('request_read_timeout', 5.0, float,
       'seconds a request head or body may go without a byte from the client before it is answered 408 and '
       'closed (0: as long as an idle connection, 600)')


class HeadTooLarge(Exception):
    """The request line and headers went over their byte budget."""


class ReadTimeout(Exception):
    """The client sent nothing for `request_read_timeout` seconds in the middle of a request. Not a TimeoutError,
    which http.server takes as a cue to close the connection without an answer."""


class RequestStream:
    """The connection's buffered input stream; while a request head is read it counts the bytes against a budget.
    A read that times out raises ReadTimeout."""

    def __init__(self, raw: Any) -> None:
        self._raw = raw
        self.head_left: int | None = None

    def readline(self, size: int = -1) -> bytes:
        if self.head_left is None:
            return self._read(self._raw.readline, size)
        limit = self.head_left + 1 if size is None or size < 0 else min(size, self.head_left + 1)
        line = self._read(self._raw.readline, limit)
        self.head_left -= len(line)
        if self.head_left < 0:
            raise HeadTooLarge()
        return line

    def readinto(self, buffer: Any) -> int | None:
        try:
            return self._raw.readinto(buffer)
        except TimeoutError:
            raise ReadTimeout() from None

    def read(self, size: int = -1) -> bytes:
        return self._read(self._raw.read, size)

    def peek(self, size: int = 0) -> bytes:
        return bytes(self._raw.peek(size))

    def close(self) -> None:
        self._raw.close()

    @staticmethod
    def _read(method: Any, size: int) -> bytes:
        try:
            return bytes(method(size))
        except TimeoutError:
            raise ReadTimeout() from None
