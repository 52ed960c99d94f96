"""Background work: a queue table in the database, picked up by worker threads.

Domain modules register a kind once (`register_job_kind('artifact_fetch', run_fetch)`) and enqueue work inside
their own write transaction (`enqueue(tx, 'artifact_fetch', {...}, delay=...)`), so a job exists exactly when the
change that needs it was committed. Jobs survive a restart: ones caught running are queued again.
A handler gets `(app, payload)`; an exception marks the job `error` (the handler should record the failure on its
own objects first).
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sf_emulator.db import Tx, dumps, loads, register_schema

if TYPE_CHECKING:
    from sf_emulator.runtime import Runtime

log = logging.getLogger('sf_emulator.jobs')

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
    tx.after_commit(_notify)
    return int(cursor.lastrowid or 0)


def _notify() -> None:
    with _wakeup:
        _wakeup.notify_all()


class Workers:
    def __init__(self, app: Runtime, count: int) -> None:
        self.app = app
        self.count = max(1, count)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        with self.app.db.write() as tx:  # jobs interrupted by a stop run again
            tx.execute("UPDATE jobs SET state = 'queued' WHERE state = 'running'")
        for n in range(self.count):
            thread = threading.Thread(target=self._loop, name=f'sf-worker-{n}', daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        _notify()
        for thread in self._threads:
            thread.join(timeout=5)

    def _claim(self) -> tuple[int, str, dict[str, Any]] | float:
        """The next due job (now marked running), or the seconds until one is due."""
        now = time.time()
        with self.app.db.read() as tx:  # idle polls never take the write lock
            due = tx.one("SELECT run_after FROM jobs WHERE state = 'queued' ORDER BY run_after, id LIMIT 1")
        if due is None:
            return 1.0
        if due['run_after'] > now:
            return min(1.0, due['run_after'] - now)
        with self.app.db.write() as tx:
            row = tx.one(
                "SELECT id, kind, payload, run_after FROM jobs WHERE state = 'queued' ORDER BY run_after, id LIMIT 1"
            )
            if row is None:
                return 1.0
            if row['run_after'] > now:
                return min(1.0, row['run_after'] - now)
            tx.execute("UPDATE jobs SET state = 'running' WHERE id = ?", (row['id'],))
            return row['id'], row['kind'], loads(row['payload'])

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                claimed = self._claim()
            except Exception:  # a transient database problem must not kill the worker
                log.exception('claiming a job failed')
                claimed = 0.5
            if isinstance(claimed, float):
                with _wakeup:
                    _wakeup.wait(timeout=claimed)
                continue
            job_id, kind, payload = claimed
            state, error = 'done', None
            try:
                _KINDS[kind](self.app, payload)
            except Exception:
                state, error = 'error', traceback.format_exc(limit=5)
                log.error('job %s (%s) failed: %s', job_id, kind, error)
            with self.app.db.write() as tx:
                tx.execute(
                    'UPDATE jobs SET state = ?, finished = ?, error = ? WHERE id = ?',
                    (state, time.time(), error, job_id),
                )


PeriodicTask = Callable[['Runtime'], None]
_PERIODIC: list[PeriodicTask] = []
_STARTUP: list[PeriodicTask] = []


def register_startup(task: PeriodicTask) -> None:
    """Run `task(app)` once when the data directory is opened, before any request or job (recovery, orphans)."""
    _STARTUP.append(task)


def run_startup_tasks(app: Runtime) -> None:
    for task in list(_STARTUP):
        task(app)


def register_periodic(task: PeriodicTask) -> None:
    """Run `task(app)` every `cleaner_interval` seconds (expire uploads, forget old ops, ...)."""
    _PERIODIC.append(task)


class Cleaner:
    def __init__(self, app: Runtime) -> None:
        self.app = app
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name='sf-cleaner', daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def run_once(self) -> None:
        for task in list(_PERIODIC):
            try:
                task(self.app)
            except Exception:
                log.exception('periodic task %s failed', getattr(task, '__name__', task))

    def _loop(self) -> None:
        while not self._stop.wait(max(0.05, float(self.app.config['cleaner_interval']))):
            self.run_once()


def forget_finished_jobs(app: Runtime) -> None:
    with app.db.write() as tx:
        tx.execute("DELETE FROM jobs WHERE state IN ('done', 'error') AND finished < ?", (time.time() - 3600,))


register_periodic(forget_finished_jobs)
