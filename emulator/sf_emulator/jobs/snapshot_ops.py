"""The `node_inst_snap_op`: after `snapshot_delay`, copy each disk file into its pre-allocated blob and add it as a
version of the device's snapshot artifact (the route that queues it is in routes/snapshots.py)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sf_emulator.config import define
from sf_emulator.jobs import clusterops
from sf_emulator.models import artifacts
from sf_emulator.models.blobs import blob_path, checksums
from sf_emulator.models.events import add_event
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


def run_snapshot(app: Runtime, op: dict[str, Any]) -> float | None:
    failures = []
    for item in op['extra'].get('_snapshots', []):
        destination = blob_path(app.blob_dir, item['blob_uuid'])
        try:
            _simulate_guest_write(app, item)
            size, sha512 = copy_hashed(Path(item['path']), destination)
        except OSError as exc:
            destination.unlink(missing_ok=True)
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
