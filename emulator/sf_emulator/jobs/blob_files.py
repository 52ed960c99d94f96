"""Background work on blob files: checksums asked for later, files of deleted blobs, files no blob row owns."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from sf_emulator.db import Tx
from sf_emulator.jobs.queue import enqueue, register_job_kind, register_periodic, register_startup
from sf_emulator.models.blobs import blob_path, get_blob, remove_unreferenced, set_checksum

if TYPE_CHECKING:
    from sf_emulator.runtime import Runtime

HASH_CHUNK = 4 * 1024 * 1024


def hash_file(path: Any, algorithm: str) -> str:
    digest = hashlib.new(algorithm)
    with open(path, 'rb') as handle:
        while chunk := handle.read(HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def run_blob_hash(app: Runtime, payload: dict[str, Any]) -> None:
    blob_uuid, algorithm = payload['blob_uuid'], payload['algorithm']
    path = blob_path(app.blob_dir, blob_uuid)
    if not path.exists():
        return
    value = hash_file(path, algorithm)
    with app.db.write() as tx:
        if get_blob(tx, blob_uuid) is not None:
            set_checksum(tx, blob_uuid, algorithm, value)


register_job_kind('blob_hash', run_blob_hash)


def queue_hash(tx: Tx, blob_uuid: str, algorithm: str) -> None:
    """Compute a checksum the blob does not have yet, in the background (`GET /blobs/<uuid>/checksum/<alg>`)."""
    enqueue(tx, 'blob_hash', {'blob_uuid': blob_uuid, 'algorithm': algorithm})


def remove_deleted_blob_files(app: Runtime) -> None:
    """Files of blobs that became `deleted` (reference count 0) are removed by the cleaner, like the real one."""
    with app.db.read() as tx:
        rows = tx.all("SELECT uuid FROM blobs WHERE state = 'deleted' AND file_removed = 0")
    if not rows:
        return
    for row in rows:
        blob_path(app.blob_dir, row['uuid']).unlink(missing_ok=True)
    with app.db.write() as tx:
        tx.executemany("UPDATE blobs SET file_removed = 1 WHERE uuid = ? AND state = 'deleted'",
                       [(r['uuid'],) for r in rows])


register_periodic(remove_deleted_blob_files)


def remove_orphan_files(app: Runtime) -> None:
    """At start-up: blob files no row references. A process killed between writing a blob file and committing its
    row (a convert, a fetch, a snapshot) leaves one; the work itself was not committed, so nothing is lost."""
    with app.db.read() as tx:
        known = {r['uuid'] for r in tx.all('SELECT uuid FROM blobs')}
    remove_unreferenced(app.blob_dir, known)


register_startup(remove_orphan_files)
