"""`/networks...`: create, list, get, delete (202 with a `net_op` handle), delete-all, interfaces, metadata.

A network is `initial` until its `net_op` (`network_deploy`) completes, then `created`. Deleting queues a `net_op`
(`network_apply_delete_network_node`); while instances still have interfaces on the network it sits in
`delete_wait` and the op stays `executing`, finishing once the last interface is gone (jobs/network_ops.py).
"""

from __future__ import annotations

import contextlib
import ipaddress
import time
import uuid
from typing import TYPE_CHECKING, Any

from sf_emulator.db import Tx, dumps
from sf_emulator.errors import ApiError, bad_request, forbidden, not_found, unauthorized
from sf_emulator.hooks import HOOKS
from sf_emulator.http.responses import Response
from sf_emulator.http.router import route
from sf_emulator.jobs import clusterops
from sf_emulator.jobs.network_ops import DEPLOY, DESTROY
from sf_emulator.models.events import add_event, list_events
from sf_emulator.models.namespaces import SYSTEM
from sf_emulator.models.networks import (
    ACTIVE_STATES,
    DEAD_STATES,
    FLOATING_NETWORK_UUID,
    allocate_floating,
    interface_view,
    live_interfaces,
    network_listing_entry,
    network_view,
    new_vxid,
)
from sf_emulator.routes.compute_common import as_bool, bulk_delete_namespace, find_owned, require_namespace_if_given
from sf_emulator.routes.metadata import metadata_routes

if TYPE_CHECKING:
    from sf_emulator.http.request import Request


def _get(req: Request, tx: Tx, ref: str, namespace: Any = None) -> Any:
    return find_owned(req, tx, 'networks', ref, 'network', ACTIVE_STATES, namespace)


def _queue_op(req: Request, tx: Tx, row: Any, task: str) -> str:
    op_uuid = clusterops.create_op(
        tx, 'net_op', 'network', row['uuid'], row['namespace'], tasks=[task],
        extra={'network_uuid': row['uuid']}, delay=float(req.config['op_delay']),
    )
    tx.execute('UPDATE networks SET last_op = ? WHERE uuid = ?',
               (dumps(clusterops.handle('net_op', op_uuid)), row['uuid']))
    return op_uuid


@route('GET', '/networks')
def list_networks(req: Request, all: Any = False) -> list[dict[str, Any]]:  # noqa: A002 - the API's name
    sql, params = 'SELECT * FROM networks', []
    clauses = []
    if not req.is_admin:  # trust does not widen this listing
        clauses.append('namespace = ?')
        params.append(req.namespace)
    if not as_bool(all):
        clauses.append("state != 'deleted'")
    if clauses:
        sql += ' WHERE ' + ' AND '.join(clauses)
    with req.db.read() as tx:
        return [network_listing_entry(req.app.profile, r) for r in tx.all(sql + ' ORDER BY created', params)]


@route('POST', '/networks')
def create_network(
    req: Request,
    netblock: Any = None,
    provide_dhcp: Any = None,
    provide_nat: Any = None,
    name: Any = None,
    namespace: Any = None,
    provide_dns: Any = None,
) -> dict[str, Any]:
    # None means "not given" and takes the profile's default (0.7.2 has none: null); an explicit false is honoured.
    default = req.app.profile.network_flags_default
    dhcp = default if provide_dhcp is None else as_bool(provide_dhcp)
    nat = default if provide_nat is None else as_bool(provide_nat)
    dns = False if provide_dns is None else as_bool(provide_dns)
    try:
        block = ipaddress.ip_network(str(netblock), strict=False) if netblock is not None else None
    except ValueError as exc:
        raise bad_request(f'cannot parse netblock: {exc}') from None
    if block is None:
        raise bad_request('cannot parse netblock: no netblock specified')
    if block.num_addresses < 8:
        raise bad_request('network is below minimum size of /29')
    with req.db.write() as tx:
        require_namespace_if_given(tx, namespace)
        target = namespace or req.namespace
        if req.namespace not in (target, 'system'):
            raise unauthorized('only admins can create resources in a different namespace')
        network_uuid = str(uuid.uuid4())
        gateway = allocate_floating(tx, req.config['floating_netblock']) if nat else None
        tx.execute(
            'INSERT INTO networks (uuid, name, namespace, netblock, provide_dhcp, provide_nat, provide_dns, state, '
            "vxid, floating_gateway, metadata, created) VALUES (?, ?, ?, ?, ?, ?, ?, 'initial', ?, ?, ?, ?)",
            (network_uuid, name, target, str(block), _column(dhcp), _column(nat), int(dns), new_vxid(tx), gateway,
             dumps({}), time.time()),
        )
        row = tx.one('SELECT * FROM networks WHERE uuid = ?', (network_uuid,))
        add_event(tx, 'network', network_uuid, 'create request from REST API')
        _queue_op(req, tx, row, DEPLOY)
        return network_view(req.app.profile, tx.one('SELECT * FROM networks WHERE uuid = ?', (network_uuid,)))


def _column(flag: bool | None) -> int | None:
    return None if flag is None else int(flag)


@route('GET', '/networks/<network_ref>')
def get_network(req: Request, network_ref: str, namespace: Any = None) -> dict[str, Any]:
    with req.db.read() as tx:
        return network_view(req.app.profile, _get(req, tx, network_ref, namespace))


def _start_delete(req: Request, tx: Tx, row: Any, wait_for_interfaces: bool) -> str:
    """`_delete_network`: queue the delete op; 404 for a network that is already dead (delete-wait may retry).
    With interfaces left, the network waits for them in the profile's delete-wait state."""
    if row['state'] in ('deleted', 'error'):
        raise not_found('network is deleted')
    add_event(tx, 'network', row['uuid'], 'delete request from REST API')
    if wait_for_interfaces:
        tx.execute('UPDATE networks SET state = ? WHERE uuid = ?', (req.app.profile.delete_wait_state, row['uuid']))
    return _queue_op(req, tx, row, DESTROY)


@route('DELETE', '/networks/<network_ref>')
def delete_network(req: Request, network_ref: str, namespace: Any = None) -> Any:
    """Newest: 202 with the op handle. 0.7.2: 200 with the view after the request (delete-wait while interfaces
    remain), 200 null for a network already deleted; its `_delete_network` errors (a network in `error`) are
    dropped, so those answer the view too."""
    if network_ref == FLOATING_NETWORK_UUID or network_ref == 'floating':
        raise forbidden('you cannot delete the floating network')
    profile = req.app.profile
    with req.db.write() as tx:
        require_namespace_if_given(tx, namespace)
        row = _get(req, tx, network_ref, namespace)
        busy = bool(live_interfaces(tx, row['uuid']))
        if profile.network_delete_answer != 'view':
            op_uuid = _start_delete(req, tx, row, busy)
            return Response(clusterops.handle('net_op', op_uuid), status=202)
        if row['state'] == 'deleted':
            return None
        with contextlib.suppress(ApiError):
            _start_delete(req, tx, row, busy)
        return network_view(profile, tx.one('SELECT * FROM networks WHERE uuid = ?', (row['uuid'],)))


def _bulk_candidates(req: Request, tx: Tx, target: str) -> list[Any]:
    """The networks `DELETE /networks` takes: newest, those of the namespace not yet dying; 0.7.2, every active
    one (delete-wait included), of every namespace when the target is system."""
    profile = req.app.profile
    states = ACTIVE_STATES if profile.bulk_network_delete_takes_dying else ('initial', 'created', 'error')
    sql = f'SELECT * FROM networks WHERE state IN ({",".join("?" for _ in states)})'  # noqa: S608
    params: list[Any] = list(states)
    if not (profile.bulk_deletes_system_means_all and target == SYSTEM):
        sql += ' AND namespace = ?'
        params.append(target)
    return tx.all(sql + ' ORDER BY created', params)


@route('DELETE', '/networks')
def delete_all_networks(req: Request, confirm: Any = False, namespace: Any = None, clean_wait: Any = False) -> Any:
    """Every network of the namespace: busy ones only with clean_wait (else listed in `unable`, and the answer is
    a 403 that keeps the deletes already queued). Newest answers 202 with op handles, 0.7.2 200 with UUIDs."""
    profile = req.app.profile
    uuids_only = profile.bulk_network_delete_answer == 'uuids'
    with req.db.write() as tx:
        require_namespace_if_given(tx, namespace)
        target = bulk_delete_namespace(req, confirm, namespace)
        deleted: list[Any] = []
        unable: list[str] = []
        for row in _bulk_candidates(req, tx, target):
            busy = bool(live_interfaces(tx, row['uuid']))
            if busy and not as_bool(clean_wait):
                unable.append(row['uuid'])
                continue
            if row['state'] == 'error' and not profile.bulk_network_delete_takes_dying:
                continue  # dead already: nothing to queue
            try:
                op_uuid: str | None = _start_delete(req, tx, row, busy)
            except ApiError:  # 0.7.2 drops `_delete_network`'s 404 (an `error` network) and lists it all the same
                op_uuid = None
            deleted.append(row['uuid'] if uuids_only else {'network_uuid': row['uuid'], 'op_type': 'net_op',
                                                           'op_uuid': op_uuid})
    if unable:
        raise ApiError(403, {'deleted': deleted, 'unable': unable})
    return deleted if uuids_only else Response(deleted, status=202)


@route('GET', '/networks/<network_ref>/interfaces')
def get_network_interfaces(req: Request, network_ref: str) -> list[dict[str, Any]]:
    with req.db.read() as tx:
        row = _get(req, tx, network_ref)
        return [interface_view(r) for r in live_interfaces(tx, row['uuid'])]


@route('GET', '/networks/<network_ref>/events')
def get_network_events(req: Request, network_ref: str, event_type: Any = None, limit: Any = None) -> list[Any]:
    with req.db.read() as tx:
        return list_events(tx, req.app.profile, 'network', _get(req, tx, network_ref)['uuid'], event_type, limit)


@route('GET', '/networks/<network_ref>/clusteroperations')
def get_network_ops(req: Request, network_ref: str, all: Any = False) -> list[dict[str, Any]]:  # noqa: A002
    with req.db.read() as tx:
        row = _get(req, tx, network_ref)
        return clusterops.list_for_target(tx, 'network', row['uuid'], as_bool(all))


def _owned_network(req: Request, tx: Tx, network_ref: str) -> str:
    return str(_get(req, tx, network_ref)['uuid'])


metadata_routes('/networks/<network_ref>', 'networks', _owned_network, name='network_metadata',
                missing_key='key not found')


def _refuse_namespace_delete(tx: Tx, namespace: str) -> None:
    marks = ','.join('?' for _ in DEAD_STATES)
    live = tx.scalar(
        f'SELECT COUNT(*) FROM networks WHERE namespace = ? AND state NOT IN ({marks})',  # noqa: S608
        (namespace, *DEAD_STATES),
    )
    if live:
        raise bad_request('you cannot delete a namespace with networks')


HOOKS.namespace_delete_checks.append(_refuse_namespace_delete)
