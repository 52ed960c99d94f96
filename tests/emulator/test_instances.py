"""Instances: create with every disk base form of C.6, lifecycle, list/get/delete, errors, preconditions."""

from __future__ import annotations

import secrets
from typing import Any

import pytest
from compute_helpers import (
    ImageServer,
    create_network,
    disk,
    instance_body,
    wait_for,
    wait_op,
    wait_state,
)
from sfe_helpers import Api, make_namespace, unique

from sf_emulator.testing import EmulatorProcess


def boot(api: Api, *disks: dict[str, Any], **extra: Any) -> dict[str, Any]:
    created = api.ok('POST', '/instances', instance_body(unique('vm'), list(disks), **extra))
    assert created['state'] == 'initial'
    return wait_state(api, f'/instances/{created["uuid"]}', ('created', 'error'))


def disk_bytes(compute: EmulatorProcess, instance: dict[str, Any], device: str = 'vda') -> bytes:
    return (compute.data_dir / 'instances' / instance['uuid'] / device).read_bytes()


@pytest.mark.server_profile('latest')  # references_from, last_cluster_operation
def test_create_from_an_upload_copies_the_bytes(compute: EmulatorProcess, admin: Api) -> None:
    data = secrets.token_bytes(300_000)
    art = admin.upload_bytes('base-image', data)
    seen: list[Any] = []
    created = admin.ok('POST', '/instances', instance_body('vm1', [disk('sf://upload/system/base-image'),
                                                                    disk(None, 2)]))
    path = f'/instances/{created["uuid"]}'
    while (state := admin.ok('GET', path)['state']) != 'created':
        if not seen or seen[-1] != state:
            seen.append(state)
    assert seen[0] == 'initial' and set(seen) <= {'initial', 'preflight', 'creating'}
    view = admin.ok('GET', path)
    assert view['power_state'] == 'on' and view['node'] and view['error_message'] is None
    assert [(d['device'], d['blob_uuid'], d['snapshot_ignores']) for d in view['disks']] == [
        ('vda', art['blob_uuid'], False), ('vdb', None, True), ('vdc', None, False)]
    assert view['disk_spec'][0]['blob_uuid'] == art['blob_uuid'] and view['disk_spec'][1]['disk_base'] is None
    assert view['last_cluster_operation']['op_type'] == 'node_inst_netdesc_op'
    for field in ('cpus', 'memory', 'video', 'side_channels', 'uefi', 'secure_boot', 'nvram_template',
                  'console_port', 'vdi_port', 'vdi_tls_port', 'agent_state', 'interfaces', 'machine_type',
                  'metadata', 'version', 'references_to', 'ssh_key', 'user_data'):
        assert field in view
    assert view['references_from']['disk'][0]['target_uuid'] == art['blob_uuid']
    assert disk_bytes(compute, view) == data
    assert disk_bytes(compute, view, 'vdc') == b''
    blob = admin.ok('GET', f'/blobs/{art["blob_uuid"]}')
    assert blob['reference_count'] == 2 and blob['instances'] == [view['uuid']]


def test_delete_is_async_and_releases_the_disks(compute: EmulatorProcess, admin: Api) -> None:
    art = admin.upload_bytes('to-release', b'x' * 1000)
    instance = boot(admin, disk('sf://upload/system/to-release'))
    admin.ok('DELETE', f'/artifacts/{art["uuid"]}')
    assert admin.ok('GET', f'/blobs/{art["blob_uuid"]}')['state'] == 'created'  # the disk still uses it
    answer = admin.ok('DELETE', f'/instances/{instance["name"]}')
    assert answer['uuid'] == instance['uuid'] and answer['state'] == 'created'  # the view at request time
    gone = wait_state(admin, f'/instances/{instance["uuid"]}', 'deleted')
    assert gone['power_state'] == 'off'
    assert not (compute.data_dir / 'instances' / instance['uuid']).exists()
    blob = admin.ok('GET', f'/blobs/{art["blob_uuid"]}')
    assert blob['reference_count'] == 0 and blob['state'] == 'deleted'
    assert admin.error('DELETE', f'/instances/{instance["uuid"]}') == (404, 'instance not found')
    assert admin.error('GET', f'/instances/{instance["name"]}') == (404, 'instance not found')
    assert instance['uuid'] not in [i['uuid'] for i in admin.ok('GET', '/instances')]
    assert instance['uuid'] in [i['uuid'] for i in admin.ok('GET', '/instances', {'all': True})]


def test_bare_shorthand_ignores_a_label_of_that_name(compute: EmulatorProcess, admin: Api) -> None:
    """Issue #3271: `centos:7` is the upstream image even while a system label `centos:7` exists."""
    upstream = b'upstream centos 7 image ' * 100
    label_bytes = b'label contents, never to be booted by a bare name ' * 10
    with ImageServer({'/centos:7/latest.qcow2': upstream}) as images:
        compute.set_config(image_base_url=images.url)
        source = admin.upload_bytes('label-source', label_bytes)
        label = admin.ok('POST', '/label/centos:7', {'blob_uuid': source['blob_uuid']})
        assert label['artifact_type'] == 'label'
        instance = boot(admin, disk('centos:7'))
        assert instance['state'] == 'created', instance['error_message']
        assert images.requests == ['/centos:7/latest.qcow2']
    assert disk_bytes(compute, instance) == upstream
    image = [a for a in admin.ok('GET', '/artifacts') if a['source_url'] == 'centos:7']
    assert len(image) == 1 and image[0]['artifact_type'] == 'image'
    assert instance['disks'][0]['blob_uuid'] == image[0]['blob_uuid'] != label['blob_uuid']
    labelled = boot(admin, disk('label:centos:7'))
    assert disk_bytes(compute, labelled) == label_bytes
    by_url = boot(admin, disk('sf://label/system/centos:7'))
    assert by_url['disks'][0]['blob_uuid'] == label['blob_uuid']


def test_unfetchable_base_puts_the_instance_in_error(admin: Api) -> None:
    with ImageServer({}) as images:
        instance = boot(admin, disk(images.url + 'missing.qcow2'))
    assert instance['state'] == 'error'
    assert 'missing.qcow2' in instance['error_message'] and '404' in instance['error_message']
    art = [a for a in admin.ok('GET', '/artifacts') if a['source_url'].endswith('missing.qcow2')]
    assert art[0]['state'] == 'error'


@pytest.mark.server_profile('latest')  # artifact cluster operations
def test_owned_image_is_reused_and_refreshed(compute: EmulatorProcess, admin: Api) -> None:
    with ImageServer({'/debian:12/latest.qcow2': b'debian v1'}) as images:
        compute.set_config(image_base_url=images.url)
        first = boot(admin, disk('debian:12'))
        images.files['/debian:12/latest.qcow2'] = b'debian v2'
        second = boot(admin, disk('debian:12'))
        assert len(images.requests) == 2  # the owned artifact was refreshed, not re-created
    arts = [a for a in admin.ok('GET', '/artifacts') if a['source_url'] == 'debian:12']
    assert len(arts) == 1
    versions = admin.ok('GET', f'/artifacts/{arts[0]["uuid"]}/versions')
    assert len(versions) == 2
    assert first['disks'][0]['blob_uuid'] == versions[0]['uuid']
    assert second['disks'][0]['blob_uuid'] == versions[1]['uuid']
    ops = admin.ok('GET', f'/artifacts/{arts[0]["uuid"]}/clusteroperations', {'all': True})
    assert [op['operation_type'] for op in ops] == ['artifact_fetch_op', 'artifact_fetch_op']


def test_visible_shared_image_is_booted_without_a_download(compute: EmulatorProcess, admin: Api) -> None:
    tenant = make_namespace(admin)
    with ImageServer({'/img.qcow2': b'shared image bytes'}) as images:
        url = images.url + 'img.qcow2'
        cached = admin.ok('POST', '/artifacts', {'url': url, 'shared': True, 'namespace': None})
        wait_state(admin, f'/artifacts/{cached["uuid"]}', 'created')
        instance = boot(tenant, disk(url))
        assert images.requests == ['/img.qcow2']
    blob = admin.ok('GET', f'/artifacts/{cached["uuid"]}')['blob_uuid']
    assert instance['disks'][0]['blob_uuid'] == blob
    assert [a['uuid'] for a in tenant.ok('GET', '/artifacts')] == [cached['uuid']]


def test_sf_url_bases(compute: EmulatorProcess, admin: Api) -> None:
    art = admin.upload_bytes('forms', b'form bytes')
    for base in (f'sf://artifact/{art["uuid"]}', f'sf://blob/{art["blob_uuid"]}'):
        instance = boot(admin, disk(base))
        assert instance['state'] == 'created' and instance['disks'][0]['blob_uuid'] == art['blob_uuid']
    missing = boot(admin, disk('sf://blob/00000000-0000-4000-8000-000000000000'))
    assert missing['state'] == 'error' and 'not found' in missing['error_message']
    body = instance_body('nolabel', [disk('label:no-such-label')])
    assert admin.error('POST', '/instances', body) == (404, 'artifact not found')
    body = instance_body('nosnap', [disk('sf://snapshot/00000000-0000-4000-8000-000000000000')])
    assert admin.error('POST', '/instances', body) == (404, 'artifact not found')
    with ImageServer({}) as images:
        pending = admin.ok('POST', '/artifacts', {'url': images.url + 'never.qcow2'})
        body = instance_body('notready', [disk(f'sf://artifact/{pending["uuid"]}')])
        assert admin.error('POST', '/instances', body) == (404, 'artifact not ready (state=initial)')
        wait_state(admin, f'/artifacts/{pending["uuid"]}', 'error')


def test_tenant_cannot_boot_another_namespaces_private_artifact(admin: Api) -> None:
    tenant = make_namespace(admin)
    private = admin.upload_bytes('private-base', b'secret')
    body = instance_body('sneaky', [disk(f'sf://artifact/{private["uuid"]}')])
    assert tenant.error('POST', '/instances', body) == (404, 'artifact not found')
    admin.ok('POST', '/auth/namespaces/system/trust', {'external_namespace': tenant.namespace})
    assert boot(tenant, disk(f'sf://artifact/{private["uuid"]}'))['state'] == 'created'


@pytest.mark.server_profile('latest')  # cpus, memory and side channels checked
def test_create_validation(admin: Api) -> None:
    tenant = make_namespace(admin)
    other = make_namespace(admin)
    cases = [
        (instance_body('bad.name', [disk(None)]), 400),
        (instance_body('x' * 64, [disk(None)]), 400),
        (instance_body('nodisk', []), 400),
        (instance_body('sb', [disk(None)], secure_boot=True), 400),
        (instance_body('cd', [disk(None)], configdrive='floppy'), 400),
        (instance_body('bus', [{'base': None, 'size': 1, 'bus': 'ide'}]), 400),
        (instance_body('side', [disk(None)], side_channels=['serial']), 400),
        (instance_body('vid', [disk(None)], video={'model': 'cirrus'}), 400),
        (instance_body('net', [disk(None)], network=[{'network_uuid': 'no-such-net'}]), 404),
        (instance_body('node', [disk(None)], placed_on='sf-99'), 404),
        (instance_body('ns', [disk(None)], namespace='no-such-namespace'), 404),
        (instance_body('foreign', [disk(None)], namespace=other.namespace), 404),
        (dict(instance_body('extra', [disk(None)]), colour='red'), 400),
    ]
    for body, status in cases:
        assert tenant.error('POST', '/instances', body)[0] == status, body
    assert tenant.error('POST', '/instances', instance_body('sb', [disk(None)], secure_boot=True))[1] == (
        'secure boot requires UEFI be enabled')
    assert tenant.ok('GET', '/instances') == []


@pytest.mark.server_profile('latest')  # a body namespace narrows GET
def test_admin_creates_in_another_namespace_and_namespace_narrowing(admin: Api) -> None:
    tenant = make_namespace(admin)
    instance = boot(admin, disk(None), namespace=tenant.namespace)
    assert instance['namespace'] == tenant.namespace
    assert [i['uuid'] for i in tenant.ok('GET', '/instances')] == [instance['uuid']]
    assert tenant.ok('GET', f'/instances/{instance["name"]}')['uuid'] == instance['uuid']
    assert admin.ok('GET', f'/instances/{instance["name"]}', {'namespace': tenant.namespace})['uuid'] == (
        instance['uuid'])
    assert admin.error('GET', f'/instances/{instance["uuid"]}', {'namespace': 'system'})[0] == 404
    outsider = make_namespace(admin)
    assert outsider.error('GET', f'/instances/{instance["uuid"]}') == (404, 'instance not found')
    assert outsider.ok('GET', '/instances') == []


def test_instance_metadata_interfaces_and_events(admin: Api) -> None:
    network = create_network(admin)
    instance = boot(admin, disk(None), network=[{'network_uuid': network['name'], 'macaddress': None,
                                                 'model': 'virtio', 'address': '10.0.0.77'}],
                    metadata={'tier': 'web'})
    path = f'/instances/{instance["uuid"]}'
    assert admin.ok('GET', path + '/metadata') == {'tier': 'web'}
    admin.ok('PUT', path + '/metadata/owner', {'value': 'ci'})
    assert admin.ok('GET', path)['metadata'] == {'tier': 'web', 'owner': 'ci'}
    interfaces = admin.ok('GET', path + '/interfaces')
    assert [(i['ipv4'], i['network_uuid'], i['state']) for i in interfaces] == [
        ('10.0.0.77', network['uuid'], 'created')]
    assert admin.ok('GET', f'/networks/{network["uuid"]}/interfaces')[0]['instance_uuid'] == instance['uuid']
    taken = instance_body('clash', [disk(None)], network=[{'network_uuid': network['uuid'], 'address': '10.0.0.77'}])
    assert admin.error('POST', '/instances', taken) == (409, 'address 10.0.0.77 in use')
    outside = instance_body('out', [disk(None)], network=[{'network_uuid': network['uuid'], 'address': '10.9.0.1'}])
    assert admin.error('POST', '/instances', outside)[0] == 400
    messages = [e['message'] for e in admin.ok('GET', path + '/events')]
    assert 'create request from REST API' in messages


def test_delete_all_and_namespace_preconditions(admin: Api) -> None:
    tenant = make_namespace(admin)
    instances = [boot(tenant, disk(None)) for _ in range(2)]
    assert admin.error('DELETE', f'/auth/namespaces/{tenant.namespace}') == (
        400, 'you cannot delete a namespace with instances')
    assert tenant.error('DELETE', f'/auth/namespaces/{tenant.namespace}')[0] == 401  # admin only
    assert tenant.error('DELETE', '/instances', {'confirm': 'yes'})[0] == 400
    assert admin.error('DELETE', '/instances', {'confirm': True}) == (
        400, 'system user must specify parameter namespace')
    assert tenant.error('DELETE', '/instances', {'confirm': True, 'namespace': 'system'}) == (
        401, 'you cannot delete other namespaces')
    queued = tenant.ok('DELETE', '/instances', {'confirm': True, 'namespace': tenant.namespace})
    assert sorted(queued) == sorted(i['uuid'] for i in instances)
    for uuid in queued:
        wait_state(tenant, f'/instances/{uuid}', 'deleted')
    assert admin.error('DELETE', '/auth/namespaces/system') == (403, 'you cannot delete the system namespace')
    assert admin.ok('DELETE', f'/auth/namespaces/{tenant.namespace}') is None


def test_errored_instances_do_not_block_namespace_delete(admin: Api) -> None:
    tenant = make_namespace(admin)
    broken = boot(tenant, disk('sf://blob/00000000-0000-4000-8000-000000000000'))
    assert broken['state'] == 'error'
    assert admin.ok('DELETE', f'/auth/namespaces/{tenant.namespace}') is None


@pytest.mark.server_profile('latest')  # net_op handles, delete_wait
def test_network_delete_waits_for_interfaces(admin: Api) -> None:
    network = create_network(admin)
    instance = boot(admin, disk(None), network=[{'network_uuid': network['uuid']}])
    handle = admin.ok('DELETE', f'/networks/{network["uuid"]}')
    assert admin.ok('GET', f'/networks/{network["uuid"]}')['state'] == 'delete_wait'
    path = f'/clusteroperations/net_op/{handle["op_uuid"]}'
    wait_for(lambda: admin.ok('GET', path)['state'] == 'executing', what='op executing')
    assert admin.ok('GET', path)['state'] == 'executing'  # still waiting for the interface
    body = instance_body('late', [disk(None)], network=[{'network_uuid': network['uuid']}])
    assert admin.error('POST', '/instances', body)[0] == 406  # no new interfaces on a dying network
    admin.ok('DELETE', f'/instances/{instance["uuid"]}')
    assert wait_op(admin, handle)['state'] == 'complete'
    assert admin.ok('GET', f'/networks/{network["uuid"]}')['state'] == 'deleted'


@pytest.mark.server_profile('latest')  # op handles from DELETE /networks
def test_delete_all_networks_with_interfaces_in_use(admin: Api) -> None:
    tenant = make_namespace(admin)
    busy = create_network(tenant)
    idle = create_network(tenant, netblock='10.5.0.0/24')
    instance = boot(tenant, disk(None), network=[{'network_uuid': busy['uuid']}])
    answer = tenant.call('DELETE', '/networks', json={'confirm': True, 'namespace': None, 'clean_wait': False})
    assert answer.status_code == 403
    error = answer.json()['error']
    assert error['unable'] == [busy['uuid']]
    assert [d['network_uuid'] for d in error['deleted']] == [idle['uuid']]
    wait_op(tenant, error['deleted'][0])
    answer = tenant.call('DELETE', '/networks', json={'confirm': True, 'namespace': None, 'clean_wait': True})
    assert answer.status_code == 202
    [handle] = answer.json()
    assert handle['network_uuid'] == busy['uuid']
    assert tenant.ok('GET', f'/networks/{busy["uuid"]}')['state'] == 'delete_wait'
    tenant.ok('DELETE', f'/instances/{instance["uuid"]}')
    assert wait_op(tenant, handle)['state'] == 'complete'


@pytest.mark.server_profile('latest')  # last_cluster_operation
def test_instance_and_snapshot_state_survive_a_restart(compute: EmulatorProcess, admin: Api) -> None:
    compute.set_config(instance_create_delay=1.0)
    data = b'survives restarts'
    admin.upload_bytes('restart-base', data)
    created = admin.ok('POST', '/instances', instance_body('restarted', [disk('sf://upload/system/restart-base')]))
    compute.restart()  # mid-create: the queued op must still run afterwards (settings are back to the flags)
    instance = wait_state(admin, f'/instances/{created["uuid"]}', 'created')
    assert disk_bytes(compute, instance) == data
    network = create_network(admin)
    compute.restart()
    assert admin.ok('GET', '/instances/restarted')['uuid'] == created['uuid']
    assert admin.ok('GET', f'/networks/{network["uuid"]}')['state'] == 'created'
    handle = admin.ok('DELETE', f'/instances/{created["uuid"]}')['last_cluster_operation']
    assert handle['op_type'] == 'node_inst_netdesc_op'  # the view at request time
    wait_state(admin, f'/instances/{created["uuid"]}', 'deleted')
