"""SQLite in WAL mode: one connection per thread, writes serialised by one process-wide lock.

Every write runs as `BEGIN IMMEDIATE` while holding `Database.write_lock`, so writers queue in Python instead of
racing for SQLite's lock: concurrent clients never see "database is locked" and read-modify-write sequences (next
version number, label create-or-update) are atomic. Readers never block (WAL).

Schema is modular: each domain module calls `register_schema(name, sql)` at import time with its own
`CREATE TABLE IF NOT EXISTS ...` statements; `Database.open()` applies every registered script.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

_SCHEMAS: dict[str, str] = {}


def register_schema(name: str, sql: str) -> None:
    """Register a module's tables and indexes (idempotent SQL, applied in registration order)."""
    _SCHEMAS[name] = sql


def registered_schemas() -> dict[str, str]:
    return dict(_SCHEMAS)


register_schema(
    'core',
    '''
    CREATE TABLE IF NOT EXISTS settings (name TEXT PRIMARY KEY, value TEXT NOT NULL);
    ''',
)


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(',', ':'))


def loads(text: str | None, default: Any = None) -> Any:
    return default if text is None else json.loads(text)


class Tx:
    """A connection in use by one thread: small query helpers plus post-commit callbacks."""

    def __init__(self, conn: sqlite3.Connection, writable: bool) -> None:
        self.conn = conn
        self.writable = writable
        self._after_commit: list[Callable[[], None]] = []

    def execute(self, sql: str, params: Any = ()) -> sqlite3.Cursor:
        return self.conn.execute(sql, params)

    def executemany(self, sql: str, rows: Any) -> sqlite3.Cursor:
        return self.conn.executemany(sql, rows)

    def one(self, sql: str, params: Any = ()) -> sqlite3.Row | None:
        return self.conn.execute(sql, params).fetchone()

    def all(self, sql: str, params: Any = ()) -> list[sqlite3.Row]:
        return self.conn.execute(sql, params).fetchall()

    def scalar(self, sql: str, params: Any = ()) -> Any:
        row = self.conn.execute(sql, params).fetchone()
        return None if row is None else row[0]

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run `callback` once the transaction committed (e.g. remove files of deleted blobs)."""
        if not self.writable:
            raise RuntimeError('after_commit needs a write transaction')
        self._after_commit.append(callback)


class Database:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.write_lock = threading.RLock()
        self._local = threading.local()

    def open(self) -> None:
        """Create the file, switch to WAL and apply every registered schema."""
        conn = self._connection()
        conn.execute('PRAGMA journal_mode=WAL')
        with self.write() as tx:
            for sql in _SCHEMAS.values():
                _run_script(tx.conn, sql)

    def _connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, 'conn', None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=60, isolation_level=None, check_same_thread=False)
            conn.row_factory = sqlite3.Row
            conn.execute('PRAGMA synchronous=NORMAL')
            conn.execute('PRAGMA busy_timeout=60000')
            conn.execute('PRAGMA foreign_keys=OFF')
            self._local.conn = conn
        return conn

    @contextmanager
    def read(self) -> Iterator[Tx]:
        """A consistent snapshot for several SELECTs (deferred transaction, never takes the write lock)."""
        conn = self._connection()
        if conn.in_transaction:  # nested inside a write: reuse it
            yield Tx(conn, writable=False)
            return
        conn.execute('BEGIN')
        try:
            yield Tx(conn, writable=False)
        finally:
            conn.execute('COMMIT')

    @contextmanager
    def write(self) -> Iterator[Tx]:
        conn = self._connection()
        with self.write_lock:
            if conn.in_transaction:
                raise RuntimeError('nested write transactions are not supported')
            conn.execute('BEGIN IMMEDIATE')
            tx = Tx(conn, writable=True)
            try:
                yield tx
            except BaseException:
                conn.execute('ROLLBACK')
                raise
            conn.execute('COMMIT')
        for callback in tx._after_commit:
            callback()

    def get_setting(self, name: str) -> str | None:
        with self.read() as tx:
            return tx.scalar('SELECT value FROM settings WHERE name = ?', (name,))

    def set_setting(self, name: str, value: str) -> None:
        with self.write() as tx:
            tx.execute('INSERT OR REPLACE INTO settings (name, value) VALUES (?, ?)', (name, value))

    def close_thread_connection(self) -> None:
        conn = getattr(self._local, 'conn', None)
        if conn is not None:
            conn.close()
            self._local.conn = None


def _run_script(conn: sqlite3.Connection, sql: str) -> None:
    # executescript() would COMMIT our transaction; run the statements one by one instead.
    for statement in sql.split(';'):
        if statement.strip():
            conn.execute(statement)
