"""`/instances...`: create (disk bases per C.6), list, get, delete, delete-all, interfaces, metadata, events, ops.

Creation is asynchronous, like the server: the instance is `initial`, a `node_inst_netdesc_op` moves it to
`preflight` (waiting for any image fetches its disks need), `creating` (disk files are copied from the base blobs
into DATA/instances/<uuid>/<device>) and `created`. A base that cannot be fetched leaves it in `error` with an
`error_message`. Deleting queues a `node_inst_op`; the instance is `deleted` when it has run, its disk references
are dropped (blobs nothing else uses become `deleted`) and its interfaces are released.
"""

from __future__ import annotations

import random
import re
import shutil
import time
import uuid
from typing import TYPE_CHECKING, Any

from sf_emulator.config import define
from sf_emulator.db import Tx, dumps, loads
from sf_emulator.errors import bad_request, not_found
from sf_emulator.hooks import HOOKS
from sf_emulator.http.router import route
from sf_emulator.jobs import clusterops
from sf_emulator.jobs.fetch import queue_fetch
from sf_emulator.models import artifacts
from sf_emulator.models.blobs import add_blob_ref, blob_path, get_blob, remove_blob_refs
from sf_emulator.models.disk_bases import newest_blob, resolve_disk_base, resolve_nvram_template
from sf_emulator.models.events import add_event, list_events
from sf_emulator.models.instances import (
    ACTIVE_STATES,
    DEVICE_PREFIXES,
    get_instance,
    instance_dir,
    instance_view,
    plan_block_devices,
    remove_instance_files,
)
from sf_emulator.models.namespaces import trusts
from sf_emulator.models.networks import (
    add_interface,
    check_netdesc,
    instance_interfaces,
    interface_view,
    set_instance_interfaces_state,
)
from sf_emulator.routes.compute_common import (
    as_bool,
    bulk_delete_namespace,
    find_owned,
    require_namespace_if_given,
)
from sf_emulator.routes.metadata import metadata_routes

if TYPE_CHECKING:
    from sf_emulator.http.request import Request
    from sf_emulator.runtime import Runtime

define('instance_create_delay', 0.2, float, 'seconds each instance create step (preflight, creating) takes')
define('instance_delete_delay', 0.2, float, 'seconds an instance delete (node_inst_op) executes for')
define('instance_poll', 0.25, float, 'seconds between checks while an instance waits for its image fetches')
define('nvram_size', 65536, int, 'bytes of the NVRAM file of a UEFI instance without an NVRAM template')

HOSTNAME = re.compile(r'^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$')
SIDE_CHANNELS = ('sf-agent', 'sf-agent2')
CREATE_OP = 'node_inst_netdesc_op'
DELETE_OP = 'node_inst_op'


def _get(req: Request, tx: Tx, ref: str, namespace: Any = None) -> Any:
    return find_owned(req, tx, 'instances', ref, 'instance', ACTIVE_STATES, namespace)


def _set_last_op(tx: Tx, instance_uuid: str, op_type: str, op_uuid: str) -> None:
    tx.execute('UPDATE instances SET last_op = ? WHERE uuid = ?',
               (dumps(clusterops.handle(op_type, op_uuid)), instance_uuid))


# --- create -----------------------------------------------------------------------------------------------------
def _validate_scalars(name: Any, cpus: Any, memory: Any, secure_boot: Any, uefi: Any, configdrive: Any,
                      video: Any, metadata: Any, side_channels: Any) -> tuple[str, dict[str, Any], list[str]]:
    if not isinstance(name, str) or not HOSTNAME.match(name):
        raise bad_request(f'instance name {name} is not useable as a DNS and Linux host name. That is, less than '
                          '63 characters and in the character set: a-z, A-Z, 0-9, or hyphen (-).')
    for label, value in (('cpus', cpus), ('memory', memory)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise bad_request(f'{label} must be a positive integer')
    if as_bool(secure_boot) and not as_bool(uefi):
        raise bad_request('secure boot requires UEFI be enabled')
    drive = configdrive or 'openstack-disk'
    if drive not in ('openstack-disk', 'none'):
        raise bad_request(f'invalid config drive type: "{configdrive}"')
    if not video:
        video = {'model': 'cirrus', 'memory': 16384, 'vdi': 'spice'}
    else:
        if not isinstance(video, dict):
            raise bad_request('video specification should be a JSON object')
        for key in ('model', 'memory'):
            if key not in video:
                raise bad_request(f'video specification requires "{key}"')
        video = {**video, 'vdi': video.get('vdi', 'spice')}
    if metadata and not isinstance(metadata, dict):
        raise bad_request('metadata must be a dictionary')
    channels = list(SIDE_CHANNELS) if side_channels is None else side_channels
    if not isinstance(channels, list):
        raise bad_request('side_channels must be a list')
    for channel in channels:
        if channel not in SIDE_CHANNELS:
            raise bad_request(f'{channel} is not a known side channel type')
    return drive, video, channels


@route('POST', '/instances')
def create_instance(
    req: Request,
    name: Any = None,
    cpus: Any = None,
    memory: Any = None,
    network: Any = None,
    disk: Any = None,
    ssh_key: Any = None,
    user_data: Any = None,
    placed_on: Any = None,
    namespace: Any = None,
    video: Any = None,
    uefi: Any = False,
    configdrive: Any = None,
    metadata: Any = None,
    nvram_template: Any = None,
    secure_boot: Any = False,
    side_channels: Any = None,
) -> dict[str, Any]:
    caller = req.namespace
    assert caller is not None
    instance_uuid = str(uuid.uuid4())
    with req.db.write() as tx:
        require_namespace_if_given(tx, namespace)
        target = namespace or caller
        if not trusts(tx, target, caller):
            raise not_found('namespace not found')
        drive, video, channels = _validate_scalars(name, cpus, memory, secure_boot, uefi, configdrive, video,
                                                   metadata, side_channels)
        if placed_on and placed_on != req.config['node_name']:
            raise not_found(f'Specified node {placed_on} does not exist')
        if not disk:
            raise bad_request('instance must specify at least one disk')
        if not isinstance(disk, list):
            raise bad_request('disk specification should be a list')
        spec: list[dict[str, Any]] = []
        fetches: dict[str, str] = {}
        for index, d in enumerate(disk):
            if not isinstance(d, dict):
                raise bad_request('disk specification should contain JSON objects')
            bus = d.get('bus') or 'virtio'
            if bus not in DEVICE_PREFIXES:
                raise bad_request(f'invalid disk bus {bus}')
            resolved = resolve_disk_base(tx, d, caller, target)
            if '_fetch' in resolved:
                fetches[str(index)] = resolved.pop('_fetch')
            spec.append(resolved)
        try:
            plan_block_devices(spec, drive)
        except ValueError as exc:
            raise bad_request(str(exc)) from None
        nvram = resolve_nvram_template(tx, nvram_template, caller, target)
        networks = [check_netdesc(tx, n, target) for n in (network or [])]
        now = time.time()
        tx.execute(
            'INSERT INTO instances (uuid, name, namespace, cpus, memory, disk_spec, block_devices, video, ssh_key, '
            'user_data, uefi, secure_boot, nvram_template, configdrive, machine_type, side_channels, '
            "requested_placement, state, power_state, metadata, created) VALUES (?, ?, ?, ?, ?, ?, '[]', ?, ?, ?, "
            "?, ?, ?, ?, ?, ?, ?, 'initial', 'initial', ?, ?)",
            (instance_uuid, name, target, cpus, memory, dumps(spec), dumps(video), ssh_key, user_data,
             int(as_bool(uefi)), int(as_bool(secure_boot)), nvram, drive, 'q35' if as_bool(secure_boot) else 'pc',
             dumps(channels), placed_on, dumps(metadata or {}), now),
        )
        add_event(tx, 'instance', instance_uuid, 'create request from REST API')
        for position, (netdesc, row) in enumerate(zip(network or [], networks)):
            add_interface(tx, row, instance_uuid, netdesc, position, req.config['floating_netblock'])
        depends_on = []
        for artifact_uuid in sorted(set(fetches.values())):
            art = artifacts.get_artifact(tx, artifact_uuid)
            op_uuid = queue_fetch(tx, req.config, artifact_uuid, art['source_url'], art['namespace'])
            if op_uuid:
                depends_on.append(clusterops.handle('artifact_fetch_op', op_uuid))
        op_uuid = clusterops.create_op(
            tx, CREATE_OP, 'instance', instance_uuid, target, tasks=['instance_preflight', 'instance_start'],
            extra={'instance_uuid': instance_uuid, '_fetch': fetches}, depends_on=depends_on,
            delay=float(req.config['op_delay']),
        )
        _set_last_op(tx, instance_uuid, CREATE_OP, op_uuid)
        return instance_view(tx, get_instance(tx, instance_uuid))


# --- read and delete --------------------------------------------------------------------------------------------
@route('GET', '/instances')
def list_instances(req: Request, all: Any = False) -> list[dict[str, Any]]:  # noqa: A002 - the API's name
    sql, params, clauses = 'SELECT * FROM instances', [], []
    if not req.is_admin:  # trust does not widen this listing
        clauses.append('namespace = ?')
        params.append(req.namespace)
    if not as_bool(all):
        clauses.append("state != 'deleted'")
    if clauses:
        sql += ' WHERE ' + ' AND '.join(clauses)
    with req.db.read() as tx:
        return [instance_view(tx, r) for r in tx.all(sql + ' ORDER BY created', params)]


@route('GET', '/instances/<instance_ref>')
def get_one(req: Request, instance_ref: str, namespace: Any = None) -> dict[str, Any]:
    with req.db.read() as tx:
        return instance_view(tx, _get(req, tx, instance_ref, namespace))


def queue_delete(req: Request, tx: Tx, row: Any, message: str) -> str:
    add_event(tx, 'instance', row['uuid'], message)
    op_uuid = clusterops.create_op(
        tx, DELETE_OP, 'instance', row['uuid'], row['namespace'], tasks=['instance_delete'],
        extra={'instance_uuid': row['uuid']}, delay=float(req.config['op_delay']),
    )
    _set_last_op(tx, row['uuid'], DELETE_OP, op_uuid)
    return op_uuid


@route('DELETE', '/instances/<instance_ref>')
def delete_one(req: Request, instance_ref: str, namespace: Any = None) -> dict[str, Any]:
    with req.db.write() as tx:
        require_namespace_if_given(tx, namespace)
        row = _get(req, tx, instance_ref, namespace)
        if row['state'] == 'deleted':
            raise not_found('instance not found')
        view = instance_view(tx, row)  # the view at the moment of the request: deletion is queued
        queue_delete(req, tx, row, 'delete request from REST API')
        return view


@route('DELETE', '/instances')
def delete_all(req: Request, confirm: Any = False, namespace: Any = None) -> list[str]:
    with req.db.write() as tx:
        require_namespace_if_given(tx, namespace)
        target = bulk_delete_namespace(req, confirm, namespace)
        rows = tx.all("SELECT * FROM instances WHERE namespace = ? AND state != 'deleted' ORDER BY created",
                      (target,))
        for row in rows:
            queue_delete(req, tx, row, 'delete request via delete all from REST API')
        return [r['uuid'] for r in rows]


@route('GET', '/instances/<instance_ref>/interfaces')
def get_interfaces(req: Request, instance_ref: str) -> list[dict[str, Any]]:
    with req.db.read() as tx:
        row = _get(req, tx, instance_ref)
        return [interface_view(r) for r in instance_interfaces(tx, row['uuid'])]


@route('GET', '/instances/<instance_ref>/clusteroperations')
def get_ops(req: Request, instance_ref: str, all: Any = False) -> list[dict[str, Any]]:  # noqa: A002
    with req.db.read() as tx:
        row = _get(req, tx, instance_ref)
        return clusterops.list_for_target(tx, 'instance', row['uuid'], as_bool(all))


@route('GET', '/instances/<instance_ref>/events')
def get_events(req: Request, instance_ref: str, event_type: Any = None, limit: Any = None) -> list[dict[str, Any]]:
    with req.db.read() as tx:
        row = _get(req, tx, instance_ref)
        return list_events(tx, 'instance', row['uuid'], event_type, limit)


def _owned_instance(req: Request, tx: Tx, instance_ref: str) -> str:
    return str(_get(req, tx, instance_ref)['uuid'])


metadata_routes('/instances/<instance_ref>', 'instances', _owned_instance, missing_key='key not found')


# --- the create op ----------------------------------------------------------------------------------------------
def _fail(app: Runtime, instance_uuid: str, message: str) -> None:
    with app.db.write() as tx:
        tx.execute("UPDATE instances SET state = 'error', error_message = ? WHERE uuid = ?", (message, instance_uuid))
        add_event(tx, 'instance', instance_uuid, 'instance creation failed', event_type='status',
                  extra={'error': message})
    raise clusterops.OpFailed(message)


def _preflight(app: Runtime, tx: Tx, row: Any, fetches: dict[str, str]) -> float | str | None:
    """Wait for image fetches, then fix the disks' blobs and record the references. Returns delay or failure."""
    spec = loads(row['disk_spec'], [])
    for index, artifact_uuid in fetches.items():
        art = artifacts.get_artifact(tx, artifact_uuid)
        if art is None or art['state'] == 'deleted':
            return f'the artifact for disk {index} was deleted before the instance started'
        if clusterops.outstanding_for_target(tx, 'artifact', artifact_uuid, 'artifact_fetch_op'):
            return float(app.config['instance_poll'])
        if art['state'] == 'error':
            return f'failed to fetch disk base {art["source_url"]}: {art["error_message"]}'
        blob_uuid = newest_blob(tx, artifact_uuid)
        if art['state'] != 'created' or not blob_uuid:
            return float(app.config['instance_poll'])
        spec[int(index)]['blob_uuid'] = blob_uuid
    for index, d in enumerate(spec):
        if d.get('blob_uuid'):
            blob = get_blob(tx, d['blob_uuid'])
            if blob is None or blob['state'] != 'created':
                return f'blob {d["blob_uuid"]} for disk {index} not found'
            add_blob_ref(tx, d['blob_uuid'], 'disk', 'instance', row['uuid'], str(index))
    if row['nvram_template']:
        if get_blob(tx, row['nvram_template']) is None:
            return f'nvram template blob {row["nvram_template"]} not found'
        add_blob_ref(tx, row['nvram_template'], 'nvram_template', 'instance', row['uuid'], '0')
    devices = plan_block_devices(spec, row['configdrive'])
    tx.execute("UPDATE instances SET disk_spec = ?, block_devices = ?, state = 'creating', node = ? WHERE uuid = ?",
               (dumps(spec), dumps(devices), app.config['node_name'], row['uuid']))
    add_event(tx, 'instance', row['uuid'], 'instance preflight complete', event_type='status')
    return float(app.config['instance_create_delay'])


def _write_disks(app: Runtime, row: Any) -> None:
    """Real files: each disk a copy of its base blob's bytes, blank disks and the config drive empty."""
    directory = instance_dir(app.data_dir, row['uuid'])
    directory.mkdir(parents=True, exist_ok=True)
    for device in loads(row['block_devices'], []):
        target = directory / device['device']
        if device.get('blob_uuid'):
            shutil.copyfile(blob_path(app.blob_dir, device['blob_uuid']), target)
        else:
            target.touch()
    if row['uefi']:
        nvram = directory / 'nvram'
        if row['nvram_template']:
            shutil.copyfile(blob_path(app.blob_dir, row['nvram_template']), nvram)
        else:
            with open(nvram, 'wb') as out:
                out.truncate(int(app.config['nvram_size']))


def run_create(app: Runtime, op: dict[str, Any]) -> float | None:
    instance_uuid = op['target_uuid']
    with app.db.write() as tx:
        row = get_instance(tx, instance_uuid)
        if row is None or row['state'] not in ('initial', 'preflight', 'creating'):
            return None  # deleted (or failed) meanwhile
        if row['state'] == 'initial':
            tx.execute("UPDATE instances SET state = 'preflight' WHERE uuid = ?", (instance_uuid,))
            return float(app.config['instance_create_delay'])
        if row['state'] == 'preflight':
            outcome = _preflight(app, tx, row, op['extra'].get('_fetch', {}))
            if not isinstance(outcome, str):
                return outcome
    if row['state'] == 'preflight':
        _fail(app, instance_uuid, outcome)
    try:
        _write_disks(app, row)
    except OSError as exc:
        remove_instance_files(app.data_dir, instance_uuid)
        _fail(app, instance_uuid, f'creating the instance disks failed: {exc}')
    with app.db.write() as tx:
        current = get_instance(tx, instance_uuid)
        if current is None or current['state'] != 'creating':
            tx.after_commit(lambda: remove_instance_files(app.data_dir, instance_uuid))
            return None
        tx.execute(
            "UPDATE instances SET state = 'created', power_state = 'on', console_port = ?, vdi_port = ? "
            'WHERE uuid = ?',
            (random.randint(30000, 39999), random.randint(40000, 49999), instance_uuid),
        )
        set_instance_interfaces_state(tx, instance_uuid, 'created')
        add_event(tx, 'instance', instance_uuid, 'instance created', event_type='status')
    return None


def run_delete(app: Runtime, op: dict[str, Any]) -> float | None:
    instance_uuid = op['target_uuid']
    with app.db.write() as tx:
        row = get_instance(tx, instance_uuid)
        if row is None or row['state'] == 'deleted':
            return None
        tx.execute("UPDATE instances SET state = 'deleted', power_state = 'off' WHERE uuid = ?", (instance_uuid,))
        remove_blob_refs(tx, 'instance', instance_uuid)
        set_instance_interfaces_state(tx, instance_uuid, 'deleted')
        add_event(tx, 'instance', instance_uuid, 'instance deleted', event_type='status')
        tx.after_commit(lambda: remove_instance_files(app.data_dir, instance_uuid))
    return None


clusterops.register_op_runner(CREATE_OP, run_create, 'instance_create_delay')
clusterops.register_op_runner(DELETE_OP, run_delete, 'instance_delete_delay')


def _instance_namespace(tx: Tx, instance_uuid: str) -> str | None:
    return tx.scalar('SELECT namespace FROM instances WHERE uuid = ?', (instance_uuid,))


clusterops.register_target('instance', _instance_namespace)


def _refuse_namespace_delete(tx: Tx, namespace: str) -> None:
    live = tx.scalar("SELECT COUNT(*) FROM instances WHERE namespace = ? AND state NOT IN ('deleted', 'error')",
                     (namespace,))
    if live:
        raise bad_request('you cannot delete a namespace with instances')


HOOKS.namespace_delete_checks.insert(0, _refuse_namespace_delete)  # instances are checked before networks
