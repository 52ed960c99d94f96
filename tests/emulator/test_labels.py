"""Labels: create on first use, ownership, trust, lookups, delete, versions under concurrency-free use."""

from __future__ import annotations

import os

import pytest
from sfe_helpers import Api, make_namespace, unique


def test_create_update_and_view(system: Api, tenant: Api) -> None:
    name = unique('label')
    first = tenant.upload_bytes(unique('src'), os.urandom(10))['blob_uuid']
    label = tenant.ok('POST', f'/label/{name}', {'blob_uuid': first})
    assert label['artifact_type'] == 'label' and label['state'] == 'created'
    assert label['source_url'] == f'sf://label/{tenant.namespace}/{name}'
    assert label['index'] == 1 and label['blob_uuid'] == first and 'instances' not in label['blobs']['1']
    second = tenant.upload_bytes(unique('src'), os.urandom(10))['blob_uuid']
    updated = tenant.ok('POST', f'/label/{name}', {'blob_uuid': second})
    assert updated['uuid'] == label['uuid'] and updated['index'] == 2
    assert tenant.ok('POST', f'/label/{name}', {'blob_uuid': second})['index'] == 2  # same blob: skipped
    assert tenant.ok('GET', f'/label/{name}')['uuid'] == label['uuid']
    assert tenant.ok('GET', f'/artifacts/{name}')['uuid'] == label['uuid']  # the name is the label name
    assert system.ok('GET', f'/label/{tenant.namespace}/{name}')['uuid'] == label['uuid']


@pytest.mark.server_profile('latest')  # max_versions checked and applied to existing labels
def test_max_versions_on_labels(tenant: Api) -> None:
    name = unique('label-mv')
    blobs = [tenant.upload_bytes(unique('src'), os.urandom(10))['blob_uuid'] for _ in range(4)]
    for blob in blobs:
        view = tenant.ok('POST', f'/label/{name}', {'blob_uuid': blob, 'max_versions': 2})
    assert view['max_versions'] == 2 and list(view['blobs']) == ['3', '4']
    assert tenant.error('POST', f'/label/{name}', {'blob_uuid': blobs[0], 'max_versions': -3}) == (
        400, 'max version cannot be negative')


def test_unknown_blob_leaves_nothing_behind(tenant: Api) -> None:
    name = unique('label-nb')
    assert tenant.error('POST', f'/label/{name}', {'blob_uuid': 'not-a-blob'}) == (404, 'blob not found')
    assert tenant.error('GET', f'/label/{name}') == (404, f'label {name} not found')
    assert all(a['source_url'] != f'sf://label/{tenant.namespace}/{name}' for a in tenant.ok('GET', '/artifacts'))


def test_ownership_and_trust(system: Api) -> None:
    a, b = make_namespace(system, 'lab-a'), make_namespace(system, 'lab-b')
    blob = a.upload_bytes(unique('src'), b'x')['blob_uuid']
    name = unique('gifted')
    assert a.error('POST', f'/label/{b.namespace}/{name}', {'blob_uuid': blob}) == (404, 'namespace not found')
    system.ok('POST', f'/auth/namespaces/{b.namespace}/trust', {'external_namespace': a.namespace})
    gifted = a.ok('POST', f'/label/{b.namespace}/{name}', {'blob_uuid': blob})
    assert gifted['namespace'] == b.namespace and gifted['source_url'] == f'sf://label/{b.namespace}/{name}'
    other = a.upload_bytes(unique('src'), b'y')['blob_uuid']
    assert a.error('POST', f'/label/{b.namespace}/{name}', {'blob_uuid': other}) == (404, 'namespace not found')
    assert system.ok('POST', f'/label/{b.namespace}/{name}', {'blob_uuid': other})['index'] == 2
    # a sees b's label (b trusts a) but cannot delete it
    assert a.ok('GET', f'/label/{name}')['uuid'] == gifted['uuid']
    assert a.error('DELETE', f'/label/{name}') == (404, f'label {name} not found')
    assert a.error('DELETE', f'/label/{b.namespace}/{name}') == (404, f'label {b.namespace}/{name} not found')
    assert b.ok('DELETE', f'/label/{name}')['state'] == 'deleted'
    assert b.error('GET', f'/label/{name}') == (404, f'label {name} not found')


def test_shared_system_label_only_system_updates(system: Api, tenant: Api) -> None:
    name = unique('syslabel')
    blob = system.upload_bytes(unique('src'), b'z')['blob_uuid']
    label = system.ok('POST', f'/label/{name}', {'blob_uuid': blob})
    system.ok('POST', f'/artifacts/{label["uuid"]}/share')
    assert tenant.ok('GET', f'/label/{name}')['uuid'] == label['uuid']
    assert tenant.error('POST', f'/label/system/{name}', {'blob_uuid': blob}) == (404, 'namespace not found')


def test_bad_label_names(tenant: Api) -> None:
    assert tenant.error('POST', '/label/a/b/c', {'blob_uuid': 'x'})[0] == 400
    assert tenant.error('POST', f'/label/{unique("l")}', {})[0] == 400
