"""An upload's bytes, from a request body into its file, with the sha512 computed as they arrive: `Hasher` hashes
written buffers on a thread of its own, so an append answers as soon as its last byte is written (see uploads.py)."""

from __future__ import annotations

import hashlib
import threading
from collections import deque
from pathlib import Path
from typing import Any, Protocol

from sf_emulator.prealloc import reserve

READ_SIZE = 4 * 1024 * 1024
# Bodies this small (with a Content-Length) are hashed on the request thread when the hasher has nothing queued:
# no thread for the many tiny uploads of a test suite.
PIPELINE_MIN = 16 * 1024 * 1024
HASH_BUFFERS = 3  # READ_SIZE buffers per upload at most: one being filled, the rest written and waiting to be hashed
HASHER_IDLE = 1.0  # seconds a hasher thread waits for more bytes (the next chunk request) before it ends


class Body(Protocol):
    """A request body as a stream (`http.body.BodyReader`); `length` is None for a chunked one."""

    length: int | None

    def readinto(self, buffer: memoryview) -> int: ...


class Hasher:
    """The sha512 of an upload's first `size` bytes, fed in order across requests by a thread of its own."""

    def __init__(self) -> None:
        self.digest = hashlib.sha512()
        self.size = 0  # bytes handed over: written to the file, hashed or queued to be
        self._cond = threading.Condition()
        self._queue: deque[tuple[bytearray, int]] = deque()
        self._free: list[bytearray] = []
        self._buffers = 0
        self._thread: threading.Thread | None = None
        self._closed = False

    @property
    def idle(self) -> bool:
        with self._cond:
            return not self._queue

    def buffer(self, size: int = READ_SIZE) -> bytearray:
        """A buffer to fill; waits while HASH_BUFFERS are in use (the hash is that far behind)."""
        with self._cond:
            while not self._free and self._buffers >= HASH_BUFFERS:
                self._cond.wait()
            if self._free:
                return self._free.pop()
            self._buffers += 1
        return bytearray(size)

    def give_back(self, buffer: bytearray) -> None:
        """A buffer that was not submitted (the body ended, or failed)."""
        with self._cond:
            self._free.append(buffer)
            self._cond.notify_all()

    def submit(self, buffer: bytearray, length: int) -> None:
        """Hash `buffer[:length]` after everything submitted before; the buffer comes back when it is done."""
        with self._cond:
            self._queue.append((buffer, length))
            self.size += length
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name='sf-upload-hash', daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def update(self, data: memoryview) -> None:
        """Hash on the calling thread; only when `idle` (nothing queued), so the order holds."""
        self.digest.update(data)
        self.size += len(data)

    def drain(self) -> None:
        """Wait until everything submitted is hashed."""
        with self._cond:
            while self._queue:
                self._cond.wait()

    def close(self) -> None:
        """No more bytes will come: the thread ends as soon as its queue is empty."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue:
                    if self._closed or (not self._cond.wait(timeout=HASHER_IDLE) and not self._queue):
                        self._thread = None
                        self._buffers -= len(self._free)
                        self._free.clear()  # idle uploads keep no buffers
                        return
                buffer, length = self._queue[0]
            self.digest.update(memoryview(buffer)[:length])  # hashlib lets go of the GIL: reads go on meanwhile
            with self._cond:
                self._queue.popleft()
                self._free.append(buffer)
                self._cond.notify_all()


def _fill(body: Body, view: memoryview) -> int:
    """Read until `view` is full or the body ends: fewer, larger writes and hash updates."""
    filled = 0
    while filled < len(view):
        got = body.readinto(view[filled:])
        if not got:
            break
        filled += got
    return filled


def _write_all(handle: Any, view: memoryview) -> None:
    while view:
        view = view[handle.write(view):]


def _copy(body: Body, handle: Any, hasher: Hasher) -> None:
    """Socket to file; each written buffer goes to the hasher, and the request does not wait for it."""
    if body.length is not None and body.length < PIPELINE_MIN and hasher.idle:
        view = memoryview(bytearray(min(READ_SIZE, max(body.length, 1))))
        while got := _fill(body, view):
            _write_all(handle, view[:got])
            hasher.update(view[:got])
        return
    while True:
        buffer = hasher.buffer()
        try:
            view = memoryview(buffer)
            got = _fill(body, view)
            if got:
                _write_all(handle, view[:got])
        except BaseException:
            hasher.give_back(buffer)
            raise
        if not got:
            hasher.give_back(buffer)
            return
        hasher.submit(buffer, got)


def append_body(path: Path, body: Body, hasher: Hasher) -> None:
    """Append the whole body to the file at `path`, its blocks reserved ahead, each buffer handed to `hasher`."""
    with open(path, 'ab', buffering=0) as handle:
        if body.length:
            reserve(handle.fileno(), body.length)
        _copy(body, handle, hasher)
