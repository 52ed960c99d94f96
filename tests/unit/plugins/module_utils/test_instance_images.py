"""Which artifact, version and label an instance's disks boot from, and whether that is outdated: the rules of
docs/inventory.md over hand-made listings, plus the two-listing read and the namespace checks."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

import pytest

from ansible_collections.shakenfist.storage.plugins.module_utils._errors import SfInvalidInput
from ansible_collections.shakenfist.storage.plugins.module_utils._instance_images import (
    disk_bases,
    images_of,
    inventory_records,
    read_instance_images,
    safe_group_name,
)
from ansible_collections.shakenfist.storage.plugins.module_utils._models import Artifact, Instance

NS = 'ci'
B1, B2, B3, B9 = ('b1' * 4 + '-0000', 'b2' * 4 + '-0000', 'b3' * 4 + '-0000', 'b9' * 4 + '-0000')


def artifact(uuid: str, source_url: str, versions: Dict[int, str], *, kind: str = 'image', namespace: str = NS,
             shared: bool = False) -> Artifact:
    return Artifact.model_validate({
        'uuid': uuid, 'state': 'created', 'artifact_type': kind, 'source_url': source_url, 'namespace': namespace,
        'shared': shared, 'index': max(versions) if versions else 0,
        'blobs': {index: {'uuid': blob} for index, blob in versions.items()}})


def image(versions: Dict[int, str], name: str = 'base', namespace: str = NS, **kw: Any) -> Artifact:
    return artifact(f'img-{namespace}-{name}', f'sf://upload/{namespace}/{name}', versions, namespace=namespace, **kw)


def label(versions: Dict[int, str], name: str = 'web', namespace: str = NS, **kw: Any) -> Artifact:
    return artifact(f'lab-{namespace}-{name}', f'sf://label/{namespace}/{name}', versions, kind='label',
                    namespace=namespace, **kw)


def instance(name: str, bases: List[Optional[str]], blobs: List[Optional[str]], *, namespace: str = NS,
             configdrive: bool = True, interfaces: Optional[List[Dict[str, Any]]] = None,
             state: str = 'created', uuid: Optional[str] = None) -> Instance:
    """An instance laid out as 0.7.2 does: disk 0, the config drive, then the other disks."""
    devices = [{'device': 'vda', 'bus': 'virtio', 'size': 8, 'blob_uuid': blobs[0], 'snapshot_ignores': False}]
    if configdrive:
        devices.append({'device': 'vdb', 'bus': 'virtio', 'size': None, 'blob_uuid': None, 'snapshot_ignores': True})
    for n, blob in enumerate(blobs[1:]):
        devices.append({'device': f'vd{"cdefg"[n]}', 'bus': 'virtio', 'size': 1, 'blob_uuid': blob,
                        'snapshot_ignores': False})
    return Instance.model_validate({
        'uuid': uuid or f'{name}-uuid-0000-0000', 'name': name, 'namespace': namespace, 'state': state,
        'disk_spec': [{'base': base, 'bus': None, 'size': 8, 'type': 'disk'} for base in bases],
        'disks': devices, 'interfaces': interfaces or [], 'metadata': {'role': name}})


def one(inst: Instance, artifacts: List[Artifact], namespaces: Optional[List[str]] = None) -> Dict[str, Any]:
    records = inventory_records(images_of([inst], artifacts, namespaces or [inst.namespace]))
    assert len(records) == 1
    return records[0]


def test_a_disk_booted_from_a_label_names_the_image_version_and_label() -> None:
    record = one(instance('web1', ['label:web'], [B1]), [image({1: B1}), label({1: B1})])
    assert [(d['device'], d['artifact'], d['artifact_type'], d['version'], d['label'], d['label_version'],
             d['disk_base'], d['outdated']) for d in record['disks']] == [
        ('vda', 'base', 'image', 1, 'web', 1, 'label:web', False)]
    assert record['outdated'] is False
    assert record['groups'] == ['sf_namespace_ci', 'sf_artifact_base', 'sf_artifact_base_v1', 'sf_label_web']


def test_a_moved_label_makes_its_instances_outdated_per_label() -> None:
    record = one(instance('web1', ['label:web'], [B1]), [image({1: B1, 2: B2}), label({1: B1, 2: B2})])
    disk = record['disks'][0]
    assert disk['outdated'] is True and disk['version'] == 1
    assert disk['reason'] == (f'label ci/web now points at blob {B2} (version 2 of image ci/base); the disk has '
                              'version 1 of base')
    assert {'sf_outdated', 'sf_outdated_web', 'sf_label_web', 'sf_artifact_base_v1'} <= set(record['groups'])


def test_a_label_moved_back_is_current_again_and_trimmed_history_still_counts() -> None:
    assert one(instance('w', ['label:web'], [B1]), [image({1: B1, 2: B2}), label({2: B2, 3: B1})])['outdated'] is False
    # The label's history no longer holds the disk's blob (max_versions trimmed it): the label is still the one the
    # base names, and it points elsewhere.
    record = one(instance('w', ['label:web'], [B1]), [image({1: B1, 2: B2}), label({4: B2})])
    assert record['disks'][0]['label'] == 'web' and record['disks'][0]['label_version'] is None
    assert record['outdated'] is True


def test_an_image_with_a_newer_version_makes_a_disk_without_label_outdated() -> None:
    record = one(instance('db', [f'sf://upload/{NS}/base'], [B1]), [image({1: B1, 2: B2}), label({1: B1})])
    disk = record['disks'][0]
    assert disk['label'] is None, 'a base naming the image keeps to it, even when a label points at the same bytes'
    assert disk['outdated'] is True and disk['reason'] == 'image ci/base has version 2; the disk has version 1'
    assert 'sf_outdated' in record['groups'] and not [g for g in record['groups'] if g.startswith('sf_outdated_')]


def test_a_blob_held_by_an_image_and_a_label_is_the_images_version() -> None:
    # The label is listed first and holds the blob at a higher index: the image still wins.
    record = one(instance('w', ['label:web'], [B2]), [label({5: B2}), image({1: B1, 2: B2})])
    assert (record['disks'][0]['artifact'], record['disks'][0]['version']) == ('base', 2)


def test_a_blob_only_a_label_holds_is_the_labels_version() -> None:
    record = one(instance('w', ['label:web'], [B3]), [label({1: B1, 2: B3}), image({1: B1})])
    disk = record['disks'][0]
    assert (disk['artifact'], disk['artifact_type'], disk['version'], disk['outdated']) == ('web', 'label', 2, False)


def test_the_artifact_the_base_names_wins_then_own_namespace_then_shared() -> None:
    other = image({1: B1}, name='copy', namespace='qa')
    shared = image({1: B1}, name='golden', namespace='system', shared=True)
    mine = image({3: B1}, name='mine')
    assert one(instance('w', [None], [B1]), [other, shared, mine])['disks'][0]['artifact'] == 'mine'
    assert one(instance('w', [None], [B1]), [other, shared])['disks'][0]['artifact'] == 'golden'
    named = one(instance('w', ['sf://upload/qa/copy'], [B1]), [other, shared, mine])
    assert named['disks'][0]['artifact_namespace'] == 'qa'


def test_a_blank_disk_and_the_config_drive_are_left_out_and_bases_line_up() -> None:
    inst = instance('w', [f'sf://upload/{NS}/base', None, 'label:data'], [B1, None, B3])
    assert disk_bases(inst) == [f'sf://upload/{NS}/base', None, None, 'label:data']
    record = one(inst, [image({1: B1}), image({1: B3}, name='data'), label({1: B3}, name='data')])
    assert [(d['device'], d['disk_base'], d['label']) for d in record['disks']] == [
        ('vda', f'sf://upload/{NS}/base', None), ('vdd', 'label:data', 'data')]


def test_without_a_config_drive_and_with_bases_that_do_not_line_up() -> None:
    assert disk_bases(instance('w', ['label:web', None], [B1, None], configdrive=False)) == ['label:web', None]
    odd = instance('w', ['label:web'], [B1, B2])  # more disks than specs: no base is trusted
    assert disk_bases(odd) == [None, None, None]


def test_an_unknown_base_gets_the_one_label_pointing_at_its_blob_now() -> None:
    artifacts = [image({1: B1}), label({1: B1})]
    assert one(instance('w', [f'sf://blob/{B1}'], [B1]), artifacts)['disks'][0]['label'] == 'web'
    system = label({1: B1}, namespace='system', name='prod')
    assert one(instance('w', [None], [B1]), artifacts + [system])['disks'][0]['label'] is None, 'two: ambiguous'
    assert one(instance('w', [None], [B1]), [image({1: B1}), system])['disks'][0]['label'] == 'prod'


def test_label_colon_prefers_the_instances_namespace_then_the_label_holding_the_blob() -> None:
    theirs = label({1: B1}, namespace='system')
    mine = label({1: B2})
    assert one(instance('w', ['label:web'], [B1]), [theirs, mine])['disks'][0]['label_namespace'] == NS
    assert one(instance('w', ['label:web'], [B1]), [theirs])['disks'][0]['label_namespace'] == 'system'


def test_a_label_of_another_namespace_gets_a_namespaced_group() -> None:
    record = one(instance('w', ['sf://label/qa/web'], [B1]), [image({1: B1}), label({1: B1, 2: B2}, namespace='qa')])
    assert {'sf_label_qa_web', 'sf_outdated_qa_web'} <= set(record['groups'])


def test_a_blob_nothing_visible_holds_is_not_outdated_and_says_why() -> None:
    record = one(instance('w', ['label:gone'], [B9]), [image({1: B1})])
    disk = record['disks'][0]
    assert disk['artifact'] is None and disk['outdated'] is False
    assert disk['reason'] == f'no artifact visible to this inventory holds blob {B9}; the label gone it names is gone'


def test_the_address_is_the_first_interfaces_ipv4() -> None:
    interfaces = [{'order': 1, 'ipv4': '10.0.0.9'}, {'order': 0, 'ipv4': '10.0.0.5', 'macaddr': 'x'}]
    assert one(instance('w', ['label:web'], [B1], interfaces=interfaces), [])['address'] == '10.0.0.5'
    assert one(instance('w', ['label:web'], [B1], interfaces=[{'order': 0, 'ipv4': None}]), [])['address'] is None
    assert one(instance('w', ['label:web'], [B1]), [])['address'] is None


def test_group_names_are_lower_case_letters_digits_and_underscores() -> None:
    assert safe_group_name('sf_label', 'Web-01.prod') == 'sf_label_web_01_prod'
    record = one(instance('w', ['label:Web.2'], [B1]), [image({1: B1}, name='debian:12'), label({1: B1}, name='Web.2')])
    assert {'sf_label_web_2', 'sf_artifact_debian_12', 'sf_artifact_debian_12_v1'} <= set(record['groups'])


def test_host_names_are_unique_and_gone_instances_left_out() -> None:
    listing = [instance('web', [None], [B1], uuid='aaaaaaaa-1'),
               instance('web', [None], [B1], uuid='bbbbbbbb-2', namespace='qa'), instance('db', [None], [B1]),
               instance('old', [None], [B1], state='deleted'), instance('going', [None], [B1], state='delete_wait')]
    records = inventory_records(images_of(listing, [], None))
    assert [r['host'] for r in records] == ['db', 'web_aaaaaaaa', 'web_bbbbbbbb']
    assert [r['host'] for r in inventory_records(images_of(listing, [], ['qa']))] == ['web']


class Api:
    """The two listings SfApi gives, counted."""

    def __init__(self, namespace: str, instances: List[Instance], artifacts: List[Artifact]) -> None:
        self.namespace = namespace
        self.instances, self.artifacts = instances, artifacts
        self.calls: List[str] = []

    def list_instances(self) -> List[Instance]:
        self.calls.append('instances')
        return self.instances

    def list_artifacts(self) -> List[Artifact]:
        self.calls.append('artifacts')
        return self.artifacts


def test_two_listings_for_any_number_of_instances() -> None:
    api = Api('system', [instance(f'vm{n}', ['label:web'], [B1], uuid=f'{n:08d}-x') for n in range(50)],
              [image({1: B1}), label({1: B1})])
    assert len(read_instance_images(api, ['all'])) == 50
    assert api.calls == ['instances', 'artifacts']


@pytest.mark.parametrize('caller, namespaces, message', [
    (NS, ['qa'], "namespace 'ci' can list only its own instances, not those of 'qa'"),
    (NS, ['all'], 'namespaces: all needs the system namespace'),
    (NS, ['a/b'], 'namespace'),
])
def test_namespaces_a_caller_cannot_list_are_refused_before_any_read(caller: str, namespaces: List[str],
                                                                     message: str) -> None:
    api = Api(caller, [], [])
    with pytest.raises(SfInvalidInput, match=message):
        read_instance_images(api, namespaces)
    assert api.calls == []


def test_system_reads_the_namespaces_it_names_and_the_default_is_the_callers_own() -> None:
    listing = [instance('a', [None], [None], namespace='ci'), instance('b', [None], [None], namespace='qa'),
               instance('c', [None], [None], namespace='system')]
    assert [r.name for r in read_instance_images(Api('system', listing, []), ['qa', 'ci'])] == ['a', 'b']
    assert [r.name for r in read_instance_images(Api('system', listing, []), None)] == ['c']
    api = Api(NS, listing[:1], [])
    assert [r.name for r in read_instance_images(api, [NS])] == ['a']
    assert api.calls == ['instances'], 'no disk with a blob: the artifact listing is not needed'
