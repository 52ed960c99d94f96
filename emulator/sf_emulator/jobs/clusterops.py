"""Cluster operations: the `*_op` records behind every asynchronous change (routes/clusterops.py reads them).

An op is `queued` until a worker picks it up (after `op_delay`), `executing` while its work takes
`<kind>`-specific time, then `complete` or `error`; terminal ops are hard deleted `op_retention` seconds
later, like the real server (~30 s), after which polling them is a 404.

Domain modules register a runner per op type (`register_op_runner`); a runner does the work and returns None
(done) or a number of seconds to wait before it runs again (e.g. a network delete waiting for interfaces to go).
Raising `OpFailed` ends the op in `error`. Ops created through the core's hook (artifact fetches) have no runner:
the core moves their state itself.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sf_emulator.config import define
from sf_emulator.db import Tx, dumps, loads, register_schema
from sf_emulator.hooks import set_cluster_ops
from sf_emulator.jobs.queue import enqueue, register_job_kind, register_periodic

if TYPE_CHECKING:
    from sf_emulator.runtime import Runtime

log = logging.getLogger('sf_emulator.clusterops')

register_schema(
    'clusterops',
    '''
    CREATE TABLE IF NOT EXISTS cluster_ops (
        uuid TEXT PRIMARY KEY,
        op_type TEXT NOT NULL,
        state TEXT NOT NULL,
        tasks TEXT NOT NULL,
        namespace TEXT,
        target_type TEXT NOT NULL,
        target_uuid TEXT NOT NULL,
        depends_on TEXT NOT NULL,
        extra TEXT NOT NULL,
        created REAL NOT NULL,
        finished REAL
    );
    CREATE INDEX IF NOT EXISTS cluster_ops_target ON cluster_ops (target_type, target_uuid);
    CREATE INDEX IF NOT EXISTS cluster_ops_finished ON cluster_ops (state, finished);
    ''',
)

define('op_retention', 30.0, float, 'seconds a finished cluster operation stays readable before it is hard deleted')

OP_TYPES = (
    'artifact_fetch_op',
    'net_op',
    'net_ip_op',
    'node_inst_snap_op',
    'node_inst_op',
    'node_inst_netdesc_op',
    'node_inst_net_iface_op',
    'node_aop_op',
    'node_blob_op',
)
DEFAULT_TASKS = {'artifact_fetch_op': ['image_fetch'], 'node_inst_snap_op': ['instance_snapshot']}
TERMINAL = ('complete', 'error', 'abort')
OUTSTANDING = ('queued', 'executing')
MAX_CHAIN_NODES = 256


class OpFailed(Exception):
    """Raised by a runner: the op ends in `error` with this message."""


# op_type -> (runner, name of the setting holding how long the work takes)
OpRunner = Callable[['Runtime', dict[str, Any]], float | None]
_RUNNERS: dict[str, tuple[OpRunner, str | None]] = {}
# target type -> fn(tx, uuid) returning the owner namespace, '' for a cluster-scoped object, or None if missing
_TARGETS: dict[str, Callable[[Tx, str], str | None]] = {}


def register_op_runner(op_type: str, runner: OpRunner, duration_setting: str | None = None) -> None:
    _RUNNERS[op_type] = (runner, duration_setting)


def register_target(target_type: str, resolver: Callable[[Tx, str], str | None]) -> None:
    _TARGETS[target_type] = resolver


def target_resolver(target_type: str) -> Callable[[Tx, str], str | None] | None:
    """How to find the namespace owning a target of this type (None: ops cannot target that type)."""
    return _TARGETS.get(target_type)


def create_op(
    tx: Tx,
    op_type: str,
    target_type: str,
    target_uuid: str,
    namespace: str | None,
    *,
    tasks: list[str] | None = None,
    extra: dict[str, Any] | None = None,
    depends_on: list[dict[str, str]] | None = None,
    delay: float = 0.0,
) -> str:
    """Record a `queued` op; if its type has a runner, queue the job that runs it (after `delay` seconds)."""
    op_uuid = str(uuid.uuid4())
    tx.execute(
        'INSERT INTO cluster_ops (uuid, op_type, state, tasks, namespace, target_type, target_uuid, depends_on, '
        'extra, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
        (
            op_uuid, op_type, 'queued', dumps(tasks if tasks is not None else DEFAULT_TASKS.get(op_type, [])),
            namespace, target_type, target_uuid, dumps(depends_on or []), dumps(extra or {}), time.time(),
        ),
    )
    if op_type in _RUNNERS:
        enqueue(tx, 'cluster_op_start', {'uuid': op_uuid}, delay=delay)
    return op_uuid


def set_state(tx: Tx, op_uuid: str, state: str, error: str | None = None) -> None:
    finished = time.time() if state in TERMINAL else None
    tx.execute('UPDATE cluster_ops SET state = ?, finished = ? WHERE uuid = ?', (state, finished, op_uuid))
    if error is not None:
        row = tx.one('SELECT extra FROM cluster_ops WHERE uuid = ?', (op_uuid,))
        if row is not None:
            extra = loads(row['extra'], {})
            extra['error_message'] = error
            tx.execute('UPDATE cluster_ops SET extra = ? WHERE uuid = ?', (dumps(extra), op_uuid))


def get_op(tx: Tx, op_uuid: str) -> dict[str, Any] | None:
    row = tx.one('SELECT * FROM cluster_ops WHERE uuid = ?', (op_uuid,))
    return None if row is None else _row(row)


def _row(row: Any) -> dict[str, Any]:
    op = dict(row)
    for name in ('tasks', 'depends_on', 'extra'):
        op[name] = loads(op[name], [] if name != 'extra' else {})
    return op


def op_view(op: dict[str, Any]) -> dict[str, Any]:
    view = {'operation_type': op['op_type'], 'uuid': op['uuid'], 'state': op['state'], 'tasks': op['tasks']}
    view['namespace'] = op['namespace']
    view.update({k: v for k, v in op['extra'].items() if not k.startswith('_')})  # '_' keys: runner-only data
    return view


def handle(op_type: str, op_uuid: str) -> dict[str, str]:
    """The `{op_type, op_uuid}` handle objects and 202 answers carry."""
    return {'op_type': op_type, 'op_uuid': op_uuid}


def list_for_target(tx: Tx, target_type: str, target_uuid: str, include_all: bool) -> list[dict[str, Any]]:
    rows = tx.all(
        'SELECT * FROM cluster_ops WHERE target_type = ? AND target_uuid = ? ORDER BY created DESC, rowid DESC',
        (target_type, target_uuid),
    )
    ops = [_row(r) for r in rows]
    if not include_all:
        ops = [op for op in ops if op['state'] in OUTSTANDING]
    return [op_view(op) for op in ops]


def outstanding_for_target(tx: Tx, target_type: str, target_uuid: str, op_type: str | None = None) -> int:
    sql = "SELECT COUNT(*) FROM cluster_ops WHERE target_type = ? AND target_uuid = ? AND state IN ('queued', "
    sql += "'executing')"
    params: tuple[Any, ...] = (target_type, target_uuid)
    if op_type:
        sql += ' AND op_type = ?'
        params += (op_type,)
    return int(tx.scalar(sql, params) or 0)


class _HookOps:
    """What the core's artifact fetches use (hooks.ClusterOps)."""

    def create(
        self, tx: Tx, op_type: str, target_type: str, target_uuid: str, namespace: str, extra: dict[str, Any]
    ) -> str | None:
        extra = dict(extra)
        tasks = extra.pop('tasks', None)
        return create_op(tx, op_type, target_type, target_uuid, namespace, tasks=tasks, extra=extra)

    def set_state(self, tx: Tx, op_uuid: str, state: str) -> None:
        set_state(tx, op_uuid, state)

    def list_for_target(self, tx: Tx, target_type: str, target_uuid: str, include_all: bool) -> list[dict[str, Any]]:
        return list_for_target(tx, target_type, target_uuid, include_all)


set_cluster_ops(_HookOps())


# --- execution ------------------------------------------------------------------------------------------------
def _start(app: Runtime, payload: dict[str, Any]) -> None:
    with app.db.write() as tx:
        op = get_op(tx, payload['uuid'])
        if op is None or op['state'] not in OUTSTANDING:
            return
        set_state(tx, op['uuid'], 'executing')
        _, setting = _RUNNERS[op['op_type']]
        duration = float(app.config[setting]) if setting else 0.0
        enqueue(tx, 'cluster_op_run', {'uuid': op['uuid']}, delay=duration)


def _run(app: Runtime, payload: dict[str, Any]) -> None:
    with app.db.read() as tx:
        op = get_op(tx, payload['uuid'])
    if op is None or op['state'] != 'executing':
        return
    runner, _ = _RUNNERS[op['op_type']]
    try:
        again = runner(app, op)
    except OpFailed as exc:
        with app.db.write() as tx:
            set_state(tx, op['uuid'], 'error', str(exc))
        return
    except Exception as exc:
        log.exception('cluster op %s (%s) failed', op['uuid'], op['op_type'])
        with app.db.write() as tx:
            set_state(tx, op['uuid'], 'error', f'{exc!r}')
        return
    with app.db.write() as tx:
        if again is None:
            set_state(tx, op['uuid'], 'complete')
        else:
            enqueue(tx, 'cluster_op_run', {'uuid': op['uuid']}, delay=max(0.01, again))


register_job_kind('cluster_op_start', _start)
register_job_kind('cluster_op_run', _run)


def forget_finished_ops(app: Runtime) -> None:
    cutoff = time.time() - float(app.config['op_retention'])
    with app.db.write() as tx:
        tx.execute(
            "DELETE FROM cluster_ops WHERE state IN ('complete', 'error', 'abort') AND finished < ?", (cutoff,)
        )


register_periodic(forget_finished_ops)


def _artifact_namespace(tx: Tx, artifact_uuid: str) -> str | None:
    try:
        return tx.scalar('SELECT namespace FROM artifacts WHERE uuid = ?', (artifact_uuid,))
    except Exception:  # the artifacts table belongs to the core; absent in a framework-only build
        return None


def _blob_namespace(tx: Tx, blob_uuid: str) -> str | None:
    try:
        found = tx.scalar('SELECT 1 FROM blobs WHERE uuid = ?', (blob_uuid,))
    except Exception:
        return None
    return '' if found else None  # blobs are cluster scoped


register_target('artifact', _artifact_namespace)
register_target('blob', _blob_namespace)
