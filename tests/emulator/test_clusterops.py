"""Cluster operations: get, chain, by target, per-object listings, namespace gates and hard delete."""

from __future__ import annotations

import time

import pytest
from compute_helpers import create_network, wait_for, wait_op
from sfe_helpers import Api, make_namespace

from sf_emulator.testing import EmulatorProcess

pytestmark = pytest.mark.server_profile('latest')  # 0.7.2 has no cluster operations


def test_op_moves_queued_executing_complete(compute: EmulatorProcess, admin: Api) -> None:
    compute.set_config(op_delay=0.3, network_delay=0.6)
    network = admin.ok('POST', '/networks', {'netblock': '10.2.0.0/24', 'name': 'slow'})
    handle = network['last_cluster_operation']
    path = f'/clusteroperations/{handle["op_type"]}/{handle["op_uuid"]}'
    seen = [admin.ok('GET', path)['state']]
    while seen[-1] != 'complete':
        time.sleep(0.05)
        state = admin.ok('GET', path)['state']
        if state != seen[-1]:
            seen.append(state)
    assert seen == ['queued', 'executing', 'complete']


def test_get_errors(admin: Api) -> None:
    assert admin.error('GET', '/clusteroperations/no_such_op/00000000-0000-4000-8000-000000000000') == (
        404, 'operation type not found')
    assert admin.error('GET', '/clusteroperations/net_op/00000000-0000-4000-8000-000000000000') == (
        404, 'operation not found')
    network = create_network(admin)
    handle = network['last_cluster_operation']
    assert admin.error('GET', f'/clusteroperations/artifact_fetch_op/{handle["op_uuid"]}')[0] == 404


def test_tenant_cannot_read_foreign_ops(admin: Api) -> None:
    tenant = make_namespace(admin)
    other = make_namespace(admin)
    network = create_network(other)
    handle = network['last_cluster_operation']
    assert tenant.error('GET', f'/clusteroperations/net_op/{handle["op_uuid"]}') == (
        403, 'cluster operation belongs to a foreign namespace')
    assert tenant.error('GET', f'/clusteroperations/{handle["op_uuid"]}/chain')[0] == 403
    assert tenant.error('GET', '/clusteroperations', {'target_object_type': 'network',
                                                      'target_uuid': network['uuid']})[0] == 403
    assert other.ok('GET', f'/clusteroperations/net_op/{handle["op_uuid"]}')['state'] == 'complete'


def test_ops_by_target_and_per_object_listing(admin: Api) -> None:
    network = create_network(admin)
    handle = admin.ok('DELETE', f'/networks/{network["uuid"]}')
    wait_op(admin, handle)
    by_target = admin.ok('GET', '/clusteroperations', {'target_object_type': 'network',
                                                       'target_uuid': network['uuid']})
    assert [op['tasks'] for op in by_target] == [['network_apply_delete_network_node'], ['network_deploy']]
    query = admin.ok('GET', f'/clusteroperations?target_object_type=network&target_uuid={network["uuid"]}')
    assert query == by_target
    path = f'/networks/{network["uuid"]}/clusteroperations'
    assert admin.ok('GET', path) == []  # only outstanding ones by default
    assert len(admin.ok('GET', path, {'all': True})) == 2
    assert admin.error('GET', '/clusteroperations', {'target_uuid': network['uuid']})[0] == 400
    assert admin.error('GET', '/clusteroperations', {'target_object_type': 'spaceship',
                                                     'target_uuid': network['uuid']})[0] == 400
    assert admin.error('GET', '/clusteroperations', {'target_object_type': 'network',
                                                     'target_uuid': '00000000-0000-4000-8000-000000000000'}) == (
        404, 'target object not found')


def test_chain_lists_the_op(admin: Api) -> None:
    network = create_network(admin)
    handle = network['last_cluster_operation']
    chain = admin.ok('GET', f'/clusteroperations/{handle["op_uuid"]}/chain')
    assert [op['uuid'] for op in chain] == [handle['op_uuid']]
    assert chain[0]['operation_type'] == 'net_op'
    assert admin.error('GET', '/clusteroperations/00000000-0000-4000-8000-000000000000/chain')[0] == 404


def test_finished_ops_are_hard_deleted_after_retention(compute: EmulatorProcess, admin: Api) -> None:
    compute.set_config(op_retention=0.5)
    network = create_network(admin)
    handle = network['last_cluster_operation']
    path = f'/clusteroperations/{handle["op_type"]}/{handle["op_uuid"]}'
    assert admin.ok('GET', path)['state'] == 'complete'
    wait_for(lambda: admin.call('GET', path).status_code == 404, what='op hard delete')
    assert admin.error('GET', path) == (404, 'operation not found')
