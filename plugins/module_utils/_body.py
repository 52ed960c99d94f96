# Copyright: (c) 2026, Shaken Fist storage collection contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Transport: the body of a streamed answer, read straight into the caller's buffers. No Ansible imports.

Shaken Fist 0.7.2 sends blob data in chunks of 8 KiB (its handler reads the file 8 KiB at a time and gunicorn
frames each read as one HTTP chunk): 131,072 chunks per GiB. Iterating over them (requests' iter_content yields
one block per chunk) costs a Python round per chunk and a block allocation each. Here the bytes go from the socket
into a buffer the caller reuses, the chunk framing undone with large reads (_chunked.py), so a block costs about
the same whatever size the server frames its answer in.
"""

from __future__ import annotations

import http.client
import socket
from typing import Any, Callable, Dict, Iterator, Optional

from ._chunked import ChunkedReader
from ._errors import SfError, SfTimeout, SfTransportError

try:
    import requests

    HAS_REQUESTS = True
except ImportError:  # pragma: no cover - the transport reports the missing library
    HAS_REQUESTS = False


class Body:
    """A streamed `requests` answer's body. `fill(view)` reads until `view` is full or the body ends; a connection
    lost, silent or closed early mid-body is a typed error naming `source`, never a library exception."""

    def __init__(self, response: Any, source: str, timeout: float, hint: Optional[str] = None,
                 detail: Optional[Dict[str, Any]] = None, reason: Callable[[str], str] = str) -> None:
        self._response = response
        self._source, self._timeout, self._hint, self._detail, self._reason = source, timeout, hint, detail, reason
        self._received = 0
        self._ended = False
        encoding = response.headers.get('Content-Encoding', '').strip().lower()
        inner = getattr(getattr(response, 'raw', None), '_fp', None)
        # A plain body is read from the socket: chunks undone by ChunkedReader, a body with a length by http.client
        # (one large read each). A coded body (gzip from a web server) or a response that is not an http.client one
        # (tests, adapters) goes through requests' own decoding, one copy per block.
        plain = inner if encoding in ('', 'identity') and isinstance(inner, http.client.HTTPResponse) else None
        self._direct = plain is not None
        self._readinto: Callable[[memoryview], int] = self._from_blocks
        if plain is not None:
            stream = getattr(plain, 'fp', None)
            if plain.chunked and hasattr(stream, 'readinto1'):
                self._readinto = ChunkedReader(stream).readinto
            else:
                self._readinto = plain.readinto
        length = response.headers.get('Content-Length', '')
        self._expected = int(length) if self._direct and length.isdigit() else None
        self._blocks: Optional[Iterator[bytes]] = None
        self._left = memoryview(b'')

    def fill(self, view: memoryview) -> int:
        """The number of bytes read into the start of `view`: less than its length only at the end of the body."""
        filled = 0
        try:
            while filled < len(view) and not self._ended:
                count = self._readinto(view[filled:])
                if not count:
                    self._ended = True
                    self._check_complete()
                filled += count
                self._received += count
        except SfError:
            raise
        except Exception as exc:
            raise self._typed(exc) from None
        return filled

    def blocks(self, size: int) -> Iterator[bytes]:
        """The body in blocks of `size` bytes (the last one shorter), each its own bytes object."""
        buffer = memoryview(bytearray(size))
        while True:
            count = self.fill(buffer)
            if count:
                yield bytes(buffer[:count])
            if count < size:
                return

    def _from_blocks(self, view: memoryview) -> int:
        while not self._left:
            if self._blocks is None:
                self._blocks = self._response.iter_content(chunk_size=max(len(view), 64 * 1024))
            block = next(self._blocks, None)
            if block is None:
                return 0
            self._left = memoryview(block)
        count = min(len(view), len(self._left))
        view[:count] = self._left[:count]
        self._left = self._left[count:]
        return count

    def _typed(self, exc: Exception) -> Exception:
        # requests' errors are OSErrors, and its iter_content reports a read timeout as a ConnectionError.
        timeout = isinstance(exc, (socket.timeout, TimeoutError)) or HAS_REQUESTS and (
            isinstance(exc, requests.exceptions.Timeout)
            or isinstance(exc, requests.exceptions.ConnectionError) and 'timed out' in str(exc).lower())
        if timeout:
            return self._timed_out()
        if isinstance(exc, (OSError, http.client.HTTPException, ValueError)):
            return self._broke_off(str(exc) or type(exc).__name__)
        return exc

    def _check_complete(self) -> None:
        # http.client reports a body shorter than its Content-Length as a plain end (urllib3 would raise).
        if self._expected is not None and self._received < self._expected:
            raise self._broke_off(f'the connection closed after {self._received} of {self._expected} bytes')

    def _timed_out(self) -> SfTimeout:
        return SfTimeout(f'the answer from {self._source} stopped for {self._timeout}s mid-body', hint=self._hint,
                         detail=self._detail)

    def _broke_off(self, reason: str) -> SfTransportError:
        return SfTransportError(f'the answer from {self._source} broke off mid-body: {self._reason(reason)}',
                                hint=self._hint, detail=self._detail)
