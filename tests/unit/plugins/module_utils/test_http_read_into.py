"""SfTransport.read_into, the download's zero-copy read: the same bytes and the same typed errors as blocks(), for
every shape of body a server sends (with a length, chunked, content-encoded, cut short, stalled)."""

from __future__ import annotations

import gzip
import os
import socket
import threading
import time
from typing import Callable

import pytest

from ansible_collections.shakenfist.storage.plugins.module_utils import _errors as errors
from ansible_collections.shakenfist.storage.plugins.module_utils._config import ConnectionSettings
from ansible_collections.shakenfist.storage.plugins.module_utils._http import SfTransport

BODY = os.urandom(300_000)


def chunked(body: bytes, size: int = 70_000) -> bytes:
    parts = [b'%x\r\n%s\r\n' % (len(body[i:i + size]), body[i:i + size]) for i in range(0, len(body), size)]
    return b''.join(parts) + b'0\r\n\r\n'


class RawServer:
    """Answers every request with the same raw bytes, then hangs up (or stalls first)."""

    def __init__(self, answer: bytes, stall: float = 0.0) -> None:
        self.answer, self.stall = answer, stall
        self.sock = socket.socket()
        self.sock.bind(('127.0.0.1', 0))
        self.sock.listen(4)
        self.url = f'http://127.0.0.1:{self.sock.getsockname()[1]}/blob'
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn = self.sock.accept()[0]
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            conn.recv(65536)
            conn.sendall(self.answer)
            time.sleep(self.stall)


def transport() -> SfTransport:
    settings = ConnectionSettings(api_url='https://sf.example.com/api', namespace='ci', key='k', retries=0,
                                  timeout=1)
    return SfTransport(settings, sleep=lambda _: None)


def by_blocks(client: SfTransport, url: str) -> bytes:
    with client.open_url(url) as answer:
        return b''.join(client.blocks(answer, 65_536, url=url))


def by_read_into(client: SfTransport, url: str, size: int = 65_536) -> bytes:
    buffer, got = memoryview(bytearray(size)), []
    with client.open_url(url) as answer:
        while True:
            count = client.read_into(answer, buffer, url=url)
            got.append(bytes(buffer[:count]))
            if count < size:
                return b''.join(got)


def failure(read: Callable[[SfTransport, str], bytes], url: str) -> errors.SfError:
    with pytest.raises(errors.SfError) as caught:
        read(transport(), url)
    return caught.value


HEAD = b'HTTP/1.1 200 OK\r\n'
ANSWERS = {
    'length': HEAD + b'Content-Length: %d\r\n\r\n' % len(BODY) + BODY,
    'chunked': HEAD + b'Transfer-Encoding: chunked\r\n\r\n' + chunked(BODY),
    'until-closed': HEAD + b'Connection: close\r\n\r\n' + BODY,
    'gzip': HEAD + b'Content-Encoding: gzip\r\nContent-Length: %d\r\n\r\n' % len(gzip.compress(BODY)) +
    gzip.compress(BODY),
}


@pytest.mark.parametrize('shape', sorted(ANSWERS))
@pytest.mark.parametrize('size', [65_536, 1_000_000])
def test_read_into_fills_the_buffer_with_the_body(shape: str, size: int) -> None:
    server = RawServer(ANSWERS[shape])
    try:
        assert by_read_into(transport(), server.url, size) == BODY == by_blocks(transport(), server.url)
    finally:
        server.sock.close()


BROKEN = {
    'length': HEAD + b'Content-Length: %d\r\n\r\n' % len(BODY) + BODY[:100_000],
    'chunked': HEAD + b'Transfer-Encoding: chunked\r\n\r\n' + chunked(BODY)[:100_000],
    'gzip': HEAD + b'Content-Encoding: gzip\r\nContent-Length: 999999\r\n\r\n' + gzip.compress(BODY)[:100_000],
}


@pytest.mark.parametrize('shape', sorted(BROKEN))
def test_a_body_cut_short_is_the_same_typed_error_as_from_blocks(shape: str) -> None:
    server = RawServer(BROKEN[shape])
    try:
        into, blocks = failure(by_read_into, server.url), failure(by_blocks, server.url)
    finally:
        server.sock.close()
    assert isinstance(into, errors.SfTransportError) and type(into) is type(blocks)
    assert into.message.startswith(f'the answer from {server.url} broke off mid-body: ')
    if shape == 'chunked':  # the same words; the byte counts are of the read in progress, whose sizes differ
        assert into.message.split('IncompleteRead(')[0] == blocks.message.split('IncompleteRead(')[0]
    else:
        assert into.message == blocks.message
    assert into.hint and 'api_url' not in into.hint and into.detail == {'url': server.url}


def test_a_stalled_body_is_the_same_typed_error_as_from_blocks() -> None:
    server = RawServer(HEAD + b'Content-Length: %d\r\n\r\n' % len(BODY) + BODY[:100_000], stall=5)
    try:
        into, blocks = failure(by_read_into, server.url), failure(by_blocks, server.url)
    finally:
        server.sock.close()
    assert type(into) is type(blocks) and into.message == blocks.message
    assert into.message.endswith('broke off mid-body: timed out')
