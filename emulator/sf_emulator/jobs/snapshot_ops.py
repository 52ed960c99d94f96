"""The `node_inst_snap_op`: after `snapshot_delay`, copy each disk file into its pre-allocated blob and add it as a
version of the device's snapshot artifact (the route that queues it is in routes/snapshots.py).

Newest: the copy is hashed, so the same-sha512 skip rule applies (hence the simulated guest write), and a failed
copy fails the op. 0.7.2 (`snapshot_checksums_deferred`): the blob has no sha512 until the checksum pass, so every
snapshot adds a version; a thin snapshot whose base is gone never appears; a failed copy puts the instance in
`created-error` and deletes it.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sf_emulator.config import define
from sf_emulator.jobs import clusterops
from sf_emulator.jobs.instance_ops import delete_due_error
from sf_emulator.models import artifacts
from sf_emulator.models.blobs import blob_path, checksums, get_blob
from sf_emulator.models.events import add_event
from sf_emulator.models.instances import get_instance
from sf_emulator.models.snapshots import copy_hashed, sha512_of, store_version

if TYPE_CHECKING:
    from sf_emulator.runtime import Runtime

define('snapshot_delay', 0.3, float, 'seconds a snapshot (node_inst_snap_op) executes before its blobs exist')
# Read by the route that queues the op: it decides whether the op makes thin copies.
define('snapshots_default_to_thin', False, bool, 'SNAPSHOTS_DEFAULT_TO_THIN: thin snapshots when thin is false')
define('snapshot_guest_writes', True, bool,
       'simulate a running guest: a disk unchanged since its newest snapshot gets a small write before the next one')

OP_TYPE = 'node_inst_snap_op'


def _simulate_guest_write(app: Runtime, item: dict[str, Any]) -> None:
    """A real running guest always changes its disk between snapshots; ours never does on its own.

    Without this, every repeated snapshot would hit the same-sha512 skip rule, its pre-allocated blob would never
    appear and the official client's wait loop would run to its deadline. So, like a guest writing a log line,
    append a few bytes to a disk whose content is exactly its newest snapshot. Set snapshot_guest_writes false
    for the pure skip rule.
    """
    if not app.config['snapshot_guest_writes']:
        return
    with app.db.read() as tx:
        refs = artifacts.versions(tx, item['artifact_uuid'])
        newest = refs[-1] if refs else None
        newest_sum = checksums(tx, newest['blob_uuid']).get('sha512') if newest else None
    path = Path(item['path'])
    if newest is None or path.stat().st_size != newest['size'] or sha512_of(path) != newest_sum:
        return
    with open(path, 'ab') as out:
        out.write(f'sf-emulator guest activity {time.time():.6f}\n'.encode())


def _base_is_gone(app: Runtime, item: dict[str, Any]) -> bool:
    """A thin snapshot whose base blob is missing or no longer `created` (0.7.2's BlobDependencyMissing)."""
    if not item['depends_on'] or not app.profile.thin_snapshot_needs_base:
        return False
    with app.db.read() as tx:
        base = get_blob(tx, item['depends_on'])
    return base is None or base['state'] != 'created'


def _copy(app: Runtime, item: dict[str, Any], destination: Path) -> tuple[int, str | None]:
    """The disk's bytes into the blob file: (size, sha512, or None where the checksum pass computes it later)."""
    if app.profile.snapshot_checksums_deferred:
        shutil.copyfile(item['path'], destination)
        return destination.stat().st_size, None
    _simulate_guest_write(app, item)  # only where the skip rule can fire: the sha512 is known at once
    return copy_hashed(Path(item['path']), destination)


def _failed(app: Runtime, op: dict[str, Any], exc: OSError) -> None:
    """0.7.2's queue worker: any error of a snapshot task deletes the instance (a vanished disk file reaches
    `add_index` as None)."""
    detail = "'NoneType' object has no attribute 'uuid'" if isinstance(exc, FileNotFoundError) else str(exc)
    with app.db.write() as tx:
        row = get_instance(tx, op['target_uuid'])
        if row is not None:
            delete_due_error(tx, app.config, row, f'Failed queue task: {detail}')


def _instance_gone(app: Runtime, op: dict[str, Any]) -> bool:
    with app.db.read() as tx:
        row = get_instance(tx, op['target_uuid'])
    return row is None or row['state'] == 'deleted'


def run_snapshot(app: Runtime, op: dict[str, Any]) -> float | None:
    failures = []
    for item in op['extra'].get('_snapshots', []):
        destination = blob_path(app.blob_dir, item['blob_uuid'])
        if _base_is_gone(app, item):
            continue
        if app.profile.snapshot_failure_deletes_instance and _instance_gone(app, op):
            return None  # deleted meanwhile: 0.7.2 drops the snapshot
        try:
            size, sha512 = _copy(app, item, destination)
        except OSError as exc:
            destination.unlink(missing_ok=True)
            if app.profile.snapshot_failure_deletes_instance:
                _failed(app, op, exc)
                return None
            failures.append(f'{item["device"]}: {exc}')
            continue
        with app.db.write() as tx:
            store_version(app.config, tx, item['artifact_uuid'], item['blob_uuid'], size, sha512, item['depends_on'],
                           force=False)
            add_event(tx, 'instance', op['target_uuid'], 'snapshot complete', event_type='status',
                      extra={'device': item['device'], 'blob_uuid': item['blob_uuid'], 'size': size})
    if failures:
        raise clusterops.OpFailed('snapshot failed: ' + '; '.join(failures))
    return None


clusterops.register_op_runner(OP_TYPE, run_snapshot, 'snapshot_delay')
