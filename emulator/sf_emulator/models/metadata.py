"""Metadata: a JSON object in a `metadata` column, on every noun that has it (one store for all of them)."""

from __future__ import annotations

from typing import Any

from sf_emulator.db import Tx, dumps, loads
from sf_emulator.errors import bad_request, not_found

# table -> primary key column; metadata always lives in a column named `metadata`.
_TABLES = {'artifacts': 'uuid', 'blobs': 'uuid', 'namespaces': 'name', 'instances': 'uuid', 'networks': 'uuid'}


def _read(tx: Tx, table: str, ident: str) -> dict[str, Any]:
    value = tx.scalar(f'SELECT metadata FROM {table} WHERE {_TABLES[table]} = ?', (ident,))  # noqa: S608
    return dict(loads(value, {}))


def _write(tx: Tx, table: str, ident: str, metadata: dict[str, Any]) -> None:
    tx.execute(f'UPDATE {table} SET metadata = ? WHERE {_TABLES[table]} = ?', (dumps(metadata), ident))  # noqa: S608


def get_all(tx: Tx, table: str, ident: str) -> dict[str, Any]:
    return _read(tx, table, ident)


def set_item(tx: Tx, table: str, ident: str, key: Any, value: Any) -> None:
    if not key:
        raise bad_request('no key specified')
    if value is None:
        raise bad_request('no value specified')
    metadata = _read(tx, table, ident)
    metadata[str(key)] = value
    _write(tx, table, ident, metadata)


def delete_item(tx: Tx, table: str, ident: str, key: str, missing: str = 'metadata key not found') -> None:
    """`missing`: the 404 message for a key that is not there (instances and networks say 'key not found')."""
    metadata = _read(tx, table, ident)
    if key not in metadata:
        raise not_found(missing)
    del metadata[key]
    _write(tx, table, ident, metadata)
