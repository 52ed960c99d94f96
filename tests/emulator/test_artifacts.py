"""Artifacts: visibility, resolution by UUID or name, versions, sharing, metadata, events, deletes."""

from __future__ import annotations

import os

import pytest
from sfe_helpers import Api, make_namespace, unique


@pytest.mark.server_profile('latest')  # references, error_message, last_cluster_operation
def test_view_shape_without_versions_and_with(system: Api) -> None:
    art = system.upload_bytes(unique('shape'), b'one')
    assert art['state'] == 'created' and art['index'] == 1 and art['artifact_type'] == 'image'
    assert art['blobs']['1']['uuid'] == art['blob_uuid'] and art['max_versions'] == 3
    assert art['references_from']['artifact_index'][0]['relationship_value'] == '000000000001'
    for key in ('uuid', 'metadata', 'version', 'source_url', 'namespace', 'shared', 'error_message',
                'last_cluster_operation', 'references_to'):
        assert key in art
    system.ok('DELETE', f'/artifacts/{art["uuid"]}/versions/1')
    empty = system.ok('GET', f'/artifacts/{art["uuid"]}')
    assert empty['state'] == 'deleted' and empty['index'] == 0 and 'blob_uuid' not in empty


def test_versions_numbering_skip_and_trim(system: Api) -> None:
    name = unique('versions')
    blobs = []
    for _ in range(5):
        art = system.upload_bytes(name, os.urandom(100))
        blobs.append(art['blob_uuid'])
    assert art['index'] == 5 and sorted(art['blobs']) == ['3', '4', '5']  # default max_versions 3
    versions = system.ok('GET', f'/artifacts/{art["uuid"]}/versions')
    assert [v['index'] for v in versions] == [3, 4, 5] and [v['uuid'] for v in versions] == blobs[2:]
    trimmed = system.ok('GET', f'/blobs/{blobs[0]}')
    assert trimmed['state'] == 'deleted' and trimmed['reference_count'] == 0
    # same blob as the newest: skipped
    same = system.ok('POST', f'/artifacts/upload/{name}', {'blob_uuid': blobs[-1]})
    assert same['index'] == 5
    # same bytes (sha512) as the newest: skipped too, and the new blob is released
    data = system.call('GET', f'/blobs/{blobs[-1]}/data').content
    again = system.upload_bytes(name, data)
    assert again['index'] == 5 and again['blob_uuid'] == blobs[-1]
    # delete one; numbers are never reused
    after = system.ok('DELETE', f'/artifacts/{name}/versions/5')
    assert after['index'] == 4
    newer = system.upload_bytes(name, os.urandom(10))
    assert newer['index'] == 6


@pytest.mark.server_profile('latest')  # a negative max_versions is refused
def test_max_versions_route(system: Api) -> None:
    name = unique('maxv')
    for _ in range(3):
        art = system.upload_bytes(name, os.urandom(10))
    assert system.ok('POST', f'/artifacts/{name}/versions', {'max_versions': 1}) is None
    view = system.ok('GET', f'/artifacts/{name}')
    assert view['max_versions'] == 1 and list(view['blobs']) == ['3']
    assert system.error('POST', f'/artifacts/{name}/versions', {'max_versions': -1}) == (
        400, 'max version cannot be negative')
    assert system.error('POST', f'/artifacts/{name}/versions', {'max_versions': 'x'}) == (
        400, 'max version is not an integer')
    assert system.ok('POST', f'/artifacts/{name}/versions', {'max_versions': 0}) is None
    assert system.ok('GET', f'/artifacts/{art["uuid"]}')['max_versions'] == 3
    assert system.error('DELETE', f'/artifacts/{name}/versions/abc') == (400, 'version index is not an integer')
    assert system.error('DELETE', f'/artifacts/{name}/versions/1') == (404, 'artifact index not found')


@pytest.mark.server_profile('latest')  # listing entries carry instances
def test_visibility_in_listing(system: Api) -> None:
    a, b = make_namespace(system, 'vis-a'), make_namespace(system, 'vis-b')
    own = a.upload_bytes(unique('own'), b'a')['uuid']
    other = b.upload_bytes(unique('other'), b'b')['uuid']
    shared = system.upload_bytes(unique('shared'), b's')['uuid']
    system.ok('POST', f'/artifacts/{shared}/share')
    unshared = system.upload_bytes(unique('unshared'), b'u')['uuid']
    listing = {x['uuid'] for x in a.ok('GET', '/artifacts', {'node': None})}
    assert own in listing and shared in listing and other not in listing and unshared not in listing
    # b trusts a: a now sees b's artifacts, b still does not see a's
    system.ok('POST', f'/auth/namespaces/{b.namespace}/trust', {'external_namespace': a.namespace})
    assert other in {x['uuid'] for x in a.ok('GET', '/artifacts')}
    assert own not in {x['uuid'] for x in b.ok('GET', '/artifacts')}
    everything = {x['uuid'] for x in system.ok('GET', '/artifacts')}
    assert {own, other, shared, unshared} <= everything
    assert all('instances' in x for x in a.ok('GET', '/artifacts') if x['index'])


@pytest.mark.server_profile('latest')  # a body namespace narrows GET
def test_resolution_by_name_uuid_and_namespace(system: Api) -> None:
    a, b = make_namespace(system, 'res-a'), make_namespace(system, 'res-b')
    name = unique('dup')
    mine = a.upload_bytes(name, b'a')
    theirs = b.upload_bytes(name, b'b')
    assert a.ok('GET', f'/artifacts/{name}')['uuid'] == mine['uuid']
    assert a.error('GET', f'/artifacts/{theirs["uuid"]}') == (404, 'artifact not found')
    # system searches every namespace: two matches are ambiguous unless narrowed
    status, message = system.error('GET', f'/artifacts/{name}')
    assert status == 400 and message == f'multiple artifacts visible to "system" have the name "{name}", ' \
                                        'use a UUID to choose one'
    assert system.ok('GET', f'/artifacts/{name}', {'namespace': b.namespace})['uuid'] == theirs['uuid']
    assert system.error('GET', f'/artifacts/{mine["uuid"]}', {'namespace': b.namespace})[0] == 404
    assert a.error('GET', f'/artifacts/{name}', {'namespace': b.namespace})[0] == 404
    # two artifacts of one name in one namespace
    a.ok('POST', f'/artifacts/upload/{name}', {'blob_uuid': mine['blob_uuid'], 'source_url': 'http://x/' + name})
    assert a.error('GET', f'/artifacts/{name}') == (
        400, f'multiple artifacts have the name "{name}" in namespace "{a.namespace}"')


@pytest.mark.server_profile('latest')  # 0.7.2 names never widen (conformance: test_server_profile_0_7_2)
def test_read_routes_widen_write_routes_do_not(system: Api) -> None:
    a, b = make_namespace(system, 'wid-a'), make_namespace(system, 'wid-b')
    system.ok('POST', f'/auth/namespaces/{b.namespace}/trust', {'external_namespace': a.namespace})
    name = unique('theirs')
    theirs = b.upload_bytes(name, b'b')
    assert a.ok('GET', f'/artifacts/{name}')['uuid'] == theirs['uuid']
    assert a.ok('GET', f'/artifacts/{name}/versions')[0]['uuid'] == theirs['blob_uuid']
    assert a.error('DELETE', f'/artifacts/{name}') == (404, 'artifact not found')
    assert a.error('DELETE', f'/artifacts/{theirs["uuid"]}') == (404, 'artifact not found')
    assert a.error('POST', f'/artifacts/{theirs["uuid"]}/versions', {'max_versions': 1})[0] == 404
    assert a.error('GET', f'/artifacts/{theirs["uuid"]}/metadata')[0] == 404
    # own name wins over a visible one
    mine = a.upload_bytes(name, b'a')
    assert a.ok('GET', f'/artifacts/{name}')['uuid'] == mine['uuid']


@pytest.mark.server_profile('latest')  # references_from in the view
def test_delete_semantics(system: Api, tenant: Api) -> None:
    name = unique('del')
    art = tenant.upload_bytes(name, b'x')
    deleted = tenant.ok('DELETE', f'/artifacts/{name}')
    assert deleted['state'] == 'deleted' and deleted['references_from'] == {}
    assert tenant.ok('DELETE', f'/artifacts/{art["uuid"]}') is None  # again, by UUID
    assert tenant.error('DELETE', f'/artifacts/{name}') == (404, 'artifact not found')
    assert tenant.ok('GET', f'/artifacts/{art["uuid"]}')['state'] == 'deleted'
    assert art['uuid'] not in {x['uuid'] for x in tenant.ok('GET', '/artifacts')}


def test_delete_all(system: Api) -> None:
    ns = make_namespace(system, 'delall')
    made = {ns.upload_bytes(unique('d'), os.urandom(8))['uuid'] for _ in range(3)}
    assert ns.error('DELETE', '/artifacts', {'confirm': False}) == (400, 'parameter confirm is not set true')
    assert ns.error('DELETE', '/artifacts', {'confirm': 'true'}) == (400, 'parameter confirm is not set true')
    assert system.error('DELETE', '/artifacts', {'confirm': True}) == (
        400, 'system user must specify parameter namespace')
    assert ns.error('DELETE', '/artifacts', {'confirm': True, 'namespace': 'system'}) == (
        401, 'you cannot delete other namespaces')
    assert system.error('DELETE', '/artifacts', {'confirm': True, 'namespace': unique('none')}) == (
        404, 'namespace not found')
    gone = ns.ok('DELETE', '/artifacts', {'confirm': True})
    assert set(gone) == made and all(isinstance(u, str) for u in gone)
    assert ns.ok('GET', '/artifacts') == [] or all(x['namespace'] != ns.namespace for x in ns.ok('GET', '/artifacts'))


@pytest.mark.server_profile('latest')  # another namespace reads a shared artifact (0.7.2: 500)
def test_share_and_unshare(system: Api, tenant: Api) -> None:
    art = system.upload_bytes(unique('share'), b's')
    assert system.ok('POST', f'/artifacts/{art["uuid"]}/share')['shared'] is True
    assert system.ok('POST', f'/artifacts/{art["uuid"]}/share')['shared'] is True  # idempotent
    assert tenant.ok('GET', f'/artifacts/{art["uuid"]}')['shared'] is True
    assert tenant.error('POST', f'/artifacts/{art["uuid"]}/unshare') == (404, 'artifact not found')
    assert system.ok('POST', f'/artifacts/{art["uuid"]}/unshare')['shared'] is False
    assert system.error('POST', f'/artifacts/{art["uuid"]}/unshare') == (403, 'artifact not shared')
    assert tenant.error('GET', f'/artifacts/{art["uuid"]}') == (404, 'artifact not found')
    own = tenant.upload_bytes(unique('mine'), b'm')
    assert tenant.error('POST', f'/artifacts/{own["uuid"]}/share') == (
        403, 'only artifacts in the system namespace can be shared')
    assert system.error('POST', f'/artifacts/{own["uuid"]}/share') == (
        403, 'only artifacts in the system namespace can be shared')


@pytest.mark.server_profile('latest')  # a missing metadata key is a 404; event limits checked
def test_metadata_and_events(tenant: Api) -> None:
    art = tenant.upload_bytes(unique('meta'), b'm')['uuid']
    assert tenant.ok('POST', f'/artifacts/{art}/metadata', {'key': 'k', 'value': {'nested': True}}) is None
    assert tenant.ok('PUT', f'/artifacts/{art}/metadata/other', {'value': 'v'}) is None
    assert tenant.ok('GET', f'/artifacts/{art}/metadata') == {'k': {'nested': True}, 'other': 'v'}
    assert tenant.ok('GET', f'/artifacts/{art}')['metadata']['other'] == 'v'
    assert tenant.ok('DELETE', f'/artifacts/{art}/metadata/k') is None
    assert tenant.error('POST', f'/artifacts/{art}/metadata', {'key': 'x'}) == (400, 'no value specified')
    assert tenant.error('DELETE', f'/artifacts/{art}/metadata/missing')[0] == 404
    events = tenant.ok('GET', f'/artifacts/{art}/events')
    assert events[0]['timestamp'] >= events[-1]['timestamp'] and events[-1]['message'] == 'artifact created'
    assert set(events[0]) >= {'timestamp', 'fqdn', 'duration', 'message', 'extra', 'type'}
    assert len(tenant.ok('GET', f'/artifacts/{art}/events', {'limit': 1})) == 1
    assert len(tenant.ok('GET', f'/artifacts/{art}/events', {'limit': '2'})) == 2
    assert {e['type'] for e in tenant.ok('GET', f'/artifacts/{art}/events', {'event_type': 'audit'})} == {'audit'}
    assert tenant.error('GET', f'/artifacts/{art}/events', {'limit': 0})[0] == 400


@pytest.mark.server_profile('latest')  # artifact cluster operations
def test_cluster_operations_list_is_a_list(tenant: Api) -> None:
    art = tenant.upload_bytes(unique('ops'), b'o')['uuid']
    assert isinstance(tenant.ok('GET', f'/artifacts/{art}/clusteroperations', {'all': True}), list)


def test_gift_into_trusting_namespace_but_not_overwrite(system: Api) -> None:
    a, b = make_namespace(system, 'gift-a'), make_namespace(system, 'gift-b')
    name = unique('gift')
    assert a.error('POST', f'/artifacts/upload/{name}', {'blob_uuid': 'x', 'namespace': b.namespace}) == (
        404, 'namespace not found')
    system.ok('POST', f'/auth/namespaces/{b.namespace}/trust', {'external_namespace': a.namespace})
    blob = a.upload_bytes(unique('src'), b'gift')['blob_uuid']
    gifted = a.ok('POST', f'/artifacts/upload/{name}', {'blob_uuid': blob, 'namespace': b.namespace})
    assert gifted['namespace'] == b.namespace and gifted['source_url'] == f'sf://upload/{a.namespace}/{name}'
    # the artifact now belongs to b: a cannot add versions to it
    other = a.upload_bytes(unique('src2'), b'more')['blob_uuid']
    assert a.error('POST', f'/artifacts/upload/{name}', {'blob_uuid': other, 'namespace': b.namespace}) == (
        404, 'namespace not found')
