"""The threads that run background work: workers take queued jobs, the cleaner runs the periodic tasks."""

from __future__ import annotations

import logging
import threading
import time
import traceback
from typing import TYPE_CHECKING, Any

from sf_emulator.db import loads
from sf_emulator.jobs.queue import (
    handler_for,
    periodic_tasks,
    register_periodic,
    startup_tasks,
    wait_for_work,
    wake_workers,
)

if TYPE_CHECKING:
    from sf_emulator.runtime import Runtime

log = logging.getLogger('sf_emulator.jobs')


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
        wake_workers()
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
                wait_for_work(claimed)
                continue
            job_id, kind, payload = claimed
            state, error = 'done', None
            try:
                handler_for(kind)(self.app, payload)
            except Exception:
                state, error = 'error', traceback.format_exc(limit=5)
                log.error('job %s (%s) failed: %s', job_id, kind, error)
            with self.app.db.write() as tx:
                tx.execute(
                    'UPDATE jobs SET state = ?, finished = ?, error = ? WHERE id = ?',
                    (state, time.time(), error, job_id),
                )


def run_startup_tasks(app: Runtime) -> None:
    for task in startup_tasks():
        task(app)


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
        for task in periodic_tasks():
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
