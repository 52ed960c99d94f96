"""A streamed answer's body read into reused buffers (_body.Body): the exact bytes whatever the server's chunk
framing, and a body that stops, stalls or arrives malformed is a typed error naming where it came from."""

from __future__ import annotations

import gzip
import os
import socket
import threading
import time
from typing import Callable, Iterator, List

import pytest

from ansible_collections.shakenfist.storage.plugins.module_utils._config import ConnectionSettings
from ansible_collections.shakenfist.storage.plugins.module_utils._errors import SfTimeout, SfTransportError
from ansible_collections.shakenfist.storage.plugins.module_utils._http import SfTransport

DATA = os.urandom(100_000)


def chunked(data: bytes, size: int) -> bytes:
    """`data` framed as HTTP chunks of `size` bytes, as gunicorn sends a 0.7.2 blob (size 8192)."""
    pieces = [data[start:start + size] for start in range(0, len(data), size)]
    return b''.join(b'%x\r\n%s\r\n' % (len(piece), piece) for piece in pieces)


class OneAnswerServer:
    """Answers every request on 127.0.0.1 with `head` then `body` (sent in `writes` pieces), then `after()`."""

    def __init__(self, head: bytes, body: bytes, after: Callable[[], None] = lambda: None, writes: int = 7) -> None:
        self.head, self.body, self.after, self.writes = head, body, after, writes
        self.sock = socket.socket()
        self.sock.bind(('127.0.0.1', 0))
        self.sock.listen(4)
        self.url = f'http://127.0.0.1:{self.sock.getsockname()[1]}/blobs/b-1/data'
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn = self.sock.accept()[0]
            except OSError:
                return
            with conn:
                conn.recv(65536)
                conn.sendall(self.head)
                step = max(1, len(self.body) // self.writes)
                for start in range(0, len(self.body), step):  # odd pieces: chunk lines split across reads
                    conn.sendall(self.body[start:start + step])
                self.after()

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def serve() -> Iterator[Callable[..., OneAnswerServer]]:
    servers: List[OneAnswerServer] = []

    def start(head: bytes, body: bytes, **kwargs: object) -> OneAnswerServer:
        servers.append(OneAnswerServer(head, body, **kwargs))  # type: ignore[arg-type]
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def transport(timeout: float = 5) -> SfTransport:
    settings = ConnectionSettings(api_url='https://sf.example.com/api', namespace='ci', key='k', retries=0,
                                  timeout=timeout)
    return SfTransport(settings, sleep=lambda _: None)


def read_all(server: OneAnswerServer, size: int, client: SfTransport = None) -> List[bytes]:
    client = client or transport()
    response = client.open_url(server.url)
    try:
        body, buffer, fills = client.body(response, server.url), memoryview(bytearray(size)), []
        while True:
            count = body.fill(buffer)
            fills.append(bytes(buffer[:count]))
            if count < size:
                return fills
    finally:
        response.close()


CHUNKED = b'HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nTransfer-Encoding: chunked\r\n\r\n'


@pytest.mark.parametrize('chunk', [8192, 1000, 100_000, 7])
def test_buffers_fill_completely_whatever_the_servers_chunk_size(
        serve: Callable[..., OneAnswerServer], chunk: int) -> None:
    server = serve(CHUNKED, chunked(DATA, chunk) + b'0\r\n\r\n')
    fills = read_all(server, 30_000)
    assert [len(fill) for fill in fills] == [30_000, 30_000, 30_000, 10_000]
    assert b''.join(fills) == DATA


def test_a_body_with_a_length_fills_the_same_way(serve: Callable[..., OneAnswerServer]) -> None:
    server = serve(b'HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n' % len(DATA), DATA)
    fills = read_all(server, 40_000)
    assert [len(fill) for fill in fills] == [40_000, 40_000, 20_000] and b''.join(fills) == DATA


def test_a_body_that_ends_on_a_buffers_edge_ends_with_an_empty_fill(serve: Callable[..., OneAnswerServer]) -> None:
    server = serve(CHUNKED, chunked(DATA, 8192) + b'0\r\n\r\n')
    assert [len(fill) for fill in read_all(server, 50_000)] == [50_000, 50_000, 0]


def test_a_gzip_coded_body_is_decoded(serve: Callable[..., OneAnswerServer]) -> None:
    packed = gzip.compress(DATA)
    server = serve(b'HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n' % len(packed), packed)
    assert b''.join(read_all(server, 30_000)) == DATA


def test_a_body_shorter_than_its_length_is_a_break_naming_the_source(serve: Callable[..., OneAnswerServer]) -> None:
    server = serve(b'HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n' % len(DATA), DATA[:50_000])
    with pytest.raises(SfTransportError) as caught:
        read_all(server, 30_000)
    assert server.url in caught.value.message and 'broke off mid-body' in caught.value.message
    assert '50000 of 100000' in caught.value.message
    assert caught.value.hint and 'api_url' not in caught.value.hint


@pytest.mark.parametrize('tail', [b'', b'2000\r\n' + DATA[:100]], ids=['between-chunks', 'inside-a-chunk'])
def test_a_chunked_body_cut_before_its_last_chunk_is_a_break(
        serve: Callable[..., OneAnswerServer], tail: bytes) -> None:
    server = serve(CHUNKED, chunked(DATA[:40_000], 8192) + tail)
    with pytest.raises(SfTransportError, match='broke off mid-body'):
        read_all(server, 30_000)


def test_malformed_chunk_framing_is_a_break(serve: Callable[..., OneAnswerServer]) -> None:
    server = serve(CHUNKED, chunked(DATA[:20_000], 8192) + b'zz\r\nnot a chunk\r\n')
    with pytest.raises(SfTransportError, match='broke off mid-body'):
        read_all(server, 30_000)


def test_a_body_that_stalls_is_a_timeout(serve: Callable[..., OneAnswerServer]) -> None:
    server = serve(CHUNKED, chunked(DATA[:20_000], 8192), after=lambda: time.sleep(3))
    with pytest.raises(SfTimeout, match='stopped for 0.5s mid-body'):
        read_all(server, 30_000, transport(timeout=0.5))


def test_blocks_are_the_body_in_pieces_of_the_size_asked(serve: Callable[..., OneAnswerServer]) -> None:
    server = serve(CHUNKED, chunked(DATA, 8192) + b'0\r\n\r\n')
    client = transport()
    with client.open_url(server.url) as response:
        blocks = list(client.blocks(response, 64 * 1024, url=server.url))
    assert [len(block) for block in blocks] == [65_536, 34_464] and b''.join(blocks) == DATA
