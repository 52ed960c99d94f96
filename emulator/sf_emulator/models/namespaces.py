"""Namespaces, their keys and trusts: tables and the rules shared by auth and the namespace routes."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from sf_emulator.db import Tx, dumps, loads, register_schema
from sf_emulator.errors import ApiError, bad_request, forbidden, not_found
from sf_emulator.security import hash_secret, new_nonce

if TYPE_CHECKING:
    from sf_emulator.profiles import ServerProfile

register_schema(
    'namespaces',
    '''
    CREATE TABLE IF NOT EXISTS namespaces (
        name TEXT PRIMARY KEY,
        state TEXT NOT NULL,
        trust TEXT NOT NULL,
        metadata TEXT NOT NULL,
        created REAL NOT NULL
    );
    CREATE TABLE IF NOT EXISTS namespace_keys (
        namespace TEXT NOT NULL,
        name TEXT NOT NULL,
        hash TEXT NOT NULL,
        nonce TEXT NOT NULL,
        expiry REAL,
        created REAL NOT NULL,
        PRIMARY KEY (namespace, name)
    );
    ''',
)

SYSTEM = 'system'
MAX_SECRET_LENGTH = 72


def get_namespace(tx: Tx, name: str) -> Any:
    """The active namespace row, or None (deleted namespaces do not exist for the API)."""
    return tx.one("SELECT * FROM namespaces WHERE name = ? AND state = 'created'", (name,))


def trusted_by(row: Any) -> list[str]:
    return list(loads(row['trust'], []))


def trusts(tx: Tx, namespace: str, caller: str) -> bool:
    """Does `namespace` trust `caller` (its own namespace and system always count)?"""
    if caller in (namespace, SYSTEM):
        return get_namespace(tx, namespace) is not None
    row = get_namespace(tx, namespace)
    return row is not None and caller in trusted_by(row)


def namespaces_trusting(tx: Tx, caller: str) -> list[str]:
    """Names of active namespaces whose artifacts `caller` may see (own included; system sees every one)."""
    rows = tx.all("SELECT name, trust FROM namespaces WHERE state = 'created'")
    if caller == SYSTEM:
        return [r['name'] for r in rows]
    return [r['name'] for r in rows if r['name'] == caller or caller in loads(r['trust'], [])]


def require_visible_namespace(tx: Tx, namespace: str, caller: str) -> Any:
    """The namespace row if it exists and trusts the caller; 404 otherwise (never leaks existence)."""
    row = get_namespace(tx, namespace)
    if row is None or not (caller in (namespace, SYSTEM) or caller in trusted_by(row)):
        raise not_found('namespace not found')
    return row


def namespace_view(tx: Tx, profile: ServerProfile, row: Any) -> dict[str, Any]:
    keys = [r['name'] for r in tx.all('SELECT name FROM namespace_keys WHERE namespace = ? ORDER BY name',
                                      (row['name'],))]
    trust = trusted_by(row)
    if row['name'] == SYSTEM and profile.system_trusts_itself and SYSTEM not in trust:
        trust.append(SYSTEM)  # 0.7.2 creates system trusting system, as it does every namespace
    return profile.view('namespace', {
        'name': row['name'],
        'state': row['state'],
        'metadata': loads(row['metadata'], {}),
        'version': 7,
        'keys': keys,
        'trust': {'full': trust},
    })


def create_namespace(tx: Tx, name: str) -> None:
    """Create (or bring back a deleted) namespace that trusts only system."""
    trust = dumps([SYSTEM]) if name != SYSTEM else dumps([])
    tx.execute(
        'INSERT OR REPLACE INTO namespaces (name, state, trust, metadata, created) VALUES (?, ?, ?, ?, ?)',
        (name, 'created', trust, dumps({}), time.time()),
    )


def validate_key_name(key_name: Any) -> str:
    if not isinstance(key_name, str) or not key_name:
        raise bad_request('no key name specified')
    if key_name == 'service_key' or key_name.startswith('_service_key'):
        raise forbidden('illegal key name')
    return key_name


def validate_secret(secret: Any) -> str:
    if not isinstance(secret, str) or not secret:
        raise bad_request('no key specified')
    if len(secret) > MAX_SECRET_LENGTH:
        raise ApiError(422, f'key is longer than {MAX_SECRET_LENGTH} characters')
    if secret.startswith('sfk_'):
        raise bad_request('keys starting with sfk_ are reserved for keys the cluster generates')
    return secret


def validate_expiry(expiry: Any) -> float | None:
    if expiry is None:
        return None
    if isinstance(expiry, bool) or not isinstance(expiry, (int, float)):
        try:
            expiry = float(expiry)
        except (TypeError, ValueError):
            raise bad_request('expiry must be a number of seconds since the epoch') from None
    if expiry <= time.time():
        raise bad_request('expiry must be in the future')
    return float(expiry)


def set_key(tx: Tx, namespace: str, key_name: str, secret: str, expiry: float | None = None) -> None:
    """Add or replace a key; a fresh nonce makes every token of the old secret invalid at once."""
    tx.execute(
        'INSERT OR REPLACE INTO namespace_keys (namespace, name, hash, nonce, expiry, created) '
        'VALUES (?, ?, ?, ?, ?, ?)',
        (namespace, key_name, hash_secret(secret), new_nonce(), expiry, time.time()),
    )
