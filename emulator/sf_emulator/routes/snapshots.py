"""`/instances/<ref>/snapshot`: take snapshots (a `node_inst_snap_op`) and list them (B.5, C.10).

The POST answers at once with one entry per device and pre-allocated blob UUIDs that do not exist yet. The op
copies each disk file into its blob after `snapshot_delay` (hashing the bytes), creates the blob and adds it as a
version of the device's `snapshot` artifact (`<instance_uuid>/<device>`, `sf://instance/<uuid>/<device>`), with the
usual skip rules. NVRAM is copied at once, as the server does.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sf_emulator.db import Tx, dumps, loads
from sf_emulator.errors import not_ready
from sf_emulator.http.router import route
from sf_emulator.jobs import clusterops
from sf_emulator.jobs.snapshot_ops import OP_TYPE
from sf_emulator.models import artifacts
from sf_emulator.models import max_versions as max_versions_rules
from sf_emulator.models.blobs import blob_path, blob_view, get_blob, instances_by_blob
from sf_emulator.models.events import add_event
from sf_emulator.models.instances import ACTIVE_STATES, instance_dir
from sf_emulator.models.snapshots import INSTANCE_URL, copy_hashed, snapshot_artifact, store_version
from sf_emulator.routes.compute_common import as_bool, find_owned

if TYPE_CHECKING:
    from sf_emulator.http.request import Request


@route('POST', '/instances/<instance_ref>/snapshot')
def take_snapshot(req: Request, instance_ref: str, all: Any = None, device: Any = None,  # noqa: A002
                  max_versions: Any = 0, thin: Any = None) -> dict[str, Any]:
    """One entry per device snapshotted, with blob UUIDs that exist once the op copied the disks (NVRAM: at once).
    An unchecked profile answers a bad `max_versions`'s 400 after making the first new snapshot artifact, which
    stays `initial` with nothing queued."""
    profile = req.app.profile
    # false and missing both mean SNAPSHOTS_DEFAULT_TO_THIN: the official client always sends thin: false.
    thin_snapshot = as_bool(thin) or bool(req.config['snapshots_default_to_thin'])
    nvram_copies: list[tuple[Path, str, str]] = []
    with req.db.write() as tx:
        instance = find_owned(req, tx, 'instances', instance_ref, 'instance', ACTIVE_STATES)
        if instance['state'] != 'created':
            raise not_ready(f'instance {instance["uuid"]} is not ready ({instance["state"]})')
        versions, failure = max_versions_rules.for_new_artifact(profile, max_versions)
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
            artifact_uuid, made = snapshot_artifact(tx, instance, disk['device'], versions)
            if made and failure is not None:
                break
            blob_uuid = str(uuid.uuid4())
            out[disk['device']] = {'source_url': f'{INSTANCE_URL}{instance["uuid"]}/{disk["device"]}',
                                   'artifact_uuid': artifact_uuid, 'blob_uuid': blob_uuid}
            if disk['type'] == 'nvram':
                nvram_copies.append((Path(disk['path']), artifact_uuid, blob_uuid))
            else:
                work.append({'device': disk['device'], 'path': disk['path'], 'artifact_uuid': artifact_uuid,
                             'blob_uuid': blob_uuid,
                             'depends_on': disk.get('blob_uuid') if thin_snapshot else None})
        else:
            failure = None  # every artifact existed: 0.7.2 never looks at max_versions then
        if failure is None:
            _queue(req, tx, instance, work, nvram_copies, out)
    if failure is not None:
        raise failure
    return out


def _queue(req: Request, tx: Tx, instance: Any, work: list[dict[str, Any]], nvram_copies: list[tuple[Path, str, str]],
           out: dict[str, Any]) -> None:
    """Queue the op that copies the disks, and copy the NVRAM now: newest adds it as a version whatever it holds,
    0.7.2 skips one equal to the newest version and keeps its blob, `created` and unused."""
    op_uuid = clusterops.create_op(
        tx, OP_TYPE, 'instance', instance['uuid'], instance['namespace'], tasks=['instance_snapshot'],
        extra={'instance_uuid': instance['uuid'], '_snapshots': work}, delay=float(req.config['op_delay']),
    )
    tx.execute('UPDATE instances SET last_op = ? WHERE uuid = ?',
               (dumps(clusterops.handle(OP_TYPE, op_uuid)), instance['uuid']))
    add_event(tx, 'instance', instance['uuid'], 'snapshot requested', extra=out)
    skips = req.app.profile.nvram_snapshot_skips_unchanged
    for source, artifact_uuid, blob_uuid in nvram_copies:
        size, sha512 = copy_hashed(source, blob_path(req.app.blob_dir, blob_uuid))
        store_version(req.config, tx, artifact_uuid, blob_uuid, size, sha512, None, force=not skips,
                      keep_unused=skips)


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
            view = artifacts.full_view(tx, art, req.app.profile, with_instances=False)
            for key in ('index', 'blob_uuid', 'blobs', 'references_from', 'references_to'):
                view.pop(key, None)
            refs = artifacts.versions(tx, art['uuid'])
            usage = instances_by_blob(tx, [r['blob_uuid'] for r in refs])
            for ref in refs:
                blob = get_blob(tx, ref['blob_uuid'])
                if blob is None:
                    continue
                bout = blob_view(tx, blob, req.app.profile, show_locations=req.is_admin, node=req.config['node_name'],
                                 with_instances=False)
                bout['blob_uuid'] = bout.pop('uuid')
                bout['instances'] = usage.get(ref['blob_uuid'], [])
                entry = dict(view)
                entry.update(bout)
                out.append(entry)
        return out
