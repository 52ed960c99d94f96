"""Uploads nobody finishes: abandoned ones expire, and at start-up files no upload row references go."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from sf_emulator.jobs.queue import register_periodic, register_startup
from sf_emulator.models.blobs import remove_unreferenced
from sf_emulator.models.uploads import state, upload_path

if TYPE_CHECKING:
    from sf_emulator.runtime import Runtime


def remove_orphan_files(app: Runtime) -> None:
    """At start-up: upload files no row references (converted or expired when the process died)."""
    with app.db.read() as tx:
        known = {r['uuid'] for r in tx.all('SELECT uuid FROM uploads')}
    remove_unreferenced(app.upload_dir, known)


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
