"""Event rows for artifacts and blobs (other modules may record events for their own object types)."""

from __future__ import annotations

import time
from typing import Any

from sf_emulator.config import current
from sf_emulator.db import Tx, dumps, loads, register_schema
from sf_emulator.errors import bad_request

register_schema(
    'events',
    '''
    CREATE TABLE IF NOT EXISTS events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        object_type TEXT NOT NULL,
        object_uuid TEXT NOT NULL,
        timestamp REAL NOT NULL,
        type TEXT NOT NULL,
        message TEXT NOT NULL,
        extra TEXT NOT NULL,
        duration REAL,
        fqdn TEXT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS events_object ON events (object_type, object_uuid, id);
    ''',
)

EVENT_TYPES = ('audit', 'mutate', 'status', 'usage', 'resources', 'prune', 'historic')
MAX_LIMIT = 1000



def add_event(
    tx: Tx,
    object_type: str,
    object_uuid: str,
    message: str,
    event_type: str = 'audit',
    extra: dict[str, Any] | None = None,
    duration: float | None = None,
) -> None:
    tx.execute(
        'INSERT INTO events (object_type, object_uuid, timestamp, type, message, extra, duration, fqdn) '
        'VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
        (object_type, object_uuid, time.time(), event_type, message, dumps(extra or {}), duration,
         current()['node_name']),
    )


def parse_limit(limit: Any) -> int:
    """`limit` may come as a string (the CLI sends one); 1..1000, larger values are capped."""
    if limit is None:
        return 100
    try:
        value = int(limit)
    except (TypeError, ValueError):
        raise bad_request('limit must be an integer') from None
    if value < 1:
        raise bad_request('limit must be at least 1')
    return min(value, MAX_LIMIT)


def list_events(tx: Tx, object_type: str, object_uuid: str, event_type: Any, limit: Any) -> list[dict[str, Any]]:
    count = parse_limit(limit)
    sql = 'SELECT * FROM events WHERE object_type = ? AND object_uuid = ?'
    params: list[Any] = [object_type, object_uuid]
    if event_type:
        sql += ' AND type = ?'
        params.append(str(event_type))
    sql += ' ORDER BY id DESC LIMIT ?'
    params.append(count)
    return [
        {
            'timestamp': r['timestamp'],
            'fqdn': r['fqdn'],
            'duration': r['duration'],
            'message': r['message'],
            'extra': loads(r['extra'], {}),
            'type': r['type'],
        }
        for r in tx.all(sql, params)
    ]
