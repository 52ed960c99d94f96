"""The checksum pass: fills in the sha512 of blobs that have none, as 0.7.2's checksum daemon does.

0.7.2 makes disk snapshot blobs without a checksum ("it will catch up when the scheduled verification occurs"): its
daemon skips files younger than 60 s and sleeps 300 s after each pass, so a snapshot blob shows `sha512: null` for
a minute or more. `--checksum-min-age` and `--checksum-interval` (also `/_emulator/config`) set both; a pass runs
from the cleaner, at most every `checksum_interval` seconds. Blobs made with their sha512 (uploads, fetches, newest
snapshots) never need it.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from sf_emulator.config import define
from sf_emulator.jobs.blob_files import hash_file
from sf_emulator.jobs.queue import register_periodic
from sf_emulator.models.blobs import blob_path, get_blob, set_checksum

if TYPE_CHECKING:
    from sf_emulator.runtime import Runtime

define('checksum_min_age', 60.0, float, 'seconds a blob file must be unchanged before the checksum pass hashes it')
define('checksum_interval', 300.0, float, 'seconds between checksum passes (blobs without a sha512)')


class _LastPass:
    def __init__(self) -> None:
        self.at: float | None = None  # monotonic time of the last pass; None: none yet


def run_checksum_pass(app: Runtime) -> None:
    last = app.module_state('checksum_pass', _LastPass)
    now = time.monotonic()
    if last.at is not None and now - last.at < float(app.config['checksum_interval']):
        return
    last.at = now
    with app.db.read() as tx:
        missing = [r['uuid'] for r in tx.all(
            "SELECT uuid FROM blobs WHERE state = 'created' AND uuid NOT IN "
            "(SELECT blob_uuid FROM blob_checksums WHERE algorithm = 'sha512') ORDER BY created")]
    oldest = time.time() - float(app.config['checksum_min_age'])
    for blob_uuid in missing:
        path = blob_path(app.blob_dir, blob_uuid)
        try:
            if path.stat().st_mtime > oldest:
                continue  # still young: maybe still being written
            value = hash_file(path, 'sha512')
        except OSError:
            continue  # gone meanwhile (deleted, or a leftover whose file moved)
        with app.db.write() as tx:
            row = get_blob(tx, blob_uuid)
            if row is not None and row['state'] == 'created':
                set_checksum(tx, blob_uuid, 'sha512', value)


register_periodic(run_checksum_pass)
