"""The cluster operations behind instances: creating one (`node_inst_netdesc_op`) and deleting one (`node_inst_op`).

Creation: the op moves the instance from `initial` to `preflight` (waiting for any image fetches its disks need),
`creating` (disk files are copied from the base blobs into DATA/instances/<uuid>/<device>) and `created`; a base
that cannot be fetched leaves it in `error`. Deletion drops its disk references (blobs nothing else uses become
`deleted`), releases its interfaces and removes its files.
"""

from __future__ import annotations

import random
import shutil
from typing import TYPE_CHECKING, Any

from sf_emulator.config import define
from sf_emulator.db import Tx, dumps, loads
from sf_emulator.jobs import clusterops
from sf_emulator.models import artifacts
from sf_emulator.models.blobs import add_blob_ref, blob_path, get_blob, remove_blob_refs
from sf_emulator.models.disk_bases import newest_blob
from sf_emulator.models.events import add_event
from sf_emulator.models.instances import get_instance, instance_dir, plan_block_devices, remove_instance_files
from sf_emulator.models.networks import set_instance_interfaces_state

if TYPE_CHECKING:
    from sf_emulator.config import Config
    from sf_emulator.runtime import Runtime

define('instance_create_delay', 0.2, float, 'seconds each instance create step (preflight, creating) takes')
define('instance_delete_delay', 0.2, float, 'seconds an instance delete (node_inst_op) executes for')
define('instance_poll', 0.25, float, 'seconds between checks while an instance waits for its image fetches')
define('nvram_size', 65536, int, 'bytes of the NVRAM file of a UEFI instance without an NVRAM template')

CREATE_OP = 'node_inst_netdesc_op'
DELETE_OP = 'node_inst_op'


def queue_delete(tx: Tx, config: Config, row: Any, message: str) -> str:
    """Queue the delete op of an instance (its row), recording `message` as an event; returns the op UUID."""
    add_event(tx, 'instance', row['uuid'], message)
    op_uuid = clusterops.create_op(
        tx, DELETE_OP, 'instance', row['uuid'], row['namespace'], tasks=['instance_delete'],
        extra={'instance_uuid': row['uuid']}, delay=float(config['op_delay']),
    )
    tx.execute('UPDATE instances SET last_op = ? WHERE uuid = ?',
               (dumps(clusterops.handle(DELETE_OP, op_uuid)), row['uuid']))
    return op_uuid


def delete_due_error(tx: Tx, config: Config, row: Any, message: str) -> None:
    """A failed task on an instance: `<state>-error` with the message, then deleted (0.7.2's
    `enqueue_delete_due_error`)."""
    if row['state'] == 'deleted':
        return
    tx.execute('UPDATE instances SET state = ?, error_message = ? WHERE uuid = ?',
               (f'{row["state"]}-error', message, row['uuid']))
    add_event(tx, 'instance', row['uuid'], 'instance task failed', event_type='status', extra={'error': message})
    queue_delete(tx, config, row, 'delete due to error')


def _fail(app: Runtime, instance_uuid: str, message: str) -> None:
    with app.db.write() as tx:
        tx.execute("UPDATE instances SET state = 'error', error_message = ? WHERE uuid = ?", (message, instance_uuid))
        add_event(tx, 'instance', instance_uuid, 'instance creation failed', event_type='status',
                  extra={'error': message})
    raise clusterops.OpFailed(message)


def _preflight(app: Runtime, tx: Tx, row: Any, fetches: dict[str, str]) -> float | str | None:
    """Wait for image fetches, then fix the disks' blobs and record the references. Returns delay or failure."""
    spec = loads(row['disk_spec'], [])
    for index, artifact_uuid in fetches.items():
        art = artifacts.get_artifact(tx, artifact_uuid)
        if art is None or art['state'] == 'deleted':
            return f'the artifact for disk {index} was deleted before the instance started'
        if clusterops.outstanding_for_target(tx, 'artifact', artifact_uuid, 'artifact_fetch_op'):
            return float(app.config['instance_poll'])
        if art['state'] == 'error':
            return f'failed to fetch disk base {art["source_url"]}: {art["error_message"]}'
        blob_uuid = newest_blob(tx, artifact_uuid)
        if art['state'] != 'created' or not blob_uuid:
            return float(app.config['instance_poll'])
        spec[int(index)]['blob_uuid'] = blob_uuid
    for position, d in enumerate(spec):
        if d.get('blob_uuid'):
            blob = get_blob(tx, d['blob_uuid'])
            if blob is None or blob['state'] != 'created':
                return f'blob {d["blob_uuid"]} for disk {position} not found'
            add_blob_ref(tx, d['blob_uuid'], 'disk', 'instance', row['uuid'], str(position))
    if row['nvram_template']:
        if get_blob(tx, row['nvram_template']) is None:
            return f'nvram template blob {row["nvram_template"]} not found'
        add_blob_ref(tx, row['nvram_template'], 'nvram_template', 'instance', row['uuid'], '0')
    devices = plan_block_devices(spec, row['configdrive'])
    tx.execute("UPDATE instances SET disk_spec = ?, block_devices = ?, state = 'creating', node = ? WHERE uuid = ?",
               (dumps(spec), dumps(devices), app.config['node_name'], row['uuid']))
    add_event(tx, 'instance', row['uuid'], 'instance preflight complete', event_type='status')
    return float(app.config['instance_create_delay'])


def _write_disks(app: Runtime, row: Any) -> None:
    """Real files: each disk a copy of its base blob's bytes, blank disks and the config drive empty."""
    directory = instance_dir(app.data_dir, row['uuid'])
    directory.mkdir(parents=True, exist_ok=True)
    for device in loads(row['block_devices'], []):
        target = directory / device['device']
        if device.get('blob_uuid'):
            shutil.copyfile(blob_path(app.blob_dir, device['blob_uuid']), target)
        else:
            target.touch()
    if row['uefi']:
        nvram = directory / 'nvram'
        if row['nvram_template']:
            shutil.copyfile(blob_path(app.blob_dir, row['nvram_template']), nvram)
        else:
            with open(nvram, 'wb') as out:
                out.truncate(int(app.config['nvram_size']))


def run_create(app: Runtime, op: dict[str, Any]) -> float | None:
    instance_uuid = op['target_uuid']
    failure: str | None = None
    with app.db.write() as tx:
        row = get_instance(tx, instance_uuid)
        if row is None or row['state'] not in ('initial', 'preflight', 'creating'):
            return None  # deleted (or failed) meanwhile
        if row['state'] == 'initial':
            tx.execute("UPDATE instances SET state = 'preflight' WHERE uuid = ?", (instance_uuid,))
            return float(app.config['instance_create_delay'])
        if row['state'] == 'preflight':
            outcome = _preflight(app, tx, row, op['extra'].get('_fetch', {}))
            if not isinstance(outcome, str):
                return outcome
            failure = outcome
    if failure is not None:
        _fail(app, instance_uuid, failure)
    try:
        _write_disks(app, row)
    except OSError as exc:
        remove_instance_files(app.data_dir, instance_uuid)
        _fail(app, instance_uuid, f'creating the instance disks failed: {exc}')
    with app.db.write() as tx:
        current = get_instance(tx, instance_uuid)
        if current is None or current['state'] != 'creating':
            tx.after_commit(lambda: remove_instance_files(app.data_dir, instance_uuid))
            return None
        tx.execute(
            "UPDATE instances SET state = 'created', power_state = 'on', console_port = ?, vdi_port = ? "
            'WHERE uuid = ?',
            (random.randint(30000, 39999), random.randint(40000, 49999), instance_uuid),
        )
        set_instance_interfaces_state(tx, instance_uuid, 'created')
        add_event(tx, 'instance', instance_uuid, 'instance created', event_type='status')
    return None


def run_delete(app: Runtime, op: dict[str, Any]) -> float | None:
    """Delete the instance; where the profile has a delete-wait state, pass through it first (not from an error
    state, which already is a transition state)."""
    instance_uuid = op['target_uuid']
    waiting = app.profile.delete_wait_state
    with app.db.write() as tx:
        row = get_instance(tx, instance_uuid)
        if row is None or row['state'] == 'deleted':
            return None
        if app.profile.instance_delete_waits and row['state'] != waiting and not row['state'].endswith('-error'):
            tx.execute('UPDATE instances SET state = ? WHERE uuid = ?', (waiting, instance_uuid))
            add_event(tx, 'instance', instance_uuid, f'instance state changed to {waiting}', event_type='status')
            return float(app.config['instance_delete_delay'])
        tx.execute("UPDATE instances SET state = 'deleted', power_state = 'off' WHERE uuid = ?", (instance_uuid,))
        remove_blob_refs(tx, 'instance', instance_uuid)
        set_instance_interfaces_state(tx, instance_uuid, 'deleted')
        add_event(tx, 'instance', instance_uuid, 'instance deleted', event_type='status')
        tx.after_commit(lambda: remove_instance_files(app.data_dir, instance_uuid))
    return None


clusterops.register_op_runner(CREATE_OP, run_create, 'instance_create_delay')
clusterops.register_op_runner(DELETE_OP, run_delete, 'instance_delete_delay')


def _instance_namespace(tx: Tx, instance_uuid: str) -> str | None:
    return tx.scalar('SELECT namespace FROM instances WHERE uuid = ?', (instance_uuid,))


clusterops.register_target('instance', _instance_namespace)
