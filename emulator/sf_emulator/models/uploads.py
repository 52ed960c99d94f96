"""`/upload...`: streamed uploads with a running sha512, truncate, and expiry.

Bytes go straight from the socket to DATA/uploads/<uuid> in large reads while the sha512 is updated with the same
buffers, so converting a finished upload into a blob needs no second pass. Each upload has one `Hasher`: a thread
that lives across requests and hashes the buffers in order, so an append answers as soon as its last byte is
written and never waits for the hash to catch up (only for a free buffer, when the hash is a few buffers behind:
memory stays at `HASH_BUFFERS` buffers per upload). The convert waits for it to finish. The running hash lives in
memory; after a restart, a truncate or a failed write it is rebuilt from the file when next needed.

One lock per upload serialises appends, truncates and the convert. The convert holds it from hashing until the
file is the blob's and the upload row is gone, and marks the upload closed: an append that was waiting for the
lock then finds no upload (404 `upload not found`, as after any conversion) instead of writing into the blob.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from sf_emulator.db import Tx, register_schema
from sf_emulator.errors import bad_request, not_found
from sf_emulator.faults.crashpoints import reached
from sf_emulator.http.router import route
from sf_emulator.jobs.queue import register_periodic, register_startup
from sf_emulator.models.blobs import blob_path, create_blob, remove_unreferenced
from sf_emulator.prealloc import reserve

if TYPE_CHECKING:
    from collections.abc import Callable

    from sf_emulator.http.body import BodyReader
    from sf_emulator.http.request import Request
    from sf_emulator.runtime import Runtime

T = TypeVar('T')

register_schema(
    'uploads',
    '''
    CREATE TABLE IF NOT EXISTS uploads (
        uuid TEXT PRIMARY KEY,
        created_at REAL NOT NULL,
        last_write REAL NOT NULL,
        size INTEGER NOT NULL DEFAULT 0
    );
    ''',
)

READ_SIZE = 4 * 1024 * 1024
# Bodies this small (with a Content-Length) are hashed on the request thread when the hasher has nothing queued:
# no thread for the many tiny uploads of a test suite.
PIPELINE_MIN = 16 * 1024 * 1024
HASH_BUFFERS = 3  # READ_SIZE buffers per upload at most: one being filled, the rest written and waiting to be hashed
HASHER_IDLE = 1.0  # seconds a hasher thread waits for more bytes (the next chunk request) before it ends


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


@dataclass
class Running:
    """An upload's hasher (None: rebuild it from the file); the lock serialises appends, truncates and the
    convert of one upload. `closed`: converted (or expired) while someone waited for the lock."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    hasher: Hasher | None = None
    closed: bool = False


class UploadState:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: dict[str, Running] = {}

    def get(self, upload_uuid: str) -> Running:
        with self._lock:
            return self._running.setdefault(upload_uuid, Running())

    def forget(self, upload_uuid: str) -> None:
        with self._lock:
            self._running.pop(upload_uuid, None)


def state(app: Runtime) -> UploadState:
    return app.module_state('uploads', UploadState)


def upload_path(app: Runtime, upload_uuid: str) -> Path:
    return app.upload_dir / upload_uuid


def _file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _hasher(running: Running, path: Path) -> Hasher:
    """The upload's hasher, agreeing with the file as it is: rebuilt from the file after a restart, a truncate or
    a failed write. Comparing sizes needs no wait: `size` counts bytes handed over, hashed or not."""
    size = _file_size(path)
    if running.hasher is not None and running.hasher.size == size:
        return running.hasher
    if running.hasher is not None:
        running.hasher.close()
    hasher = Hasher()
    if size:
        with open(path, 'rb') as handle:
            while chunk := handle.read(READ_SIZE):
                hasher.update(memoryview(chunk))
    running.hasher = hasher
    return hasher


def _check_open(app: Runtime, upload_uuid: str, running: Running) -> Any:
    """Under the upload's lock: the upload's row, if it still exists (not converted or expired while we waited)."""
    if running.closed:
        raise not_found('upload not found')
    with app.db.read() as tx:
        row = tx.one('SELECT * FROM uploads WHERE uuid = ?', (upload_uuid,))
    if row is None:
        raise not_found('upload not found')
    return row


def _link_or_copy(source: Path, destination: Path) -> None:
    """A second name for the upload's bytes, so that until the commit the upload is untouched."""
    try:
        os.link(source, destination)
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EOPNOTSUPP):
            raise
        shutil.copyfile(source, destination)  # a file system without hard links: slower, just as safe


def convert_to_blob(app: Runtime, upload_uuid: str, blob_uuid: str, commit: Callable[[Tx], T]) -> T:
    """Turn an upload into blob `blob_uuid` under the upload's lock, so no append can slip in between.

    Crash safety without an intent log: the blob file is a hard link to the upload file until the commit (upload
    row gone, blob row made, then `commit(tx)` for the caller's changes), and the upload's name is removed after
    it. Killed before the commit, the blob file has no row; killed after it, the upload file has none: either
    way start-up removes the file no row references and the other one is whole.
    """
    running = state(app).get(upload_uuid)
    with running.lock:
        row = _check_open(app, upload_uuid, running)
        source = upload_path(app, upload_uuid)
        if not source.exists():
            # Never a version of nothing: these bytes were lost (or never sent).
            raise not_found('upload data missing' if row['size'] else 'upload has no data')
        hasher = _hasher(running, source)
        if hasher.size < row['size']:
            raise not_found('upload data missing')  # shorter than the size an append acknowledged
        hasher.drain()
        size, sha512 = hasher.size, hasher.digest.hexdigest()
        destination = blob_path(app.blob_dir, blob_uuid)
        _link_or_copy(source, destination)
        reached('convert-linked')
        try:
            with app.db.write() as tx:
                tx.execute('DELETE FROM uploads WHERE uuid = ?', (upload_uuid,))
                create_blob(tx, blob_uuid, size, sha512)
                result = commit(tx)
        except BaseException:
            destination.unlink(missing_ok=True)  # refused (e.g. a namespace check): the upload stays as it was
            raise
        running.closed = True
        hasher.close()
        reached('convert-committed')
        source.unlink(missing_ok=True)
    state(app).forget(upload_uuid)
    return result


def remove_orphan_files(app: Runtime) -> None:
    """At start-up: upload files no row references (converted or expired when the process died)."""
    with app.db.read() as tx:
        known = {r['uuid'] for r in tx.all('SELECT uuid FROM uploads')}
    remove_unreferenced(app.upload_dir, known)


def _fill(body: BodyReader, view: memoryview) -> int:
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


def _copy(body: BodyReader, handle: Any, hasher: Hasher) -> None:
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


def _upload_view(req: Request, row: Any) -> dict[str, Any]:
    return {
        'uuid': row['uuid'],
        'state': 'created',
        'metadata': {},
        'version': 5,
        'node': req.config['node_name'],
        'created_at': row['created_at'],
    }


def _existing(req: Request, upload_uuid: str) -> Any:
    with req.db.read() as tx:
        row = tx.one('SELECT * FROM uploads WHERE uuid = ?', (upload_uuid,))
    if row is None:
        raise not_found('upload not found')
    return row


@route('POST', '/upload')
def create(req: Request) -> dict[str, Any]:
    upload_uuid = str(uuid.uuid4())
    now = time.time()
    with req.db.write() as tx:
        tx.execute('INSERT INTO uploads (uuid, created_at, last_write, size) VALUES (?, ?, ?, 0)',
                   (upload_uuid, now, now))
        row = tx.one('SELECT * FROM uploads WHERE uuid = ?', (upload_uuid,))
    return _upload_view(req, row)


@route('POST', '/upload/<upload_uuid>', raw_body=True)
def append(req: Request, upload_uuid: str) -> int:
    """Append the raw body; answer the upload's total size."""
    _existing(req, upload_uuid)
    path = upload_path(req.app, upload_uuid)
    running = state(req.app).get(upload_uuid)
    assert req.body is not None
    with running.lock:
        _check_open(req.app, upload_uuid, running)
        hasher = _hasher(running, path)
        try:
            with open(path, 'ab', buffering=0) as handle:
                if req.body.length:
                    reserve(handle.fileno(), req.body.length)
                _copy(req.body, handle, hasher)
        except BaseException:
            if _file_size(path) != hasher.size:  # a short write: rebuild from the file next time
                hasher.close()
                running.hasher = None
            raise
        finally:
            size = _file_size(path)
            with req.db.write() as tx:
                tx.execute('UPDATE uploads SET size = ?, last_write = ? WHERE uuid = ?',
                           (size, time.time(), upload_uuid))
    return size


@route('POST', '/upload/<upload_uuid>/truncate/<int:offset>')
def truncate(req: Request, upload_uuid: str, offset: int) -> None:
    if offset < 0:  # the path routes digits only, but a body key `offset` overrides the path value
        raise bad_request('offset must not be negative')
    _existing(req, upload_uuid)
    path = upload_path(req.app, upload_uuid)
    running = state(req.app).get(upload_uuid)
    with running.lock:
        _check_open(req.app, upload_uuid, running)
        size = path.stat().st_size if path.exists() else 0
        if size == 0:
            if offset > 0:
                raise not_found('upload has no data')
            return None
        if offset > size:
            raise bad_request('offset is beyond the end of the upload')
        with open(path, 'r+b') as handle:
            handle.truncate(offset)
        if running.hasher is not None:
            running.hasher.close()
            running.hasher = None  # rebuilt from the file by the next append or the convert
        with req.db.write() as tx:
            tx.execute('UPDATE uploads SET size = ?, last_write = ? WHERE uuid = ?', (offset, time.time(), upload_uuid))
    return None


def expire_uploads(app: Runtime) -> None:
    """Abandoned uploads disappear `upload_max_age` seconds after their last write. One in use (an append still
    writing, a convert) is not abandoned: its lock is busy, and it is skipped."""
    cutoff = time.time() - float(app.config['upload_max_age'])
    with app.db.read() as tx:
        rows = tx.all('SELECT uuid FROM uploads WHERE last_write < ?', (cutoff,))
    for row in rows:  # the common case: none, and no write transaction at all
        running = state(app).get(row['uuid'])
        if not running.lock.acquire(blocking=False):
            continue
        try:
            with app.db.write() as tx:
                gone = tx.execute('DELETE FROM uploads WHERE uuid = ? AND last_write < ?',
                                  (row['uuid'], cutoff)).rowcount
            if gone:
                running.closed = True
                if running.hasher is not None:
                    running.hasher.close()
                upload_path(app, row['uuid']).unlink(missing_ok=True)
        finally:
            running.lock.release()
        if gone:
            state(app).forget(row['uuid'])


register_periodic(expire_uploads)
register_startup(remove_orphan_files)
