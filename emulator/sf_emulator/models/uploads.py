"""Uploads: bytes streamed into DATA/uploads/<uuid> with a running sha512, and their conversion into a blob.

Bytes go straight from the socket to DATA/uploads/<uuid> in large reads while the sha512 is updated with the same
buffers, so converting a finished upload into a blob needs no second pass. Each upload has one `Hasher`: a thread
that lives across requests and hashes the buffers in order, so an append answers as soon as its last byte is
written and never waits for the hash to catch up (only for a free buffer, when the hash is a few buffers behind:
memory stays at `HASH_BUFFERS` buffers per upload). The convert waits for it to finish. The running hash lives in
memory; after a restart, a truncate or a failed write it is rebuilt from the file when next needed.

One lock per upload serialises appends, truncates and the convert. The convert holds it from hashing until the
file is the blob's and the upload row is gone, and marks the upload closed: an append that was waiting for the
lock then finds no upload (404 `upload not found`, as after any conversion) instead of writing into the blob.

The byte path and the hasher are in upload_stream.py, the routes in routes/uploads.py, expiry and orphan removal
in jobs/upload_cleanup.py.
"""

from __future__ import annotations

import errno
import os
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from sf_emulator.db import Tx, register_schema
from sf_emulator.errors import not_found
from sf_emulator.faults.crashpoints import reached
from sf_emulator.models.blobs import blob_path, create_blob
from sf_emulator.models.upload_stream import READ_SIZE, Hasher

if TYPE_CHECKING:
    from collections.abc import Callable

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


def file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def current_hasher(running: Running, path: Path) -> Hasher:
    """The upload's hasher, agreeing with the file as it is: rebuilt from the file after a restart, a truncate or
    a failed write. Comparing sizes needs no wait: `size` counts bytes handed over, hashed or not."""
    size = file_size(path)
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


def check_open(app: Runtime, upload_uuid: str, running: Running) -> Any:
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


@dataclass
class ImageCheck:
    """0.7.2 identifies a new blob's bytes with qemu-img while converting: `problem(path)` is qemu-img's refusal
    (None: fine). A refused upload still becomes a blob, `created`, unused and without a sha512, the upload row stays
    without its file, and `leave(tx)` records the caller's leftovers (the artifact, still `initial`)."""

    problem: Callable[[Path], str | None]
    leave: Callable[[Tx], None]


class ImageRefused(Exception):
    """The bytes failed the `ImageCheck`: `problem` is what qemu-img said, `path` where 0.7.2 keeps the blob."""

    def __init__(self, problem: str, path: Path) -> None:
        super().__init__(problem)
        self.problem = problem
        self.path = path


def _refuse(app: Runtime, running: Running, source: Path, blob_uuid: str, size: int, check: ImageCheck,
            problem: str) -> ImageRefused:
    """Move the refused bytes into their blob and record what 0.7.2 leaves behind."""
    destination = blob_path(app.blob_dir, blob_uuid)
    os.replace(source, destination)
    with app.db.write() as tx:
        create_blob(tx, blob_uuid, size, None)
        check.leave(tx)
    if running.hasher is not None:
        running.hasher.close()
        running.hasher = None  # the file is gone: an append starts a new one
    return ImageRefused(problem, app.blob_dir / blob_uuid[:2] / blob_uuid)


def convert_to_blob(app: Runtime, upload_uuid: str, blob_uuid: str, commit: Callable[[Tx], T],
                    check: ImageCheck | None = None) -> T:
    """Turn an upload into blob `blob_uuid` under the upload's lock, so no append can slip in between.

    Crash safety without an intent log: the blob file is a hard link to the upload file until the commit (upload
    row gone, blob row made, then `commit(tx)` for the caller's changes), and the upload's name is removed after
    it. Killed before the commit, the blob file has no row; killed after it, the upload file has none: either
    way start-up removes the file no row references and the other one is whole. With `check`, bytes it refuses
    raise ImageRefused after the leftovers are committed.
    """
    running = state(app).get(upload_uuid)
    with running.lock:
        row = check_open(app, upload_uuid, running)
        source = upload_path(app, upload_uuid)
        if not source.exists():
            # Never a version of nothing: these bytes were lost (or never sent).
            raise not_found('upload data missing' if row['size'] else 'upload has no data')
        hasher = current_hasher(running, source)
        if hasher.size < row['size']:
            raise not_found('upload data missing')  # shorter than the size an append acknowledged
        hasher.drain()
        problem = None if check is None else check.problem(source)
        if check is not None and problem is not None:
            raise _refuse(app, running, source, blob_uuid, hasher.size, check, problem)
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
