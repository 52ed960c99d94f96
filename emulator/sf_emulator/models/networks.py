"""Networks and network interfaces: tables, views, address allocation."""

from __future__ import annotations

import ipaddress
import random
import time
import uuid
from typing import TYPE_CHECKING, Any

from sf_emulator.config import define
from sf_emulator.db import Tx, dumps, loads, register_schema
from sf_emulator.errors import ApiError, bad_request, not_found, not_ready

if TYPE_CHECKING:
    from sf_emulator.profiles import ServerProfile

register_schema(
    'networks',
    '''
    CREATE TABLE IF NOT EXISTS networks (
        uuid TEXT PRIMARY KEY,
        name TEXT,
        namespace TEXT NOT NULL,
        netblock TEXT NOT NULL,
        provide_dhcp INTEGER,
        provide_nat INTEGER,
        provide_dns INTEGER NOT NULL,
        state TEXT NOT NULL,
        vxid INTEGER NOT NULL,
        floating_gateway TEXT,
        metadata TEXT NOT NULL,
        last_op TEXT,
        created REAL NOT NULL
    );
    CREATE INDEX IF NOT EXISTS networks_ns ON networks (namespace, state);
    CREATE INDEX IF NOT EXISTS networks_name ON networks (name);
    CREATE TABLE IF NOT EXISTS network_interfaces (
        uuid TEXT PRIMARY KEY,
        network_uuid TEXT NOT NULL,
        instance_uuid TEXT NOT NULL,
        ipv4 TEXT,
        macaddr TEXT NOT NULL,
        position INTEGER NOT NULL,
        model TEXT NOT NULL,
        floating TEXT,
        state TEXT NOT NULL,
        metadata TEXT NOT NULL,
        created REAL NOT NULL
    );
    CREATE INDEX IF NOT EXISTS network_interfaces_net ON network_interfaces (network_uuid, state);
    CREATE INDEX IF NOT EXISTS network_interfaces_inst ON network_interfaces (instance_uuid, state);
    ''',
)

define('floating_netblock', '192.168.10.0/24', str, 'addresses for network floating gateways and floated interfaces')

# delete-wait as either server profile spells it
ACTIVE_STATES = ('initial', 'created', 'delete_wait', 'delete-wait', 'error')
DEAD_STATES = ('deleted', 'delete_wait', 'delete-wait', 'error')  # `is_dead()`: these never block a namespace delete
INTERFACE_LIVE = ('initial', 'created')
FLOATING_NETWORK_UUID = '00000000-0000-0000-0000-000000000000'


def _flag(value: int | None) -> bool | None:
    return None if value is None else bool(value)  # null: not given, under a profile that keeps no default


def network_view(profile: ServerProfile, row: Any) -> dict[str, Any]:
    return profile.view('network', {
        'uuid': row['uuid'],
        'name': row['name'],
        'namespace': row['namespace'],
        'netblock': row['netblock'],
        'provide_dhcp': _flag(row['provide_dhcp']),
        'provide_nat': _flag(row['provide_nat']),
        'provide_dns': bool(row['provide_dns']),
        'state': row['state'],
        # Newest views say vxlan_id, the docs example vxid; the client reads either.
        'vxid': row['vxid'],
        'vxlan_id': row['vxid'],
        'floating_gateway': row['floating_gateway'],
        'metadata': loads(row['metadata'], {}),
        'version': 4,
        'last_cluster_operation': loads(row['last_op']),
    })


def network_listing_entry(profile: ServerProfile, row: Any) -> dict[str, Any]:
    """An entry of `GET /networks`: the view, or the view marshalled to the profile's fields (0.7.2's
    flask-restful `marshal_with`: exactly those keys, a key the view lacks gets the field's default)."""
    view = network_view(profile, row)
    fields = profile.network_listing_fields
    if fields is None:
        return view
    return {key: view.get(key, default) for key, default in fields.items()}


def interface_view(row: Any) -> dict[str, Any]:
    return {
        'uuid': row['uuid'],
        'state': row['state'],
        'metadata': loads(row['metadata'], {}),
        'version': 3,
        'network_uuid': row['network_uuid'],
        'instance_uuid': row['instance_uuid'],
        'macaddr': row['macaddr'],
        'ipv4': row['ipv4'],
        'order': row['position'],
        'model': row['model'],
        'floating': row['floating'],
    }


def live_interfaces(tx: Tx, network_uuid: str) -> list[Any]:
    return tx.all(
        "SELECT * FROM network_interfaces WHERE network_uuid = ? AND state IN ('initial', 'created') "
        'ORDER BY created',
        (network_uuid,),
    )


def instance_interfaces(tx: Tx, instance_uuid: str) -> list[Any]:
    return tx.all(
        "SELECT * FROM network_interfaces WHERE instance_uuid = ? AND state != 'deleted' ORDER BY position",
        (instance_uuid,),
    )


def set_instance_interfaces_state(tx: Tx, instance_uuid: str, state: str) -> None:
    tx.execute("UPDATE network_interfaces SET state = ? WHERE instance_uuid = ? AND state != 'deleted'",
               (state, instance_uuid))


def _floating_in_use(tx: Tx) -> set[str]:
    used = {r[0] for r in tx.all("SELECT floating_gateway FROM networks WHERE state != 'deleted'") if r[0]}
    used |= {r[0] for r in tx.all("SELECT floating FROM network_interfaces WHERE state != 'deleted'") if r[0]}
    return used


def allocate_floating(tx: Tx, netblock: str) -> str:
    block = ipaddress.ip_network(netblock, strict=False)
    used = _floating_in_use(tx)
    for index, address in enumerate(block.hosts()):
        if index == 0:
            continue  # the floating network's own router
        if str(address) not in used:
            return str(address)
    raise ApiError(507, f'floating network {netblock} has no free addresses')


def new_vxid(tx: Tx) -> int:
    while True:
        candidate = random.randint(1, 16777215)
        if tx.scalar('SELECT 1 FROM networks WHERE vxid = ?', (candidate,)) is None:
            return candidate


def address_in_range(netblock: str, address: str) -> bool:
    try:
        return ipaddress.ip_address(address) in ipaddress.ip_network(netblock, strict=False)
    except ValueError:
        return False


def allocate_address(tx: Tx, network: Any) -> str:
    """A random free host address; the first host is the network's router, as on the server."""
    block = ipaddress.ip_network(network['netblock'], strict=False)
    used = {r['ipv4'] for r in live_interfaces(tx, network['uuid']) if r['ipv4']}
    first, last = int(block.network_address) + 2, int(block.broadcast_address) - 1
    if last < first:
        raise ApiError(507, f'network {network["uuid"]} has no free addresses')
    for _ in range(64):
        candidate = str(ipaddress.ip_address(random.randint(first, last)))
        if candidate not in used:
            return candidate
    for value in range(first, last + 1):  # crowded: walk it
        candidate = str(ipaddress.ip_address(value))
        if candidate not in used:
            return candidate
    raise ApiError(507, f'network {network["uuid"]} has no free addresses')


def new_mac() -> str:
    return '02:00:00:' + ':'.join(f'{random.randint(0, 255):02x}' for _ in range(3))


def resolve_network_for_instance(tx: Tx, ref: Any, namespace: str) -> Any:
    """The network a netdesc names (UUID or name, scoped to the instance's namespace), checked as the server does."""
    if not isinstance(ref, str) or not ref:
        raise bad_request('network specification is missing network_uuid')
    row = tx.one('SELECT * FROM networks WHERE uuid = ?', (ref.lower(),))
    if row is None:
        marks = ','.join('?' for _ in ACTIVE_STATES)
        rows = tx.all(f'SELECT * FROM networks WHERE name = ? AND namespace = ? AND state IN ({marks})',  # noqa: S608
                      (ref, namespace, *ACTIVE_STATES))
        if len(rows) > 1:
            raise bad_request(f'multiple networks have the name "{ref}" in namespace "{namespace}"')
        row = rows[0] if rows else None
    if row is None:
        raise not_found(f'network {ref} not found')
    if row['state'] != 'created':
        raise not_ready(f'network {row["uuid"]} is not ready ({row["state"]})')
    if row['namespace'] != namespace:
        raise not_found(f'network {row["uuid"]} does not exist')
    return row


def check_netdesc(tx: Tx, netdesc: Any, namespace: str) -> Any:
    if not isinstance(netdesc, dict):
        raise bad_request('network specification should contain JSON objects')
    if 'network_uuid' not in netdesc:
        raise bad_request('network specification is missing network_uuid')
    row = resolve_network_for_instance(tx, netdesc['network_uuid'], namespace)
    address = netdesc.get('address')
    if address and not _noneish(address) and not address_in_range(row['netblock'], str(address)):
        raise bad_request('network specification requests an address outside the range of the network')
    return row


def _noneish(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip().lower() in ('', 'none'))


def add_interface(tx: Tx, network: Any, instance_uuid: str, netdesc: dict[str, Any], position: int,
                  floating_netblock: str) -> dict[str, Any]:
    """Reserve the address and record an `initial` interface; returns the netdesc as the server rewrites it."""
    address = netdesc.get('address')
    if 'address' in netdesc and _noneish(address):
        address = None
    elif not address:
        address = allocate_address(tx, network)
    else:
        address = str(address)
        taken = tx.scalar(
            "SELECT 1 FROM network_interfaces WHERE network_uuid = ? AND ipv4 = ? AND state IN ('initial', 'created')",
            (network['uuid'], address),
        )
        gateway = str(ipaddress.ip_network(network['netblock'], strict=False).network_address + 1)
        if taken or address == gateway:
            raise ApiError(409, f'address {address} in use')
    floating = allocate_floating(tx, floating_netblock) if netdesc.get('float') else None
    iface_uuid = str(uuid.uuid4())
    mac = netdesc.get('macaddress') or new_mac()
    model = netdesc.get('model') or 'virtio'
    tx.execute(
        'INSERT INTO network_interfaces (uuid, network_uuid, instance_uuid, ipv4, macaddr, position, model, floating, '
        "state, metadata, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'initial', ?, ?)",
        (iface_uuid, network['uuid'], instance_uuid, address, mac, position, model, floating, dumps({}), time.time()),
    )
    out = dict(netdesc)
    out.update({'network_uuid': network['uuid'], 'address': address, 'model': model, 'iface_uuid': iface_uuid})
    return out
