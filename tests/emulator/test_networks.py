"""Networks: create, list, get, delete with its `net_op`, delete-all, metadata, namespace-delete precondition."""

from __future__ import annotations

import pytest
from compute_helpers import create_network, wait_op, wait_state
from sfe_helpers import Api, make_namespace, unique

# Each test pins newest behaviour (202 with op handles, delete_wait, metadata 404s): 0.7.2's are in
# test_profile_072_compute.py.
pytestmark = pytest.mark.server_profile('latest')


def test_network_create_goes_initial_then_created(admin: Api) -> None:
    name = unique('net')
    first = admin.ok('POST', '/networks', {'netblock': '10.1.0.0/24', 'name': name, 'provide_dhcp': True,
                                           'provide_nat': False, 'namespace': None})
    assert first['state'] == 'initial'
    assert first['netblock'] == '10.1.0.0/24' and first['provide_nat'] is False and first['provide_dns'] is False
    assert first['last_cluster_operation']['op_type'] == 'net_op'
    assert first['vxid'] == first['vxlan_id']
    created = wait_state(admin, f'/networks/{first["uuid"]}', 'created')
    assert created['name'] == name and created['namespace'] == 'system'
    assert admin.ok('GET', f'/networks/{name}')['uuid'] == first['uuid']
    op = admin.ok('GET', f'/clusteroperations/net_op/{first["last_cluster_operation"]["op_uuid"]}')
    assert op['state'] == 'complete' and op['tasks'] == ['network_deploy']


def test_network_create_errors(admin: Api) -> None:
    assert admin.error('POST', '/networks', {'netblock': 'nonsense', 'name': 'x'})[0] == 400
    status, message = admin.error('POST', '/networks', {'netblock': '10.0.0.0/30', 'name': 'x'})
    assert (status, message) == (400, 'network is below minimum size of /29')
    assert admin.error('POST', '/networks', {'netblock': '10.0.0.0/24', 'name': 'x', 'namespace': 'nope'}) == (
        404, 'namespace not found')
    tenant = make_namespace(admin)
    other = make_namespace(admin)
    assert tenant.error('POST', '/networks', {'netblock': '10.0.0.0/24', 'name': 'x',
                                              'namespace': other.namespace}) == (
        401, 'only admins can create resources in a different namespace')


def test_networks_are_private_to_their_namespace(admin: Api) -> None:
    tenant = make_namespace(admin)
    mine = create_network(tenant, 'shared-name')
    theirs = create_network(admin, 'shared-name')
    assert [n['uuid'] for n in tenant.ok('GET', '/networks')] == [mine['uuid']]
    assert {mine['uuid'], theirs['uuid']} <= {n['uuid'] for n in admin.ok('GET', '/networks')}
    assert tenant.error('GET', f'/networks/{theirs["uuid"]}') == (404, 'network not found')
    assert tenant.ok('GET', '/networks/shared-name')['uuid'] == mine['uuid']
    # system sees both by name: ambiguous unless narrowed with `namespace`
    assert admin.error('GET', '/networks/shared-name')[0] == 400
    narrowed = admin.ok('GET', '/networks/shared-name', {'namespace': tenant.namespace})
    assert narrowed['uuid'] == mine['uuid']
    assert tenant.error('GET', f'/networks/{mine["uuid"]}', {'namespace': 'system'})[0] == 404


def test_network_delete_is_async_with_an_op_handle(admin: Api) -> None:
    network = create_network(admin)
    answer = admin.call('DELETE', f'/networks/{network["uuid"]}')
    assert answer.status_code == 202
    handle = answer.json()
    assert handle['op_type'] == 'net_op' and set(handle) == {'op_type', 'op_uuid'}
    op = wait_op(admin, handle)
    assert op['state'] == 'complete' and op['tasks'] == ['network_apply_delete_network_node']
    gone = admin.ok('GET', f'/networks/{network["uuid"]}')
    assert gone['state'] == 'deleted'
    assert admin.error('GET', f'/networks/{network["name"]}')[0] == 404
    assert admin.error('DELETE', f'/networks/{network["uuid"]}') == (404, 'network is deleted')
    assert network['uuid'] not in [n['uuid'] for n in admin.ok('GET', '/networks')]
    assert network['uuid'] in [n['uuid'] for n in admin.ok('GET', '/networks', {'all': True})]
    messages = [e['message'] for e in admin.ok('GET', f'/networks/{network["uuid"]}/events')]
    assert messages[0] == 'network deleted' and 'create request from REST API' in messages


def test_floating_network_cannot_be_deleted(admin: Api) -> None:
    assert admin.error('DELETE', '/networks/00000000-0000-0000-0000-000000000000') == (
        403, 'you cannot delete the floating network')


def test_delete_all_networks(admin: Api) -> None:
    tenant = make_namespace(admin)
    nets = [create_network(tenant) for _ in range(2)]
    assert tenant.error('DELETE', '/networks', {'confirm': False})[0] == 400
    assert admin.error('DELETE', '/networks', {'confirm': True}) == (
        400, 'system user must specify parameter namespace')
    assert tenant.error('DELETE', '/networks', {'confirm': True, 'namespace': 'system'}) == (
        401, 'you cannot delete other namespaces')
    answer = admin.call('DELETE', '/networks', json={'confirm': True, 'namespace': tenant.namespace,
                                                     'clean_wait': False})
    assert answer.status_code == 202
    handles = answer.json()
    assert sorted(h['network_uuid'] for h in handles) == sorted(n['uuid'] for n in nets)
    for handle in handles:
        assert wait_op(admin, handle)['state'] == 'complete'
    assert tenant.ok('GET', '/networks') == []


def test_network_metadata_and_interfaces(admin: Api) -> None:
    network = create_network(admin)
    path = f'/networks/{network["uuid"]}'
    assert admin.ok('GET', path + '/metadata') == {}
    assert admin.ok('POST', path + '/metadata', {'key': 'colour', 'value': 'blue'}) is None
    assert admin.ok('PUT', path + '/metadata/size', {'value': 3}) is None
    assert admin.ok('GET', path + '/metadata') == {'colour': 'blue', 'size': 3}
    assert admin.ok('DELETE', path + '/metadata/colour') is None
    assert admin.error('DELETE', path + '/metadata/colour')[0] == 404
    assert admin.ok('GET', path)['metadata'] == {'size': 3}
    assert admin.ok('GET', path + '/interfaces') == []


def test_namespace_with_a_live_network_cannot_be_deleted(admin: Api) -> None:
    tenant = make_namespace(admin)
    network = create_network(tenant)
    assert admin.error('DELETE', f'/auth/namespaces/{tenant.namespace}') == (
        400, 'you cannot delete a namespace with networks')
    wait_op(tenant, tenant.ok('DELETE', f'/networks/{network["uuid"]}'))
    assert admin.ok('DELETE', f'/auth/namespaces/{tenant.namespace}') is None
