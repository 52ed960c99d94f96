"""`/clusteroperations...`: read cluster operations, one, a chain of them, or all of one target (jobs/clusterops.py
records and runs them)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sf_emulator.db import Tx
from sf_emulator.errors import bad_request, forbidden, not_found
from sf_emulator.http.router import route
from sf_emulator.jobs.clusterops import MAX_CHAIN_NODES, OP_TYPES, get_op, list_for_target, op_view, target_resolver

if TYPE_CHECKING:
    from sf_emulator.http.request import Request


def _target_namespace(tx: Tx, op: dict[str, Any]) -> str | None:
    """The namespace owning the op's target now, falling back to the one recorded when the op was made."""
    resolver = target_resolver(op['target_type'])
    if resolver is not None:
        found = resolver(tx, op['target_uuid'])
        if found is not None:
            return found or None
    return op['namespace']


def _check_visible(req: Request, tx: Tx, op: dict[str, Any], what: str) -> None:
    if req.is_admin:
        return
    owner = _target_namespace(tx, op)
    if owner is None:
        raise forbidden(f'{what} includes a cluster-scoped target you cannot see')
    if owner != req.namespace:
        raise forbidden(f'{what} belongs to a foreign namespace')


# The chain route must be registered before the generic two-segment one: 'chain' would match <operation_uuid>.
@route('GET', '/clusteroperations/<op_uuid>/chain')
def get_chain(req: Request, op_uuid: str) -> list[dict[str, Any]]:
    with req.db.read() as tx:
        root = get_op(tx, op_uuid)
        if root is None:
            raise not_found('operation not found')
        visited = {op_uuid: root}
        queue = [op_uuid]
        while queue:
            if len(visited) > MAX_CHAIN_NODES:
                raise bad_request(f'cluster operation chain exceeds maximum size of {MAX_CHAIN_NODES} nodes')
            current = visited[queue.pop(0)]
            _check_visible(req, tx, current, 'cluster operation chain')
            for dep in current['depends_on']:
                if not isinstance(dep, dict) or not dep.get('op_uuid'):
                    raise bad_request('malformed depends_on entry')
                if dep['op_uuid'] in visited:
                    continue
                found = get_op(tx, dep['op_uuid'])
                if found is None:
                    continue  # pruned ancestors are skipped, as the server does
                visited[found['uuid']] = found
                queue.append(found['uuid'])
        ordered = sorted(visited.values(), key=lambda op: op['created'], reverse=True)
        return [op_view(op) for op in ordered]


@route('GET', '/clusteroperations/<operation_type>/<operation_uuid>')
def get_operation(req: Request, operation_type: str, operation_uuid: str) -> dict[str, Any]:
    if operation_type not in OP_TYPES:
        raise not_found('operation type not found')
    with req.db.read() as tx:
        op = get_op(tx, operation_uuid)
        if op is None or op['op_type'] != operation_type:
            raise not_found('operation not found')
        _check_visible(req, tx, op, 'cluster operation')
        return op_view(op)


@route('GET', '/clusteroperations')
def list_operations(req: Request, target_object_type: Any = None, target_uuid: Any = None) -> list[dict[str, Any]]:
    if not target_object_type:
        raise bad_request('target_object_type parameter is required')
    if not target_uuid:
        raise bad_request('target_uuid parameter is required')
    resolver = target_resolver(str(target_object_type))
    if resolver is None:
        raise bad_request(f'invalid target_object_type: {target_object_type!r}')
    with req.db.read() as tx:
        owner = resolver(tx, str(target_uuid))
        if owner is None:
            raise not_found('target object not found')
        if not req.is_admin and owner != req.namespace:
            raise forbidden('target object is in a namespace you cannot see')
        return list_for_target(tx, str(target_object_type), str(target_uuid), include_all=True)


def coerce_bool(value: Any) -> bool:
    """Body booleans arrive as JSON; query ones as strings."""
    if isinstance(value, str):
        return value.lower() in ('1', 'true', 'yes', 'on')
    return bool(value)
