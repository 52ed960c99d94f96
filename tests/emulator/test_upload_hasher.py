"""The per-upload hasher (sf_emulator.uploads.Hasher), in process: an append does not wait for the hash to catch
up, memory stays at HASH_BUFFERS buffers, the order of bytes is kept across requests, and idle threads end."""

from __future__ import annotations

import hashlib
import io
import os
import threading
import time
from typing import Any

import pytest

from sf_emulator.models import upload_stream as uploads
from sf_emulator.models.upload_stream import HASH_BUFFERS, READ_SIZE, Hasher


class SlowDigest:
    """A sha512 whose every update takes `delay` seconds: a hash far behind the network."""

    def __init__(self, delay: float) -> None:
        self.real = hashlib.sha512()
        self.delay = delay
        self.updates = 0

    def update(self, data: Any) -> None:
        time.sleep(self.delay)
        self.real.update(data)
        self.updates += 1

    def hexdigest(self) -> str:
        return self.real.hexdigest()


class Body:
    """A request body as uploads.append reads it (length None: chunked, so it goes through the hasher)."""

    def __init__(self, data: bytes, length: int | None = None) -> None:
        self._stream = io.BytesIO(data)
        self.length = length

    def readinto(self, view: memoryview) -> int:
        return self._stream.readinto(view)


def slow_hasher(delay: float) -> tuple[Hasher, SlowDigest]:
    hasher = Hasher()
    digest = SlowDigest(delay)
    hasher.digest = digest
    return hasher, digest


def test_an_append_answers_before_its_bytes_are_hashed() -> None:
    hasher, digest = slow_hasher(0.3)
    data = os.urandom(2 * READ_SIZE)  # two buffers: fewer than HASH_BUFFERS, so nothing to wait for
    started = time.monotonic()
    uploads._copy(Body(data), io.BytesIO(), hasher)
    copied = time.monotonic() - started
    assert copied < 0.3, copied  # before: the request joined its hash thread, 0.6 s here
    assert hasher.size == len(data) and not hasher.idle
    hasher.drain()
    assert time.monotonic() - started >= 0.55
    assert digest.hexdigest() == hashlib.sha512(data).hexdigest()


def test_memory_stays_bounded_and_order_holds_across_requests() -> None:
    hasher, digest = slow_hasher(0.02)
    allocated = []
    real_buffer = Hasher.buffer

    def counting(self: Hasher, size: int = READ_SIZE) -> bytearray:
        buffer = real_buffer(self, size)
        allocated.append(id(buffer))
        assert self._buffers <= HASH_BUFFERS
        return buffer

    parts = [os.urandom(n) for n in (5 * READ_SIZE + 17, 3 * READ_SIZE, 1, 2 * READ_SIZE + 5)]
    out = io.BytesIO()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Hasher, 'buffer', counting)
        for part in parts:  # one request after the other, the hash behind all along
            uploads._copy(Body(part), out, hasher)
    hasher.drain()
    whole = b''.join(parts)
    assert out.getvalue() == whole and hasher.size == len(whole)
    assert digest.hexdigest() == hashlib.sha512(whole).hexdigest()
    assert len(set(allocated)) <= HASH_BUFFERS  # the same few buffers, reused


def test_small_bodies_are_hashed_inline_without_a_thread() -> None:
    hasher = Hasher()
    before = threading.active_count()
    for _ in range(50):
        uploads._copy(Body(b'tiny', length=4), io.BytesIO(), hasher)
    assert threading.active_count() == before and hasher.idle
    assert hasher.digest.hexdigest() == hashlib.sha512(b'tiny' * 50).hexdigest()


def test_an_idle_hasher_thread_ends_and_frees_its_buffers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(uploads, 'HASHER_IDLE', 0.1)
    hasher = Hasher()
    uploads._copy(Body(os.urandom(READ_SIZE + 1)), io.BytesIO(), hasher)
    hasher.drain()
    deadline = time.monotonic() + 5
    while hasher._thread is not None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert hasher._thread is None and hasher._buffers == 0
    uploads._copy(Body(b'more'), io.BytesIO(), hasher)  # a later request starts a new one
    hasher.drain()
    hasher.close()
    assert hasher.size == READ_SIZE + 5
