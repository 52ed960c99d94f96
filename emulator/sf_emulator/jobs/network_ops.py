"""The `net_op` behind networks: deploying one, and deleting one once no instance interface is left on it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sf_emulator.config import define
from sf_emulator.db import Tx
from sf_emulator.jobs import clusterops
from sf_emulator.models.events import add_event
from sf_emulator.models.networks import live_interfaces

if TYPE_CHECKING:
    from sf_emulator.runtime import Runtime

define('network_delay', 0.2, float, 'seconds a network create or delete (net_op) executes for')
define('network_wait_poll', 0.5, float, 'seconds between checks while a network delete waits for its interfaces')

DEPLOY = 'network_deploy'
DESTROY = 'network_apply_delete_network_node'


def run_net_op(app: Runtime, op: dict[str, Any]) -> float | None:
    network_uuid = op['target_uuid']
    with app.db.write() as tx:
        row = tx.one('SELECT * FROM networks WHERE uuid = ?', (network_uuid,))
        if row is None:
            raise clusterops.OpFailed(f'network {network_uuid} does not exist')
        if DEPLOY in op['tasks']:
            if row['state'] == 'initial':
                tx.execute("UPDATE networks SET state = 'created' WHERE uuid = ?", (network_uuid,))
                add_event(tx, 'network', network_uuid, 'network created', event_type='status')
            return None
        if live_interfaces(tx, network_uuid):
            return float(app.config['network_wait_poll'])  # still in use: check again later
        tx.execute("UPDATE networks SET state = 'deleted', floating_gateway = NULL WHERE uuid = ?", (network_uuid,))
        add_event(tx, 'network', network_uuid, 'network deleted', event_type='status')
        return None


clusterops.register_op_runner('net_op', run_net_op, 'network_delay')


def _network_namespace(tx: Tx, network_uuid: str) -> str | None:
    return tx.scalar('SELECT namespace FROM networks WHERE uuid = ?', (network_uuid,))


clusterops.register_target('network', _network_namespace)
