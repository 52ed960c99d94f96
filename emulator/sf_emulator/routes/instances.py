"""`/instances...`: create (disk bases per C.6), list, get, delete, delete-all, interfaces, metadata, events, ops.

Creation is asynchronous, like the server: the instance is `initial` until its `node_inst_netdesc_op` has moved
it through `preflight` and `creating` to `created` (or `error`). Deleting queues a `node_inst_op`; the instance is
`deleted` when it has run. Both ops run in jobs/instance_ops.py.
"""

from __future__ import annotations

import re
import time
import uuid
from typing import TYPE_CHECKING, Any

from sf_emulator.db import Tx, dumps
from sf_emulator.errors import bad_request, not_found
from sf_emulator.hooks import HOOKS
from sf_emulator.http.router import route
from sf_emulator.jobs import clusterops
from sf_emulator.jobs.fetch import queue_fetch
from sf_emulator.jobs.instance_ops import CREATE_OP, queue_delete
from sf_emulator.models import artifacts
from sf_emulator.models.disk_bases import resolve_disk_base, resolve_nvram_template
from sf_emulator.models.events import add_event, list_events
from sf_emulator.models.instances import (
    ACTIVE_STATES,
    DEVICE_PREFIXES,
    check_metadata_value,
    get_instance,
    instance_view,
    plan_block_devices,
)
from sf_emulator.models.metadata import check_item
from sf_emulator.models.namespaces import SYSTEM, trusts
from sf_emulator.models.networks import add_interface, check_netdesc, instance_interfaces, interface_view
from sf_emulator.routes.compute_common import as_bool, bulk_delete_namespace, find_owned, require_namespace_if_given
from sf_emulator.routes.metadata import metadata_routes

if TYPE_CHECKING:
    from sf_emulator.http.request import Request
    from sf_emulator.profiles import ServerProfile

HOSTNAME = re.compile(r'^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$')
SIDE_CHANNELS = ('sf-agent', 'sf-agent2')


def _get(req: Request, tx: Tx, ref: str, namespace: Any = None) -> Any:
    return find_owned(req, tx, 'instances', ref, 'instance', ACTIVE_STATES, namespace)


def _set_last_op(tx: Tx, instance_uuid: str, op_type: str, op_uuid: str) -> None:
    tx.execute('UPDATE instances SET last_op = ? WHERE uuid = ?',
               (dumps(clusterops.handle(op_type, op_uuid)), instance_uuid))


# --- create -----------------------------------------------------------------------------------------------------
def _check_size(profile: ServerProfile, label: str, value: Any) -> None:
    """Positive integers where the profile checks them; 0.7.2 only fails when its scheduler compares a value that
    is no number (Python's TypeError, which its wrapper answers as a 400)."""
    if profile.instance_sizes_checked:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise bad_request(f'{label} must be a positive integer')
    elif not isinstance(value, (int, float)):
        raise bad_request(f"'>' not supported between instances of '{type(value).__name__}' and 'int'")


def _validate_scalars(profile: ServerProfile, name: Any, cpus: Any, memory: Any, secure_boot: Any, uefi: Any,
                      configdrive: Any, video: Any, metadata: Any,
                      side_channels: Any) -> tuple[str, dict[str, Any], list[str]]:
    if not isinstance(name, str) or not HOSTNAME.match(name):
        raise bad_request(f'instance name {name} is not useable as a DNS and Linux host name. That is, less than '
                          '63 characters and in the character set: a-z, A-Z, 0-9, or hyphen (-).')
    for label, value in (('cpus', cpus), ('memory', memory)):
        _check_size(profile, label, value)
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
    if metadata and profile.instance_metadata_rules:  # each key as the metadata routes check it
        for key, value in metadata.items():
            check_item(profile, key, value)
            check_metadata_value(profile, key, value)
    channels = list(profile.instance_side_channels_default) if side_channels is None else side_channels
    if profile.instance_side_channels_checked:
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
        drive, video, channels = _validate_scalars(req.app.profile, name, cpus, memory, secure_boot, uefi,
                                                   configdrive, video, metadata, side_channels)
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
            "requested_placement, state, power_state, metadata, node, created) VALUES (?, ?, ?, ?, ?, ?, '[]', ?, ?, "
            "?, ?, ?, ?, ?, ?, ?, ?, 'initial', 'initial', ?, ?, ?)",
            (instance_uuid, name, target, cpus, memory, dumps(spec), dumps(video), ssh_key, user_data,
             int(as_bool(uefi)), int(as_bool(secure_boot)), nvram, drive, 'q35' if as_bool(secure_boot) else 'pc',
             dumps(channels), placed_on, dumps(metadata or {}),
             req.config['node_name'] if req.app.profile.instance_placed_at_create else None, now),
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
        return instance_view(tx, req.app.profile, get_instance(tx, instance_uuid))


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
        return [instance_view(tx, req.app.profile, r) for r in tx.all(sql + ' ORDER BY created', params)]


@route('GET', '/instances/<instance_ref>')
def get_one(req: Request, instance_ref: str, namespace: Any = None) -> dict[str, Any]:
    with req.db.read() as tx:
        return instance_view(tx, req.app.profile, _get(req, tx, instance_ref, namespace))


@route('DELETE', '/instances/<instance_ref>')
def delete_one(req: Request, instance_ref: str, namespace: Any = None) -> dict[str, Any]:
    with req.db.write() as tx:
        require_namespace_if_given(tx, namespace)
        row = _get(req, tx, instance_ref, namespace)
        if row['state'] == 'deleted':
            raise not_found('instance not found')
        view = instance_view(tx, req.app.profile, row)  # the view at the moment of the request: deletion is queued
        queue_delete(tx, req.config, row, 'delete request from REST API')
        return view


@route('DELETE', '/instances')
def delete_all(req: Request, confirm: Any = False, namespace: Any = None) -> list[str]:
    """Queue the delete of every instance of a namespace. Where the profile says so (0.7.2), deleted instances
    are taken (and listed) too, and system's namespace means every namespace."""
    profile = req.app.profile
    with req.db.write() as tx:
        require_namespace_if_given(tx, namespace)
        target = bulk_delete_namespace(req, confirm, namespace)
        clauses, params = [], []
        if not (profile.bulk_deletes_system_means_all and target == SYSTEM):
            clauses.append('namespace = ?')
            params.append(target)
        if not profile.bulk_instance_delete_lists_deleted:
            clauses.append("state != 'deleted'")
        where = f' WHERE {" AND ".join(clauses)}' if clauses else ''
        rows = tx.all(f'SELECT * FROM instances{where} ORDER BY created', params)  # noqa: S608
        for row in rows:
            queue_delete(tx, req.config, row, 'delete request via delete all from REST API')
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
        return list_events(tx, req.app.profile, 'instance', row['uuid'], event_type, limit)


def _owned_instance(req: Request, tx: Tx, instance_ref: str) -> str:
    return str(_get(req, tx, instance_ref)['uuid'])


metadata_routes('/instances/<instance_ref>', 'instances', _owned_instance, missing_key='key not found',
                check=check_metadata_value)


def _refuse_namespace_delete(tx: Tx, namespace: str) -> None:
    live = tx.scalar("SELECT COUNT(*) FROM instances WHERE namespace = ? AND state NOT IN ('deleted', 'error')",
                     (namespace,))
    if live:
        raise bad_request('you cannot delete a namespace with instances')


HOOKS.namespace_delete_checks.insert(0, _refuse_namespace_delete)  # instances are checked before networks
