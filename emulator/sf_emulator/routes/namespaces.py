"""`/auth/namespaces...`: namespaces, keys, trusts and namespace metadata."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sf_emulator.db import Tx, dumps
from sf_emulator.errors import bad_request, forbidden, not_found
from sf_emulator.hooks import HOOKS
from sf_emulator.http.router import route
from sf_emulator.models.namespaces import (
    SYSTEM,
    create_namespace,
    get_namespace,
    namespace_view,
    require_visible_namespace,
    set_key,
    trusted_by,
    validate_expiry,
    validate_key_name,
    validate_secret,
)
from sf_emulator.routes.metadata import metadata_routes
from sf_emulator.security import generated_key_secret

if TYPE_CHECKING:
    from sf_emulator.http.request import Request


@route('GET', '/auth/namespaces')
def list_namespaces(req: Request) -> list[dict[str, Any]]:
    with req.db.read() as tx:
        rows = tx.all("SELECT * FROM namespaces WHERE state = 'created' ORDER BY name")
        visible = [r for r in rows if req.is_admin or r['name'] == req.namespace or req.namespace in trusted_by(r)]
        return [namespace_view(tx, req.app.profile, r) for r in visible]


@route('POST', '/auth/namespaces', admin=True)
def create(req: Request, namespace: Any = None, key_name: Any = None, key: Any = None) -> dict[str, Any]:
    if not namespace or not isinstance(namespace, str):
        raise bad_request('no namespace specified')
    if '/' in namespace or ':' in namespace:
        raise bad_request('namespace names must not contain "/" or ":"')
    # Validate the optional first key before creating anything (the intended behaviour; see README).
    if key_name is not None:
        validate_key_name(key_name)
        validate_secret(key)
    with req.db.write() as tx:
        if get_namespace(tx, namespace) is not None:
            raise forbidden('namespace exists')
        tx.execute('DELETE FROM namespace_keys WHERE namespace = ?', (namespace,))  # leftovers of a deleted one
        create_namespace(tx, namespace)
        if key_name is not None:
            set_key(tx, namespace, key_name, key)
        return namespace_view(tx, req.app.profile, get_namespace(tx, namespace))


@route('GET', '/auth/namespaces/<namespace>')
def get_one(req: Request, namespace: str) -> dict[str, Any]:
    with req.db.read() as tx:
        return namespace_view(tx, req.app.profile, require_visible_namespace(tx, namespace, req.namespace))


@route('DELETE', '/auth/namespaces/<namespace>', admin=True)
def delete(req: Request, namespace: str) -> None:
    from sf_emulator.models.artifacts import delete_artifact

    if namespace == SYSTEM:
        raise forbidden('you cannot delete the system namespace')
    with req.db.write() as tx:
        if get_namespace(tx, namespace) is None:
            raise not_found('namespace not found')
        for check in HOOKS.namespace_delete_checks:
            check(tx, namespace)
        owned = tx.all(
            "SELECT uuid FROM artifacts WHERE namespace = ? AND state != 'deleted'", (namespace,)
        )
        for row in owned:
            delete_artifact(tx, row['uuid'])
        for action in HOOKS.namespace_delete_actions:
            action(tx, namespace)
        tx.execute("UPDATE namespaces SET state = 'deleted' WHERE name = ?", (namespace,))
        tx.execute('DELETE FROM namespace_keys WHERE namespace = ?', (namespace,))


@route('GET', '/auth/namespaces/<namespace>/keys')
def list_keys(req: Request, namespace: str) -> list[str]:
    with req.db.read() as tx:
        require_visible_namespace(tx, namespace, req.namespace)
        return [r['name'] for r in tx.all('SELECT name FROM namespace_keys WHERE namespace = ? ORDER BY name',
                                          (namespace,))]


@route('POST', '/auth/namespaces/<namespace>/keys')
def add_key(req: Request, namespace: str, key_name: Any = None, key: Any = None, expiry: Any = None) -> Any:
    """Add a key, or replace one of the same name; no secret means the server generates one (shown once)."""
    validate_key_name(key_name)
    generated = key is None
    secret = generated_key_secret() if generated else validate_secret(key)
    when = validate_expiry(expiry)
    with req.db.write() as tx:
        require_visible_namespace(tx, namespace, req.namespace)
        set_key(tx, namespace, key_name, secret, when)
    return {'key_name': key_name, 'key': secret} if generated else key_name


@route('PUT', '/auth/namespaces/<namespace>/keys/<key_name>', admin=True)
def update_key(req: Request, namespace: str, key_name: str, key: Any = None, expiry: Any = None) -> str:
    secret = validate_secret(key)
    when = validate_expiry(expiry)
    with req.db.write() as tx:
        require_visible_namespace(tx, namespace, req.namespace)
        if tx.one('SELECT 1 FROM namespace_keys WHERE namespace = ? AND name = ?', (namespace, key_name)) is None:
            raise not_found('key does not exist')
        set_key(tx, namespace, key_name, secret, when)
    return key_name


@route('DELETE', '/auth/namespaces/<namespace>/keys/<key_name>')
def delete_key(req: Request, namespace: str, key_name: str) -> None:
    with req.db.write() as tx:
        require_visible_namespace(tx, namespace, req.namespace)
        gone = tx.execute('DELETE FROM namespace_keys WHERE namespace = ? AND name = ?', (namespace, key_name))
        if gone.rowcount == 0:
            raise not_found('key name not found in namespace')


@route('POST', '/auth/namespaces/<namespace>/trust')
def add_trust(req: Request, namespace: str, external_namespace: Any = None) -> dict[str, Any]:
    if not external_namespace or not isinstance(external_namespace, str):
        raise bad_request('no external namespace specified')
    with req.db.write() as tx:
        row = require_visible_namespace(tx, namespace, req.namespace)
        trust = trusted_by(row)
        if external_namespace not in trust:
            trust.append(external_namespace)
            tx.execute('UPDATE namespaces SET trust = ? WHERE name = ?', (dumps(trust), namespace))
        return namespace_view(tx, req.app.profile, get_namespace(tx, namespace))


@route('DELETE', '/auth/namespaces/<namespace>/trust/<external_namespace>')
def remove_trust(req: Request, namespace: str, external_namespace: str) -> dict[str, Any]:
    with req.db.write() as tx:
        row = require_visible_namespace(tx, namespace, req.namespace)
        trust = trusted_by(row)
        if external_namespace != SYSTEM and external_namespace in trust:  # system can never be removed
            trust.remove(external_namespace)
            tx.execute('UPDATE namespaces SET trust = ? WHERE name = ?', (dumps(trust), namespace))
        return namespace_view(tx, req.app.profile, get_namespace(tx, namespace))


def _visible_namespace(req: Request, tx: Tx, namespace: str) -> str:
    return str(require_visible_namespace(tx, namespace, req.namespace)['name'])


metadata_routes('/auth/namespaces/<namespace>', 'namespaces', _visible_namespace)
