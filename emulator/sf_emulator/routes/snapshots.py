"""`/instances/<ref>/snapshot`: take snapshots (a `node_inst_snap_op`) and list them (B.5, C.10).

The POST answers at once with one entry per device and pre-allocated blob UUIDs that do not exist yet. The op
copies each disk file into its blob after `snapshot_delay` (hashing the bytes), creates the blob and adds it as a
version of the device's `snapshot` artifact (`<instance_uuid>/<device>`, `sf://instance/<uuid>/<device>`), with the
usual skip rules. NVRAM is copied at once, as the server does.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sf_emulator.config import define
from sf_emulator.db import Tx, dumps, loads
from sf_emulator.errors import not_ready
from sf_emulator.http.router import route
from sf_emulator.jobs import clusterops
from sf_emulator.models import artifacts
from sf_emulator.models.blobs import (
    add_blob_ref,
    blob_path,
    blob_view,
    checksums,
    create_blob,
    get_blob,
    instances_by_blob,
    release_if_unused,
)
from sf_emulator.models.events import add_event
from sf_emulator.models.instances import ACTIVE_STATES, instance_dir
from sf_emulator.routes.compute_common import as_bool, find_owned

if TYPE_CHECKING:
    from sf_emulator.http.request import Request
    from sf_emulator.runtime import Runtime

define('snapshot_delay', 0.3, float, 'seconds a snapshot (node_inst_snap_op) executes before its blobs exist')
define('snapshots_default_to_thin', False, bool, 'SNAPSHOTS_DEFAULT_TO_THIN: thin snapshots when thin is false')
define('snapshot_guest_writes', True, bool,
       'simulate a running guest: a disk unchanged since its newest snapshot gets a small write before the next one')

INSTANCE_URL = 'sf://instance/'
OP_TYPE = 'node_inst_snap_op'
CHUNK = 4 * 1024 * 1024


def _snapshot_artifact(tx: Tx, instance: Any, device: str, max_versions: int) -> str:
    """`owned_from_url_or_new`: the instance namespace's snapshot artifact for a device; max_versions on create."""
    url = f'{INSTANCE_URL}{instance["uuid"]}/{device}'
    existing = artifacts.find_owned_by_url(tx, instance['namespace'], 'snapshot', url)
    if existing is not None:
        return str(existing['uuid'])
    return artifacts.create_artifact(tx, name=f'{instance["uuid"]}/{device}', namespace=instance['namespace'],
                                     artifact_type='snapshot', source_url=url, max_versions=max_versions)


def _copy_hashed(source: Path, destination: Path) -> tuple[int, str]:
    digest = hashlib.sha512()
    size = 0
    with open(source, 'rb') as src, open(destination, 'wb') as out:
        while chunk := src.read(CHUNK):
            out.write(chunk)
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def _sha512(path: Path) -> str:
    digest = hashlib.sha512()
    with open(path, 'rb') as src:
        while chunk := src.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


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
    if newest is None or path.stat().st_size != newest['size'] or _sha512(path) != newest_sum:
        return
    with open(path, 'ab') as out:
        out.write(f'sf-emulator guest activity {time.time():.6f}\n'.encode())


def _store_version(app: Runtime, tx: Tx, artifact_uuid: str, blob_uuid: str, size: int, sha512: str,
                   depends_on: str | None, force: bool) -> None:
    create_blob(tx, blob_uuid, size, sha512, depends_on=depends_on)
    if depends_on and get_blob(tx, depends_on) is not None:
        add_blob_ref(tx, depends_on, 'depends_on', 'blob', blob_uuid, '0')  # a thin blob keeps its base alive
    art = artifacts.get_artifact(tx, artifact_uuid)
    if art is None or art['state'] == 'deleted':
        release_if_unused(tx, blob_uuid)
        return
    added = artifacts.add_version(tx, app.config, artifact_uuid, blob_uuid, force=force)
    if not added:
        release_if_unused(tx, blob_uuid)  # unchanged disk: the newest version stays, this blob is unused
    tx.execute("UPDATE artifacts SET state = 'created', error_message = NULL WHERE uuid = ?", (artifact_uuid,))


@route('POST', '/instances/<instance_ref>/snapshot')
def take_snapshot(req: Request, instance_ref: str, all: Any = None, device: Any = None,  # noqa: A002
                  max_versions: Any = 0, thin: Any = None) -> dict[str, Any]:
    # false and missing both mean SNAPSHOTS_DEFAULT_TO_THIN: the official client always sends thin: false.
    thin_snapshot = as_bool(thin) or bool(req.config['snapshots_default_to_thin'])
    nvram_copies: list[tuple[Path, str, str]] = []
    with req.db.write() as tx:
        instance = find_owned(req, tx, 'instances', instance_ref, 'instance', ACTIVE_STATES)
        if instance['state'] != 'created':
            raise not_ready(f'instance {instance["uuid"]} is not ready ({instance["state"]})')
        versions = artifacts.validate_max_versions(max_versions)
        directory = instance_dir(req.app.data_dir, instance['uuid'])
        disks = [dict(d, path=str(directory / d['device'])) for d in loads(instance['block_devices'], [])]
        if instance['uefi']:
            disks.append({'type': 'nvram', 'device': 'nvram', 'path': str(directory / 'nvram'),
                          'snapshot_ignores': False})
        if device:
            disks = [d for d in disks if d['device'] == device]
        elif not as_bool(all):
            disks = disks[:1]
        out: dict[str, Any] = {}
        work: list[dict[str, Any]] = []
        for disk in disks:
            if disk.get('snapshot_ignores') or disk['type'] not in ('qcow2', 'nvram'):
                continue
            if not Path(disk['path']).exists():
                continue
            artifact_uuid = _snapshot_artifact(tx, instance, disk['device'], versions)
            blob_uuid = str(uuid.uuid4())
            out[disk['device']] = {'source_url': f'{INSTANCE_URL}{instance["uuid"]}/{disk["device"]}',
                                   'artifact_uuid': artifact_uuid, 'blob_uuid': blob_uuid}
            if disk['type'] == 'nvram':
                nvram_copies.append((Path(disk['path']), artifact_uuid, blob_uuid))
            else:
                work.append({'device': disk['device'], 'path': disk['path'], 'artifact_uuid': artifact_uuid,
                             'blob_uuid': blob_uuid,
                             'depends_on': disk.get('blob_uuid') if thin_snapshot else None})
        op_uuid = clusterops.create_op(
            tx, OP_TYPE, 'instance', instance['uuid'], instance['namespace'], tasks=['instance_snapshot'],
            extra={'instance_uuid': instance['uuid'], '_snapshots': work}, delay=float(req.config['op_delay']),
        )
        tx.execute('UPDATE instances SET last_op = ? WHERE uuid = ?',
                   (dumps(clusterops.handle(OP_TYPE, op_uuid)), instance['uuid']))
        add_event(tx, 'instance', instance['uuid'], 'snapshot requested', extra=out)
        # NVRAM is small and copied before the answer (a forced version: never skipped).
        for source, artifact_uuid, blob_uuid in nvram_copies:
            size, sha512 = _copy_hashed(source, blob_path(req.app.blob_dir, blob_uuid))
            _store_version(req.app, tx, artifact_uuid, blob_uuid, size, sha512, None, force=True)
    return out


def run_snapshot(app: Runtime, op: dict[str, Any]) -> float | None:
    failures = []
    for item in op['extra'].get('_snapshots', []):
        destination = blob_path(app.blob_dir, item['blob_uuid'])
        try:
            _simulate_guest_write(app, item)
            size, sha512 = _copy_hashed(Path(item['path']), destination)
        except OSError as exc:
            destination.unlink(missing_ok=True)
            failures.append(f'{item["device"]}: {exc}')
            continue
        with app.db.write() as tx:
            _store_version(app, tx, item['artifact_uuid'], item['blob_uuid'], size, sha512, item['depends_on'],
                           force=False)
            add_event(tx, 'instance', op['target_uuid'], 'snapshot complete', event_type='status',
                      extra={'device': item['device'], 'blob_uuid': item['blob_uuid'], 'size': size})
    if failures:
        raise clusterops.OpFailed('snapshot failed: ' + '; '.join(failures))
    return None


clusterops.register_op_runner(OP_TYPE, run_snapshot, 'snapshot_delay')


@route('GET', '/instances/<instance_ref>/snapshot')
def list_snapshots(req: Request, instance_ref: str) -> list[dict[str, Any]]:
    """One entry per (snapshot artifact, version): the artifact view merged with the blob view (B.5)."""
    with req.db.read() as tx:
        instance = find_owned(req, tx, 'instances', instance_ref, 'instance', ACTIVE_STATES)
        rows = tx.all(
            "SELECT * FROM artifacts WHERE artifact_type = 'snapshot' AND source_url LIKE ? AND state != 'deleted' "
            'ORDER BY created',
            (f'{INSTANCE_URL}{instance["uuid"]}/%',),
        )
        out = []
        for art in rows:
            view = artifacts.full_view(tx, art, with_instances=False)
            for key in ('index', 'blob_uuid', 'blobs', 'references_from', 'references_to'):
                view.pop(key, None)
            refs = artifacts.versions(tx, art['uuid'])
            usage = instances_by_blob(tx, [r['blob_uuid'] for r in refs])
            for ref in refs:
                blob = get_blob(tx, ref['blob_uuid'])
                if blob is None:
                    continue
                bout = blob_view(tx, blob, show_locations=req.is_admin, node=req.config['node_name'],
                                 with_instances=False)
                bout['blob_uuid'] = bout.pop('uuid')
                bout['instances'] = usage.get(ref['blob_uuid'], [])
                entry = dict(view)
                entry.update(bout)
                out.append(entry)
        return out
