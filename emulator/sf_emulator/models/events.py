"""Event rows for artifacts and blobs (other modules may record events for their own object types)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from sf_emulator.config import current
from sf_emulator.db import Tx, dumps, loads, register_schema
from sf_emulator.errors import ApiError, bad_request

if TYPE_CHECKING:
    from sf_emulator.profiles import ServerProfile

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


def raw_limit(limit: Any) -> int:
    """0.7.2's limit: the server subtracts from it and formats it into `LIMIT %d` (SQLite: a negative limit is
    none), so any number works and anything else is the TypeError its wrapper answers as a 400. None: not given,
    the handler's default of 100."""
    if limit is None:
        return 100
    if isinstance(limit, (str, list, dict)):
        raise bad_request(f"unsupported operand type(s) for -: '{type(limit).__name__}' and 'int'")
    return int(limit)


def list_events(tx: Tx, profile: ServerProfile, object_type: str, object_uuid: str, event_type: Any,
                limit: Any) -> list[dict[str, Any]]:
    """Newest first. Under a profile without checked limits, an object with no events yet answers [] whatever
    is asked (0.7.2 reads nothing before the object's first event log exists), then the limit and the type fail."""
    lenient = not profile.event_limit_checked or profile.unknown_event_type_fails
    if lenient and tx.scalar('SELECT 1 FROM events WHERE object_type = ? AND object_uuid = ? LIMIT 1',
                             (object_type, object_uuid)) is None:
        return []
    count = parse_limit(limit) if profile.event_limit_checked else raw_limit(limit)
    if event_type and profile.unknown_event_type_fails and event_type not in EVENT_TYPES:
        raise ApiError(500, 'server error: InvalidEventType()')
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
