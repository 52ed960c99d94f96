"""Small rules shared by instances and networks: ref lookup, ownership, bulk-delete namespace checks."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from sf_emulator.db import Tx
from sf_emulator.errors import bad_request, not_found, unauthorized
from sf_emulator.models.namespaces import SYSTEM, get_namespace

if TYPE_CHECKING:
    from sf_emulator.http.request import Request


def is_uuid(ref: str) -> bool:
    try:
        return str(uuid.UUID(ref)) == ref.lower()
    except (ValueError, AttributeError, TypeError):
        return False


def as_bool(value: Any) -> bool:
    """JSON booleans from bodies, strings from query parameters."""
    if isinstance(value, str):
        return value.strip().lower() in ('1', 'true', 'yes', 'on')
    return bool(value)


def require_namespace_if_given(tx: Tx, namespace: Any) -> None:
    """`requires_namespace_exist_if_specified`: a named namespace must exist."""
    if namespace and (not isinstance(namespace, str) or get_namespace(tx, namespace) is None):
        raise not_found('namespace not found')


def find_owned(
    req: Request, tx: Tx, table: str, ref: str, kind: str, active_states: tuple[str, ...], namespace: Any = None
) -> Any:
    """Resolve an instance or network ref the way the server does for `requires_*_ownership`.

    A UUID finds the object in any state (deleted ones until hard delete); a name searches active objects in the
    caller's namespace (system: every namespace). `namespace` narrows both; non-system callers may only name
    their own. Anything the caller does not own is a 404, never a 403.
    """
    if namespace is not None and not isinstance(namespace, str):
        raise bad_request('namespace must be a string')
    if namespace and not req.is_admin and namespace != req.namespace:
        raise not_found(f'{kind} not found')
    if is_uuid(ref):
        row = tx.one(f'SELECT * FROM {table} WHERE uuid = ?', (ref.lower(),))  # noqa: S608 - fixed table names
        matches = [row] if row is not None else []
    else:
        marks = ','.join('?' for _ in active_states)
        scope = namespace or (None if req.is_admin else req.namespace)
        sql = f'SELECT * FROM {table} WHERE name = ? AND state IN ({marks})'  # noqa: S608
        params: list[Any] = [ref, *active_states]
        if scope:
            sql += ' AND namespace = ?'
            params.append(scope)
        matches = tx.all(sql + ' ORDER BY created', params)
        if len(matches) > 1:
            raise bad_request(f'multiple {kind}s have the name "{ref}" in namespace "{scope or SYSTEM}"')
    if not matches:
        raise not_found(f'{kind} not found')
    row = matches[0]
    if not req.is_admin and row['namespace'] != req.namespace:
        raise not_found(f'{kind} not found')
    if namespace and row['namespace'] != namespace:
        raise not_found(f'{kind} not found')
    return row


def bulk_delete_namespace(req: Request, confirm: Any, namespace: Any) -> str:
    """The checks every `DELETE /<collection>` shares; returns the namespace to empty."""
    if confirm is not True:
        raise bad_request('parameter confirm is not set true')
    if req.is_admin:
        if not isinstance(namespace, str):
            raise bad_request('system user must specify parameter namespace')
        return namespace
    if namespace and namespace != req.namespace:
        raise unauthorized('you cannot delete other namespaces')
    assert req.namespace is not None
    return req.namespace
