"""Metadata: a JSON object in a `metadata` column, on every noun that has it (one store for all of them)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sf_emulator.db import Tx, dumps, loads
from sf_emulator.errors import bad_request, not_found

if TYPE_CHECKING:
    from sf_emulator.profiles import ServerProfile

# table -> primary key column; metadata always lives in a column named `metadata`.
_TABLES = {'artifacts': 'uuid', 'blobs': 'uuid', 'namespaces': 'name', 'instances': 'uuid', 'networks': 'uuid'}


def _read(tx: Tx, table: str, ident: str) -> dict[str, Any]:
    value = tx.scalar(f'SELECT metadata FROM {table} WHERE {_TABLES[table]} = ?', (ident,))  # noqa: S608
    return dict(loads(value, {}))


def _write(tx: Tx, table: str, ident: str, metadata: dict[str, Any]) -> None:
    tx.execute(f'UPDATE {table} SET metadata = ? WHERE {_TABLES[table]} = ?', (dumps(metadata), ident))  # noqa: S608


def get_all(tx: Tx, table: str, ident: str) -> dict[str, Any]:
    return _read(tx, table, ident)


def check_item(profile: ServerProfile, key: Any, value: Any) -> None:
    """The checks every noun applies to a key and value: 0.7.2 refuses every falsy value (`if not value`)."""
    if not key:
        raise bad_request('no key specified')
    if value is None or (profile.metadata_refuses_falsy and not value):
        raise bad_request('no value specified')


def set_item(tx: Tx, profile: ServerProfile, table: str, ident: str, key: Any, value: Any) -> None:
    check_item(profile, key, value)
    metadata = _read(tx, table, ident)
    metadata[str(key)] = value
    _write(tx, table, ident, metadata)


def delete_item(tx: Tx, profile: ServerProfile, table: str, ident: str, key: str,
                missing: str = 'metadata key not found') -> None:
    """`missing`: the 404 message for a key that is not there (instances and networks say 'key not found'), when
    the profile answers one; otherwise deleting a missing key changes nothing."""
    metadata = _read(tx, table, ident)
    if key not in metadata:
        if profile.metadata_missing_key_is_404:
            raise not_found(missing)
        return
    del metadata[key]
    _write(tx, table, ident, metadata)
