"""The instance listing carries everything the sf_instances inventory reads per instance, so the inventory needs no
read per instance: 0.7.2 builds each entry of `GET /instances` with `Instance.external_view`, the same view
`GET /instances/<uuid>` answers, with `disk_spec`, `disks` and `interfaces` (and their `ipv4`) mixed in."""

from __future__ import annotations

from compute_helpers import create_network, disk, instance_body, wait_state
from sfe_helpers import Api, unique


def test_the_listing_has_the_disks_specs_and_interfaces_of_the_instance_view(admin: Api) -> None:
    network = create_network(admin)
    art = admin.upload_bytes(unique('img'), b'listing bytes')
    created = admin.ok('POST', '/instances', instance_body(
        unique('vm'), [disk(f'sf://upload/system/{art["source_url"].rsplit("/", 1)[-1]}'), disk(None, 1)],
        network=[{'network_uuid': network['uuid'], 'address': '10.0.0.42'}]))
    view = wait_state(admin, f'/instances/{created["uuid"]}', ('created',))
    entry = next(i for i in admin.ok('GET', '/instances') if i['uuid'] == created['uuid'])
    for field in ('disk_spec', 'disks', 'interfaces', 'metadata', 'state', 'namespace', 'name'):
        assert entry[field] == view[field], field
    assert [d['blob_uuid'] for d in entry['disks']] == [art['blob_uuid'], None, None]
    assert [(i['order'], i['ipv4']) for i in entry['interfaces']] == [(0, '10.0.0.42')]
