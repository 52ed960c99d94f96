"""The 0.7.2 profile on instances, networks and snapshots: what the real tier cannot show (it has no hypervisor and
no network node), from 0.7.2's source (/work/notes/072-differences.md rows 4 to 6).

Each test runs a private emulator of that profile with short timings.
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from compute_helpers import COMPUTE_FAST, disk, instance_body, wait_for, wait_state
from sfe_helpers import Api, make_namespace, unique

from sf_emulator.testing import EmulatorProcess

NETWORK_VIEW_KEYS = {'uuid', 'state', 'metadata', 'version', 'name', 'namespace', 'netblock', 'provide_dhcp',
                     'provide_nat', 'floating_gateway', 'vxid'}
NEWER_INSTANCE_KEYS = {'last_cluster_operation', 'agent_operations_queue', 'references_to', 'references_from'}


pytestmark = pytest.mark.server_profile('0.7.2')


@pytest.fixture
def compute(tmp_path: Path) -> Iterator[EmulatorProcess]:
    with EmulatorProcess(tmp_path / 'data', extra_args=COMPUTE_FAST, server_profile='0.7.2') as process:
        yield process


@pytest.fixture
def admin(compute: EmulatorProcess) -> Api:
    api = Api(compute.url, 'system', compute.system_key)
    assert api.ok('GET', '/_emulator/info')['server_profile'] == '0.7.2'
    return api


def network(api: Api, netblock: str = '10.0.0.0/24') -> dict[str, Any]:
    """A created network, flags left out (0.7.2 stores them as null)."""
    made = api.ok('POST', '/networks', {'netblock': netblock, 'name': unique('net')})
    return wait_state(api, f'/networks/{made["uuid"]}', 'created')


def boot(api: Api, *disks: dict[str, Any], **extra: Any) -> dict[str, Any]:
    made = api.ok('POST', '/instances', instance_body(unique('vm'), list(disks) or [disk(None)], **extra))
    return wait_state(api, f'/instances/{made["uuid"]}', 'created')


def on(net: dict[str, Any]) -> list[dict[str, Any]]:
    return [{'network_uuid': net['uuid']}]


def states_seen(api: Api, path: str, until: str, timeout: float = 15) -> list[str]:
    """Every state `path` is seen in, polling until `until`."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while not seen or seen[-1] != until:
        assert time.monotonic() < deadline, f'{path} never reached {until}: {seen}'
        state = api.ok('GET', path)['state']
        if not seen or seen[-1] != state:
            seen.append(state)
        time.sleep(0.02)
    return seen


def not_routed(api: Api, path: str) -> bool:
    answer = api.call('GET', path)
    return answer.status_code == 404 and answer.headers['Content-Type'].startswith('text/html')


def test_network_delete_answers_the_view_and_waits_in_delete_wait(compute: EmulatorProcess, admin: Api) -> None:
    net = network(admin)
    assert set(net) == NETWORK_VIEW_KEYS and (net['provide_dhcp'], net['provide_nat']) == (None, None)
    instance = boot(admin, network=on(net))
    [interface] = admin.ok('GET', f'/networks/{net["uuid"]}/interfaces')  # what the delete waits for
    assert (interface['instance_uuid'], interface['network_uuid'], interface['state']) == \
        (instance['uuid'], net['uuid'], 'created')
    answer = admin.call('DELETE', f'/networks/{net["uuid"]}')
    assert answer.status_code == 200 and answer.json()['state'] == 'delete-wait'  # interfaces remain
    assert admin.ok('GET', f'/networks/{net["uuid"]}')['state'] == 'delete-wait'
    listed = [n for n in admin.ok('GET', '/networks') if n['uuid'] == net['uuid']]
    assert [(n['state'], n['vxlan_id']) for n in listed] == [('delete-wait', 0)]
    compute.set_config(instance_delete_delay=0.4)
    gone = admin.ok('DELETE', f'/instances/{instance["uuid"]}')
    assert gone['state'] == 'created'  # the view as it was: the delete is queued
    assert states_seen(admin, f'/instances/{instance["uuid"]}', 'deleted') == ['created', 'delete-wait', 'deleted']
    wait_state(admin, f'/networks/{net["uuid"]}', 'deleted')
    assert admin.ok('GET', f'/networks/{net["uuid"]}/interfaces') == []  # they went with the instance
    again = admin.call('DELETE', f'/networks/{net["uuid"]}')
    assert (again.status_code, again.content) == (200, b'null\n')
    idle = network(admin, '10.1.0.0/24')
    answer = admin.call('DELETE', f'/networks/{idle["uuid"]}')
    assert answer.status_code == 200 and answer.json()['uuid'] == idle['uuid']  # no operation handle
    wait_state(admin, f'/networks/{idle["uuid"]}', 'deleted')
    for path in ('/clusteroperations', f'/networks/{net["uuid"]}/clusteroperations',
                 f'/instances/{instance["uuid"]}/clusteroperations'):
        assert not_routed(admin, path), path


def test_bulk_network_delete_as_system_takes_every_namespace(admin: Api) -> None:
    tenant = make_namespace(admin)
    ours = network(admin, '10.2.0.0/24')
    theirs = network(tenant, '10.3.0.0/24')
    busy = network(tenant, '10.4.0.0/24')
    instance = boot(tenant, network=on(busy))
    answer = admin.call('DELETE', '/networks', json={'confirm': True, 'namespace': 'system', 'clean_wait': False})
    assert answer.status_code == 403
    error = answer.json()['error']
    assert error['unable'] == [busy['uuid']] and {ours['uuid'], theirs['uuid']} <= set(error['deleted'])
    assert all(isinstance(uuid, str) for uuid in error['deleted'])
    for idle in (ours, theirs):  # the deletes were queued despite the 403
        wait_state(admin, f'/networks/{idle["uuid"]}', 'deleted')
    answer = admin.call('DELETE', '/networks', json={'confirm': True, 'namespace': 'system', 'clean_wait': True})
    assert answer.status_code == 200 and busy['uuid'] in answer.json()
    assert admin.ok('GET', f'/networks/{busy["uuid"]}')['state'] == 'delete-wait'
    tenant.ok('DELETE', f'/instances/{instance["uuid"]}')
    wait_state(admin, f'/networks/{busy["uuid"]}', 'deleted')


def test_bulk_instance_delete_as_system_takes_every_namespace_and_deleted_ones(admin: Api) -> None:
    tenant = make_namespace(admin)
    done = boot(admin)
    admin.ok('DELETE', f'/instances/{done["uuid"]}')
    wait_state(admin, f'/instances/{done["uuid"]}', 'deleted')
    mine, theirs = boot(admin), boot(tenant)
    assert tenant.ok('DELETE', '/instances', {'confirm': True}) == [theirs['uuid']]  # a tenant: its own only
    listed = admin.ok('DELETE', '/instances', {'confirm': True, 'namespace': 'system'})
    assert {done['uuid'], mine['uuid'], theirs['uuid']} <= set(listed)  # deleted ones too, every namespace
    for uuid in (mine['uuid'], theirs['uuid']):
        wait_state(admin, f'/instances/{uuid}', 'deleted')


def test_instance_create_defaults_and_metadata_rules(admin: Api) -> None:
    created = admin.ok('POST', '/instances', instance_body(unique('vm'), [disk(None)], cpus=0, memory=-1,
                                                           metadata={'tags': ['web'], 'affinity': {'db': '2'}}))
    assert created['side_channels'] == ['sf-agent'] and created['node'] == 'localhost'  # placed at create
    assert created['version'] == 13 and not NEWER_INSTANCE_KEYS & set(created)
    assert admin.ok('POST', '/instances', instance_body(unique('vm'), [disk(None)],
                                                        side_channels=['serial']))['side_channels'] == ['serial']
    refused = {
        "'>' not supported between instances of 'str' and 'int'": {'cpus': 'two'},
        'value for "tags" key should be a JSON list': {'metadata': {'tags': 'web'}},
        'value for "affinity" key should be a valid JSON dictionary': {'metadata': {'affinity': ['db']}},
        'affinity dictionary values should be integers': {'metadata': {'affinity': {'db': 'high'}}},
        "int() argument must be a string, a bytes-like object or a real number, not 'NoneType'":
            {'metadata': {'affinity': {'db': None}}},
        'no value specified': {'metadata': {'owner': ''}},
    }
    for message, extra in refused.items():
        assert admin.error('POST', '/instances', instance_body(unique('vm'), [disk(None)], **extra)) == (
            400, message), extra
    path = f'/instances/{created["uuid"]}/metadata'
    assert admin.error('PUT', f'{path}/tags', {'value': 'web'}) == (400, 'value for "tags" key should be a JSON list')
    assert admin.error('POST', path, {'key': 'note', 'value': 0}) == (400, 'no value specified')
    assert admin.ok('PUT', f'{path}/tags', {'value': ['db']}) is None
    answer = admin.call('DELETE', f'{path}/never-set')
    assert (answer.status_code, answer.content) == (200, b'null\n')
    assert admin.ok('GET', path) == {'tags': ['db'], 'affinity': {'db': '2'}}


def test_every_disk_snapshot_adds_a_version_whose_sha512_comes_later(compute: EmulatorProcess, admin: Api) -> None:
    data = secrets.token_bytes(5000)
    admin.upload_bytes('snap-072', data)
    instance = boot(admin, disk('sf://upload/system/snap-072'))
    blobs = []
    for _ in range(2):  # the disk never changes: 0.7.2 has no sha512 to skip the second one with
        taken = admin.ok('POST', f'/instances/{instance["uuid"]}/snapshot', {'all': False})['vda']
        blob = wait_for(lambda t=taken: admin.call('GET', f'/blobs/{t["blob_uuid"]}').status_code == 200 and
                        admin.ok('GET', f'/blobs/{t["blob_uuid"]}'), what='snapshot blob')
        assert blob['sha512'] is None and 'checksums' not in blob
        blobs.append(taken['blob_uuid'])
    art = admin.ok('GET', f'/artifacts/{taken["artifact_uuid"]}')
    assert [art['blobs'][i]['uuid'] for i in ('1', '2')] == blobs
    assert admin.call('GET', f'/blobs/{blobs[1]}/data').content == data  # no simulated guest write
    listing = admin.ok('GET', f'/instances/{instance["uuid"]}/snapshot')
    assert [(e['blob_uuid'], e['sha512']) for e in listing] == [(b, None) for b in blobs]
    compute.set_config(checksum_min_age=0, checksum_interval=0)  # 0.7.2: 60 s, every 300 s
    wanted = hashlib.sha512(data).hexdigest()
    wait_for(lambda: all(admin.ok('GET', f'/blobs/{b}')['sha512'] == wanted for b in blobs), what='checksum pass')
    third = admin.ok('POST', f'/instances/{instance["uuid"]}/snapshot', {'all': False})['vda']
    wait_for(lambda: admin.call('GET', f'/blobs/{third["blob_uuid"]}').status_code == 200, what='third snapshot')
    assert sorted(admin.ok('GET', f'/artifacts/{third["artifact_uuid"]}')['blobs']) == ['1', '2', '3']
    assert not_routed(admin, f'/instances/{instance["uuid"]}/clusteroperations')


def test_an_unchanged_nvram_keeps_its_newest_version(compute: EmulatorProcess, admin: Api) -> None:
    instance = boot(admin, uefi=True)
    path = f'/instances/{instance["uuid"]}/snapshot'
    first = admin.ok('POST', path, {'device': 'nvram'})['nvram']
    second = admin.ok('POST', path, {'device': 'nvram'})['nvram']
    left = admin.ok('GET', f'/blobs/{second["blob_uuid"]}')  # made, hashed, equal to the newest: not added
    assert (left['state'], left['reference_count'], left['sha512']) == ('created', 0, hashlib.sha512(
        bytes(65536)).hexdigest())
    art = admin.ok('GET', f'/artifacts/{first["artifact_uuid"]}')
    assert (art['index'], art['blob_uuid']) == (1, first['blob_uuid'])
    (compute.data_dir / 'instances' / instance['uuid'] / 'nvram').write_bytes(b'boot order changed')
    third = admin.ok('POST', path, {'device': 'nvram'})['nvram']
    art = admin.ok('GET', f'/artifacts/{first["artifact_uuid"]}')
    assert (art['index'], art['blob_uuid']) == (2, third['blob_uuid'])


def test_a_failed_snapshot_deletes_the_instance(compute: EmulatorProcess, admin: Api) -> None:
    instance = boot(admin)
    compute.set_config(snapshot_delay=0.5, instance_delete_delay=0.5)
    taken = admin.ok('POST', f'/instances/{instance["uuid"]}/snapshot', {'all': False})['vda']
    (compute.data_dir / 'instances' / instance['uuid'] / 'vda').unlink()  # the copy will not find the disk
    path = f'/instances/{instance["uuid"]}'
    failed = wait_state(admin, path, 'created-error')
    assert failed['error_message'] == "Failed queue task: 'NoneType' object has no attribute 'uuid'"
    wait_state(admin, path, 'deleted')
    assert admin.call('GET', f'/blobs/{taken["blob_uuid"]}').status_code == 404


def test_a_thin_snapshot_whose_base_is_gone_never_appears(compute: EmulatorProcess, admin: Api) -> None:
    base = admin.upload_bytes('thin-072', b'thin base')
    instance = boot(admin, disk('sf://upload/system/thin-072'))
    # Nothing in the API removes a blob an instance still uses; 0.7.2 meets it when a base blob was lost.
    with sqlite3.connect(compute.data_dir / 'emulator.sqlite3') as db:
        db.execute("UPDATE blobs SET state = 'deleted' WHERE uuid = ?", (base['blob_uuid'],))
    thin = admin.ok('POST', f'/instances/{instance["uuid"]}/snapshot', {'thin': True})['vda']
    full = admin.ok('POST', f'/instances/{instance["uuid"]}/snapshot', {'thin': False})['vda']
    wait_for(lambda: admin.call('GET', f'/blobs/{full["blob_uuid"]}').status_code == 200, what='full snapshot')
    time.sleep(0.5)  # both ops ran long ago (snapshot_delay 0.1 s)
    assert admin.call('GET', f'/blobs/{thin["blob_uuid"]}').status_code == 404
    assert admin.ok('GET', f'/instances/{instance["uuid"]}')['state'] == 'created'  # silent: nothing else failed


def test_snapshot_max_versions_is_taken_as_given(admin: Api) -> None:
    instance = boot(admin, disk(None), disk(None, 2))
    path = f'/instances/{instance["uuid"]}/snapshot'
    assert admin.error('POST', path, {'device': 'vdc', 'max_versions': 'two'}) == (
        400, "'>' not supported between instances of 'int' and 'str'")
    left = [a for a in admin.ok('GET', '/artifacts') if a['source_url'].endswith(f'{instance["uuid"]}/vdc')]
    assert [(a['state'], a['blobs']) for a in left] == [('initial', {})]  # made before the comparison failed
    taken = admin.ok('POST', path, {'device': 'vdc', 'max_versions': 'two'})['vdc']  # now it exists: ignored
    wait_for(lambda: admin.ok('GET', f'/artifacts/{taken["artifact_uuid"]}')['blobs'], what='snapshot version')
    kept = admin.ok('POST', path, {'device': 'vda', 'max_versions': -1})['vda']
    wait_for(lambda: admin.ok('GET', f'/artifacts/{kept["artifact_uuid"]}')['index'] == 0 and
             admin.call('GET', f'/blobs/{kept["blob_uuid"]}').status_code == 200, what='version trimmed at once')
    art = admin.ok('GET', f'/artifacts/{kept["artifact_uuid"]}')
    assert (art['max_versions'], art['blobs'], art['state']) == (-1, {}, 'created')
