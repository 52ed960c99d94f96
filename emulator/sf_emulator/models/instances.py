"""Instances: the table, the view (B.6), disk device naming and the files behind instance disks."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sf_emulator.db import Tx, loads, register_schema
from sf_emulator.errors import bad_request
from sf_emulator.models.blobs import ref_view
from sf_emulator.models.networks import instance_interfaces, interface_view

if TYPE_CHECKING:
    from sf_emulator.profiles import ServerProfile

register_schema(
    'instances',
    '''
    CREATE TABLE IF NOT EXISTS instances (
        uuid TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        namespace TEXT NOT NULL,
        cpus INTEGER,
        memory INTEGER,
        disk_spec TEXT NOT NULL,
        block_devices TEXT NOT NULL,
        video TEXT NOT NULL,
        ssh_key TEXT,
        user_data TEXT,
        uefi INTEGER NOT NULL,
        secure_boot INTEGER NOT NULL,
        nvram_template TEXT,
        configdrive TEXT NOT NULL,
        machine_type TEXT NOT NULL,
        side_channels TEXT NOT NULL,
        requested_placement TEXT,
        state TEXT NOT NULL,
        power_state TEXT NOT NULL,
        error_message TEXT,
        node TEXT,
        console_port INTEGER,
        vdi_port INTEGER,
        metadata TEXT NOT NULL,
        last_op TEXT,
        created REAL NOT NULL
    );
    CREATE INDEX IF NOT EXISTS instances_ns ON instances (namespace, state);
    CREATE INDEX IF NOT EXISTS instances_name ON instances (name);
    ''',
)

# Instance.ACTIVE_STATES: everything but deleted (delete-wait spelled as either profile spells it).
ACTIVE_STATES = (
    'initial', 'initial-error', 'preflight', 'preflight-error', 'creating', 'creating-error', 'created',
    'delete_wait', 'delete-wait', 'created-error', 'error',
)
DEVICE_PREFIXES = {'sata': ('sd', 'abcdefghijklmnopqrstuvwxyz'), 'scsi': ('sd', 'abcdefghijklmnopqrstuvwxyz'),
                   'usb': ('sd', 'abcdefghijklmnopqrstuvwxyz'), 'virtio': ('vd', 'abcdefghijklmnopqrstuvwxyz'),
                   'nvme': ('nvme', '0123456789')}
DEFAULT_BUS = 'virtio'


def check_metadata_value(profile: ServerProfile, key: Any, value: Any) -> None:
    """The reserved instance metadata keys, where the profile checks them: `tags` is a list, `affinity` an object
    whose values int() takes (a type it cannot take is Python's own TypeError text, as the server's wrapper sends)."""
    if not profile.instance_metadata_rules:
        return
    if key == 'tags' and not isinstance(value, list):
        raise bad_request('value for "tags" key should be a JSON list')
    if key == 'affinity':
        if not isinstance(value, dict):
            raise bad_request('value for "affinity" key should be a valid JSON dictionary')
        for weight in value.values():
            try:
                int(weight)
            except ValueError:
                raise bad_request('affinity dictionary values should be integers') from None
            except TypeError as exc:
                raise bad_request(str(exc)) from None


def disk_device(bus: str, index: int) -> str:
    """`_get_disk_device`: vda, vdb, ... (sd* for sata/scsi/usb, nvme0... for nvme); ValueError if impossible."""
    if bus not in DEVICE_PREFIXES:
        raise ValueError(f'Unknown bus {bus}')
    prefix, scheme = DEVICE_PREFIXES[bus]
    if index >= len(scheme):
        raise ValueError(f'too many disks for bus {bus}')
    return f'{prefix}{scheme[index]}'


def plan_block_devices(disk_spec: list[dict[str, Any]], configdrive: str) -> list[dict[str, Any]]:
    """Device layout as `_initialize_block_devices`: disk 0, then the config drive, then the other disks."""
    def entry(d: dict[str, Any], index: int) -> dict[str, Any]:
        bus = d.get('bus') or DEFAULT_BUS
        size = d.get('size')
        return {'type': 'qcow2', 'size': int(size) if size else size, 'device': disk_device(bus, index), 'bus': bus,
                'base': d.get('base'), 'blob_uuid': d.get('blob_uuid'), 'present_as': d.get('type') or 'disk',
                'snapshot_ignores': False}

    devices = [entry(disk_spec[0], 0)]
    index = 1
    if configdrive == 'openstack-disk':
        bus = disk_spec[0].get('bus') or DEFAULT_BUS
        devices.append({'type': 'raw', 'size': None, 'device': disk_device(bus, 1), 'bus': bus, 'base': None,
                        'blob_uuid': None, 'present_as': 'disk', 'snapshot_ignores': True, 'is_configdrive': True})
        index += 1
    for d in disk_spec[1:]:
        devices.append(entry(d, index))
        index += 1
    return devices


def instance_dir(data_dir: Path, instance_uuid: str) -> Path:
    return data_dir / 'instances' / instance_uuid


def remove_instance_files(data_dir: Path, instance_uuid: str) -> None:
    shutil.rmtree(instance_dir(data_dir, instance_uuid), ignore_errors=True)


def get_instance(tx: Tx, instance_uuid: str) -> Any:
    return tx.one('SELECT * FROM instances WHERE uuid = ?', (instance_uuid,))


def instance_view(tx: Tx, profile: ServerProfile, row: Any) -> dict[str, Any]:
    refs: dict[str, list[dict[str, Any]]] = {}
    for ref in tx.all("SELECT * FROM blob_refs WHERE source_type = 'instance' AND source_uuid = ? ORDER BY id",
                      (row['uuid'],)):
        refs.setdefault(ref['relationship'], []).append(ref_view(ref))
    view: dict[str, Any] = {
        'uuid': row['uuid'],
        'state': row['state'],
        'metadata': loads(row['metadata'], {}),
        'version': 12,
        'cpus': row['cpus'],
        'disk_spec': loads(row['disk_spec'], []),
        'memory': row['memory'],
        'name': row['name'],
        'namespace': row['namespace'],
        'ssh_key': row['ssh_key'],
        'user_data': row['user_data'],
        'video': loads(row['video'], {}),
        'uefi': bool(row['uefi']),
        'configdrive': row['configdrive'],
        'nvram_template': row['nvram_template'],
        'secure_boot': bool(row['secure_boot']),
        'machine_type': row['machine_type'],
        'side_channels': loads(row['side_channels'], []),
        'agent_state': None,
        'agent_start_time': None,
        'agent_system_boot_time': None,
        'error_message': row['error_message'],
        'last_cluster_operation': loads(row['last_op']),
        'console_port': row['console_port'],
        'node': row['node'],
        'power_state': row['power_state'],
        'vdi_port': row['vdi_port'],
        'vdi_tls_port': None,
    }
    if row['requested_placement']:
        view['requested_placement'] = row['requested_placement']
    view['interfaces'] = [interface_view(r) for r in instance_interfaces(tx, row['uuid'])]
    view['disks'] = [
        {'device': d['device'], 'bus': d['bus'], 'size': d.get('size'), 'blob_uuid': d.get('blob_uuid'),
         'snapshot_ignores': d.get('snapshot_ignores')}
        for d in loads(row['block_devices'], [])
    ]
    view['agent_operations_queue'] = []
    view['references_to'] = {}
    view['references_from'] = refs
    return profile.view('instance', view)
