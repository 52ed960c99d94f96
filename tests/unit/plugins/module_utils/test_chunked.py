"""HTTP/1.1 chunked bodies undone with large reads (_chunked.ChunkedReader): the exact data whatever the chunk
sizes and however the framed bytes arrive, and malformed or cut framing refused."""

from __future__ import annotations

import io
import os
from typing import List

import pytest

from ansible_collections.shakenfist.storage.plugins.module_utils._chunked import ChunkedReader

DATA = os.urandom(200_000)


class Trickle:
    """A socket file whose every readinto1 returns at most `most` bytes, as a slow network does."""

    def __init__(self, data: bytes, most: int) -> None:
        self.data, self.most, self.position = data, most, 0

    def readinto1(self, view: memoryview) -> int:
        count = min(len(view), self.most, len(self.data) - self.position)
        view[:count] = self.data[self.position:self.position + count]
        self.position += count
        return count


def chunked(data: bytes, size: int, extension: bytes = b'') -> bytes:
    pieces = [data[start:start + size] for start in range(0, len(data), size)]
    return b''.join(b'%x%s\r\n%s\r\n' % (len(piece), extension, piece) for piece in pieces) + b'0\r\n\r\n'


def read_all(reader: ChunkedReader, size: int) -> List[bytes]:
    buffer, out = memoryview(bytearray(size)), list[bytes]()
    while True:
        count = reader.readinto(buffer)
        if not count:
            return out
        out.append(bytes(buffer[:count]))


@pytest.mark.parametrize('chunk', [1, 7, 8192, 65_536, 100_000, 300_000])
@pytest.mark.parametrize('most', [1, 3, 8195, 1 << 20])
def test_the_data_comes_out_exactly_however_it_is_framed_and_arrives(chunk: int, most: int) -> None:
    data = DATA if most > 3 and chunk > 1 else DATA[:20_000]  # byte by byte: a smaller body keeps it quick
    stream = Trickle(chunked(data, chunk), most)
    assert b''.join(read_all(ChunkedReader(stream), 50_000)) == data
    assert stream.position == len(stream.data)


def test_extensions_trailers_and_either_case_of_hex_are_understood() -> None:
    framed = b'A;name=value\r\n0123456789\r\n1f \r\n' + DATA[:31] + b'\r\n0\r\nX-Checksum: abc\r\nX-More: d\r\n\r\n'
    assert b''.join(read_all(ChunkedReader(Trickle(framed, 5)), 8)) == b'0123456789' + DATA[:31]


def test_an_empty_body_is_just_the_last_chunk() -> None:
    assert read_all(ChunkedReader(Trickle(b'0\r\n\r\n', 100)), 10) == []


def test_buffers_are_filled_completely_until_the_end() -> None:
    reader = ChunkedReader(io.BytesIO(chunked(DATA, 8192)))
    assert [len(part) for part in read_all(reader, 64_000)] == [64_000, 64_000, 64_000, 8_000]


@pytest.mark.parametrize('framed', [
    b'zz\r\nabc\r\n0\r\n\r\n',  # not hex
    b'0x3\r\nabc\r\n0\r\n\r\n',  # int() would take the prefix
    b'-3\r\nabc\r\n0\r\n\r\n',
    b'\r\nabc\r\n0\r\n\r\n',  # no size
    b'3\r\nabcX\r\n0\r\n\r\n',  # no CRLF after the data
    b'1' * 5000,  # a size line that never ends
    b'3\r\nabc\r\nzz\r\nabc\r\n0\r\n\r\n',  # the same, after a good chunk (another path reads it)
    b'3\r\nabc\r\n0x3\r\nabc\r\n0\r\n\r\n',
    b'3\r\nabc\r\n-3\r\nabc\r\n0\r\n\r\n',
    b'3\r\nabc\r\n\r\nabc\r\n0\r\n\r\n',
    b'3\r\nabc\n3\r\nabc\r\n0\r\n\r\n',  # a bare LF after the data
])
def test_malformed_framing_is_refused(framed: bytes) -> None:
    with pytest.raises(ValueError):
        read_all(ChunkedReader(Trickle(framed, 1 << 20)), 100)


@pytest.mark.parametrize('cut', [0, 2, 5, 5000, 8197, 8200])
def test_a_connection_closed_before_the_last_chunk_is_an_error(cut: int) -> None:
    framed = chunked(DATA[:16_384], 8192)
    with pytest.raises(ConnectionError):
        read_all(ChunkedReader(Trickle(framed[:cut], 4096)), 100_000)


def test_a_small_answer_already_buffered_with_its_headers_is_read_without_waiting_for_more() -> None:
    # The server keeps the connection open after the last chunk. http.client read the headers through a buffered
    # reader, which then holds the whole body: asking it for a large read would wait for bytes that never come.
    import socket

    ours, theirs = socket.socketpair()
    try:
        theirs.sendall(b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n' + chunked(DATA[:28], 8192))
        ours.settimeout(5)
        stream = ours.makefile('rb')
        while stream.readline() not in (b'\r\n', b''):
            pass
        assert b''.join(read_all(ChunkedReader(stream), 256 * 1024)) == DATA[:28]
    finally:
        ours.close()
        theirs.close()
