"""Snapshots: the device-keyed answer, blobs that appear after a delay with the disk's real bytes, listings."""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

import pytest
from compute_helpers import disk, instance_body, wait_for, wait_state
from sfe_helpers import Api, make_namespace, unique

from sf_emulator.testing import EmulatorProcess


def boot(api: Api, *disks: dict[str, Any], **extra: Any) -> dict[str, Any]:
    created = api.ok('POST', '/instances', instance_body(unique('vm'), list(disks), **extra))
    return wait_state(api, f'/instances/{created["uuid"]}', 'created')


def snapshot(api: Api, instance: dict[str, Any], **body: Any) -> dict[str, Any]:
    request = {'all': False, 'device': None, 'thin': False}  # what the 0.8.3 client sends
    request.update(body)
    return api.ok('POST', f'/instances/{instance["uuid"]}/snapshot', request)


def wait_snapshot_blob(api: Api, instance: dict[str, Any], blob_uuid: str) -> dict[str, Any]:
    def done() -> Any:
        for entry in api.ok('GET', f'/instances/{instance["uuid"]}/snapshot'):
            if entry['blob_uuid'] == blob_uuid and entry['state'] == 'created':
                return entry
        return None

    return wait_for(done, what=f'snapshot blob {blob_uuid}')


@pytest.mark.server_profile('latest')  # snapshot op, sha512 at once
def test_snapshot_answer_then_blob_with_the_disk_bytes(compute: EmulatorProcess, admin: Api) -> None:
    compute.set_config(snapshot_delay=0.5)
    data = secrets.token_bytes(200_000)
    admin.upload_bytes('snap-base', data)
    instance = boot(admin, disk('sf://upload/system/snap-base'), disk(None, 1))
    answer = snapshot(admin, instance)
    assert list(answer) == ['vda']
    entry = answer['vda']
    assert entry['source_url'] == f'sf://instance/{instance["uuid"]}/vda'
    assert admin.error('GET', f'/blobs/{entry["blob_uuid"]}') == (404, 'blob not found')  # pre-allocated only
    assert admin.ok('GET', f'/instances/{instance["uuid"]}/snapshot') == []
    ops = admin.ok('GET', f'/instances/{instance["uuid"]}/clusteroperations')
    assert [op['operation_type'] for op in ops] == ['node_inst_snap_op']
    listed = wait_snapshot_blob(admin, instance, entry['blob_uuid'])
    assert listed['uuid'] == entry['artifact_uuid'] and listed['artifact_type'] == 'snapshot'
    assert listed['size'] == len(data) and listed['sha512'] == hashlib.sha512(data).hexdigest()
    assert 'instances' in listed and 'index' not in listed
    assert admin.call('GET', f'/blobs/{entry["blob_uuid"]}/data').content == data
    art = admin.ok('GET', f'/artifacts/{entry["artifact_uuid"]}')
    assert art['state'] == 'created' and art['blob_uuid'] == entry['blob_uuid'] and art['index'] == 1
    assert art['namespace'] == 'system' and art['source_url'] == entry['source_url']


def test_device_selection(admin: Api) -> None:
    instance = boot(admin, disk(None), disk(None, 2))
    assert sorted(snapshot(admin, instance, all=True)) == ['vda', 'vdc']  # vdb is the config drive
    assert list(snapshot(admin, instance, device='vdc')) == ['vdc']
    assert snapshot(admin, instance, device='vdz') == {}
    assert snapshot(admin, instance, device='vdb') == {}


def test_not_ready_instance_is_406(compute: EmulatorProcess, admin: Api) -> None:
    compute.set_config(instance_create_delay=2.0)
    created = admin.ok('POST', '/instances', instance_body('slow', [disk(None)]))
    status, message = admin.error('POST', f'/instances/{created["uuid"]}/snapshot', {'all': False})
    assert status == 406
    assert message in (f'instance {created["uuid"]} is not ready (initial)',
                       f'instance {created["uuid"]} is not ready (preflight)')
    assert admin.error('POST', '/instances/no-such-vm/snapshot', {})[0] == 404


@pytest.mark.server_profile('latest')  # the same-sha512 skip rule on disks
def test_unchanged_disk_adds_no_version_and_changed_disk_does(compute: EmulatorProcess, admin: Api) -> None:
    compute.set_config(snapshot_guest_writes=False)  # the pure C.5 skip rule
    admin.upload_bytes('versioned', b'version one')
    instance = boot(admin, disk('sf://upload/system/versioned'))
    first = snapshot(admin, instance, max_versions=2)['vda']
    wait_snapshot_blob(admin, instance, first['blob_uuid'])
    again = snapshot(admin, instance)['vda']
    assert again['artifact_uuid'] == first['artifact_uuid']
    op_path = f'/instances/{instance["uuid"]}/clusteroperations'
    wait_for(lambda: admin.ok('GET', op_path) == [], what='snapshot op finished')
    # Same bytes as the newest version: skipped, so the pre-allocated blob never becomes a version.
    listing = admin.ok('GET', f'/instances/{instance["uuid"]}/snapshot')
    assert [e['blob_uuid'] for e in listing] == [first['blob_uuid']]
    disk_file = compute.data_dir / 'instances' / instance['uuid'] / 'vda'
    for n in range(2, 5):
        disk_file.write_bytes(f'guest wrote version {n}'.encode())
        newer = snapshot(admin, instance)['vda']
        wait_snapshot_blob(admin, instance, newer['blob_uuid'])
    art = admin.ok('GET', f'/artifacts/{first["artifact_uuid"]}')
    assert art['max_versions'] == 2 and sorted(art['blobs']) == ['3', '4']
    assert admin.call('GET', f'/blobs/{art["blob_uuid"]}/data').content == b'guest wrote version 4'


@pytest.mark.server_profile('latest')  # simulated guest writes
def test_repeated_snapshots_of_a_running_guest_add_versions(compute: EmulatorProcess, admin: Api) -> None:
    admin.upload_bytes('busy', b'busy guest base')
    instance = boot(admin, disk('sf://upload/system/busy'))
    disk_file = compute.data_dir / 'instances' / instance['uuid'] / 'vda'
    first = snapshot(admin, instance)['vda']
    wait_snapshot_blob(admin, instance, first['blob_uuid'])
    assert admin.call('GET', f'/blobs/{first["blob_uuid"]}/data').content == b'busy guest base'
    second = snapshot(admin, instance)['vda']
    wait_snapshot_blob(admin, instance, second['blob_uuid'])  # the simulated guest wrote meanwhile
    content = admin.call('GET', f'/blobs/{second["blob_uuid"]}/data').content
    assert content == disk_file.read_bytes()
    assert content.startswith(b'busy guest base') and content != b'busy guest base'
    assert sorted(admin.ok('GET', f'/artifacts/{first["artifact_uuid"]}')['blobs']) == ['1', '2']


@pytest.mark.server_profile('latest')  # max_versions checked
def test_max_versions_validation(admin: Api) -> None:
    instance = boot(admin, disk(None))
    path = f'/instances/{instance["uuid"]}/snapshot'
    assert admin.error('POST', path, {'max_versions': -1}) == (400, 'max version cannot be negative')
    assert admin.error('POST', path, {'max_versions': 'lots'}) == (400, 'max version is not an integer')


def test_boot_from_a_snapshot(compute: EmulatorProcess, admin: Api) -> None:
    admin.upload_bytes('golden', b'golden image bytes')
    source = boot(admin, disk('sf://upload/system/golden'))
    (compute.data_dir / 'instances' / source['uuid'] / 'vda').write_bytes(b'configured by the guest')
    taken = snapshot(admin, source)['vda']
    wait_snapshot_blob(admin, source, taken['blob_uuid'])
    clone = boot(admin, disk(f'sf://snapshot/{taken["artifact_uuid"]}'))
    assert clone['disks'][0]['blob_uuid'] == taken['blob_uuid']
    assert (compute.data_dir / 'instances' / clone['uuid'] / 'vda').read_bytes() == b'configured by the guest'


def test_uefi_nvram_is_snapshotted_at_once(admin: Api) -> None:
    instance = boot(admin, disk(None), uefi=True)
    answer = snapshot(admin, instance, all=True)
    assert sorted(answer) == ['nvram', 'vda']
    nvram = admin.ok('GET', f'/blobs/{answer["nvram"]["blob_uuid"]}')  # exists before the answer
    assert nvram['state'] == 'created' and nvram['size'] == 65536


def test_thin_snapshot_depends_on_its_base(admin: Api) -> None:
    base = admin.upload_bytes('thin-base', b'thin base bytes')
    instance = boot(admin, disk('sf://upload/system/thin-base'))
    taken = snapshot(admin, instance, thin=True)['vda']
    listed = wait_snapshot_blob(admin, instance, taken['blob_uuid'])
    assert listed['depends_on'] == base['blob_uuid']
    assert admin.ok('GET', f'/blobs/{base["blob_uuid"]}')['reference_count'] == 3  # version, disk, thin blob


def test_snapshots_of_other_namespaces_are_hidden(admin: Api) -> None:
    instance = boot(admin, disk(None))
    tenant = make_namespace(admin)
    assert tenant.error('GET', f'/instances/{instance["uuid"]}/snapshot') == (404, 'instance not found')
    assert tenant.error('POST', f'/instances/{instance["uuid"]}/snapshot', {})[0] == 404
