# Copyright: (c) 2026, Shaken Fist storage collection contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Transport: an HTTP/1.1 chunked body undone with large reads. No Ansible imports.

Shaken Fist 0.7.2 frames blob data as 8 KiB chunks: 131,072 per GiB. http.client reads each chunk's size line and
its data with separate calls (about 1 CPU second per GiB here); this reads up to STAGE bytes of the framed stream
at a time and copies the data out, so the framing costs one regular expression match per chunk (about 0.2 s per GiB
with the copies, from memory).
"""

from __future__ import annotations

import re
from typing import Any

STAGE = 1024 * 1024
MAX_LINE = 4096  # a chunk size line or a trailer longer than this is not HTTP we can trust
DIRECT = 64 * 1024  # data at least this large, with nothing staged, is read straight into the caller's buffer
# The end of one chunk and the size line of the next, in one match: the common case, at a fraction of the cost of the
# general path below (which still handles extensions, split reads and every error).
NEXT_CHUNK = re.compile(rb'\r\n([0-9a-fA-F]{1,15})\r\n')


class ChunkedReader:
    """`readinto(view)` puts the data bytes of a chunked body into `view` and returns how many (0: the body is
    complete). It reads `stream` (a buffered socket file with `readinto1`) ahead, so the connection must be closed
    after the body, never reused (Stream.close closes it). Malformed framing is a ValueError, a connection closed
    before the last chunk a ConnectionError; a socket timeout passes through."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self._stage = bytearray(STAGE)
        self._view = memoryview(self._stage)
        self._start = self._end = 0  # the framed bytes read but not yet used: _stage[_start:_end]
        self._left = 0  # data bytes still to come in the current chunk
        self._state = 'size'  # size, data, crlf, trailer, done
        self._drained = False

    def readinto(self, view: memoryview) -> int:
        filled, want = 0, len(view)
        while filled < want and self._state != 'done':
            if self._state == 'data':
                filled += self._data(view[filled:])
            elif self._state == 'crlf':
                found = NEXT_CHUNK.match(self._stage, self._start, self._end)
                if found:
                    self._left = int(found.group(1), 16)
                    self._start = found.end()
                    self._state = 'data' if self._left else 'trailer'
                elif self._need(2):
                    if self._stage[self._start:self._start + 2] != b'\r\n':
                        raise ValueError('no CRLF after a chunk')
                    self._start += 2
                    self._state = 'size'
            else:
                line = self._line()
                if line is None:
                    continue
                if self._state == 'size':
                    text = line.split(b';', 1)[0].strip()
                    if not text or any(c not in b'0123456789abcdefABCDEF' for c in text):
                        raise ValueError(f'bad chunk size line {line[:40]!r}')
                    self._left = int(text, 16)
                    self._state = 'data' if self._left else 'trailer'
                elif not line.strip():  # the empty line after the trailers ends the body
                    self._state = 'done'
        return filled

    def _data(self, view: memoryview) -> int:
        count = min(self._left, len(view))
        if self._start == self._end and count >= DIRECT:
            count = self._stream.readinto1(view[:count])
            if not count:
                raise ConnectionError('the connection closed inside a chunk')
        else:
            if not self._need(1):
                return 0
            count = min(count, self._end - self._start)
            view[:count] = self._view[self._start:self._start + count]
            self._start += count
        self._left -= count
        if not self._left:
            self._state = 'crlf'
        return count

    def _line(self) -> Any:
        """The next line without its line end, or None when more bytes were read and it should be looked for again."""
        end = self._stage.find(b'\n', self._start, self._end)
        if end < 0:
            if self._end - self._start > MAX_LINE:
                raise ValueError('a chunk size line or trailer is too long')
            self._more()
            return None
        line = bytes(self._stage[self._start:end]).rstrip(b'\r')
        self._start = end + 1
        return line

    def _need(self, count: int) -> bool:
        """Whether `count` framed bytes are staged; if not, reads more (the caller looks again)."""
        if self._end - self._start >= count:
            return True
        self._more()
        return self._end - self._start >= count

    def _more(self) -> None:
        if self._start == self._end:
            self._start = self._end = 0
        elif self._end == len(self._stage) or self._start > len(self._stage) // 2:
            kept = self._end - self._start
            self._stage[:kept] = self._stage[self._start:self._end]
            self._start, self._end = 0, kept
        room = self._view[self._end:]
        if not self._drained:
            # A buffered reader's readinto1 copies what it holds, then reads the socket once more when asked for more
            # than its buffer: with the whole answer already buffered (a small blob comes with the headers) that
            # read waits for bytes that never come. Take exactly what it holds first; from then on it holds nothing
            # and every read goes to the socket, which returns what has arrived.
            self._drained = True
            peek = getattr(self._stream, 'peek', None)
            if peek is not None:
                room = room[:max(1, len(peek(1)))]
        count = self._stream.readinto1(room)
        if not count:
            raise ConnectionError('the connection closed before the last chunk')
        self._end += count
