"""The job queue: a table in the database, the registered job kinds, and periodic and start-up tasks.

Domain modules register a kind once (`register_job_kind('artifact_fetch', run_fetch)`) and enqueue work inside
their own write transaction (`enqueue(tx, 'artifact_fetch', {...}, delay=...)`), so a job exists exactly when the
change that needs it was committed. Jobs survive a restart: ones caught running are queued again.
Worker threads (workers.py) run them: a handler gets `(app, payload)`; an exception marks the job `error` (the
handler should record the failure on its own objects first).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sf_emulator.db import Tx, dumps, register_schema

if TYPE_CHECKING:
    from sf_emulator.runtime import Runtime

register_schema(
    'jobs',
    '''
    CREATE TABLE IF NOT EXISTS jobs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL,
        payload TEXT NOT NULL,
        state TEXT NOT NULL,
        run_after REAL NOT NULL,
        created REAL NOT NULL,
        finished REAL,
        error TEXT
    );
    CREATE INDEX IF NOT EXISTS jobs_queued ON jobs (state, run_after, id);
    ''',
)

JobHandler = Callable[['Runtime', dict[str, Any]], None]
_KINDS: dict[str, JobHandler] = {}
_wakeup = threading.Condition()


def register_job_kind(kind: str, handler: JobHandler) -> None:
    _KINDS[kind] = handler


def job_kinds() -> list[str]:
    return sorted(_KINDS)


def enqueue(tx: Tx, kind: str, payload: dict[str, Any], delay: float = 0.0) -> int:
    """Queue a job in the caller's write transaction; workers see it once that commits."""
    if kind not in _KINDS:
        raise ValueError(f'unknown job kind {kind!r}')
    now = time.time()
    cursor = tx.execute(
        'INSERT INTO jobs (kind, payload, state, run_after, created) VALUES (?, ?, ?, ?, ?)',
        (kind, dumps(payload), 'queued', now + delay, now),
    )
    tx.after_commit(wake_workers)
    return int(cursor.lastrowid or 0)


def handler_for(kind: str) -> JobHandler:
    return _KINDS[kind]


def wake_workers() -> None:
    with _wakeup:
        _wakeup.notify_all()


def wait_for_work(timeout: float) -> None:
    """Sleep until a job is queued (its transaction committed) or `timeout` seconds pass."""
    with _wakeup:
        _wakeup.wait(timeout=timeout)


PeriodicTask = Callable[['Runtime'], None]
_PERIODIC: list[PeriodicTask] = []
_STARTUP: list[PeriodicTask] = []


def register_startup(task: PeriodicTask) -> None:
    """Run `task(app)` once when the data directory is opened, before any request or job (recovery, orphans)."""
    _STARTUP.append(task)


def register_periodic(task: PeriodicTask) -> None:
    """Run `task(app)` every `cleaner_interval` seconds (expire uploads, forget old ops, ...)."""
    _PERIODIC.append(task)


def startup_tasks() -> list[PeriodicTask]:
    return list(_STARTUP)


def periodic_tasks() -> list[PeriodicTask]:
    return list(_PERIODIC)
