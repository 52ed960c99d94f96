"""Snapshot decisions without a cluster: when a set is taken, which devices, which sets retention deletes and keeps,
durations, and the refusals that come before any write."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from ansible_collections.shakenfist.storage.plugins.module_utils import _errors as errors
from ansible_collections.shakenfist.storage.plugins.module_utils._api import SfApi
from ansible_collections.shakenfist.storage.plugins.module_utils._durations import parse_duration
from ansible_collections.shakenfist.storage.plugins.module_utils._features import ServerFeatures
from ansible_collections.shakenfist.storage.plugins.module_utils._index import ArtifactIndex
from ansible_collections.shakenfist.storage.plugins.module_utils._instances import ready_instance
from ansible_collections.shakenfist.storage.plugins.module_utils._models import (
    Artifact,
    ArtifactVersion,
    Blob,
    Instance,
)
from ansible_collections.shakenfist.storage.plugins.module_utils._plan import Plan
from ansible_collections.shakenfist.storage.plugins.module_utils._snapshot import SnapshotRequest, Snapshotter
from ansible_collections.shakenfist.storage.plugins.module_utils._snapshot_sets import (
    SetDevice,
    SnapshotSet,
    hold_key,
    read_sets,
    set_key,
)
from ansible_collections.shakenfist.storage.plugins.module_utils._snapshot_wait import SetWaiter

NOW = 1_800_000_000.0
HOUR = 3600.0


def snapshotter(**request: Any) -> Snapshotter:
    api = SimpleNamespace(namespace='ci')  # any API call fails: these decisions must not need one
    found = Snapshotter(api, None, SnapshotRequest(instance='web-1', **request), clock=lambda: NOW)
    found.validate()
    return found


def a_set(name: str | None, hours_ago: float, labels: tuple[str, ...] = ()) -> SnapshotSet:
    return SnapshotSet(f'id-{name}-{hours_ago}', name, 'i-1', 'web-1', NOW - hours_ago * HOUR,
                       [SetDevice('vda', 'a-1', f'b-{name}-{hours_ago}', 1)], list(labels))


def instance(devices: list[str], uefi: bool = False) -> Instance:
    disks = [{'device': d, 'snapshot_ignores': False} for d in devices]
    disks.insert(1, {'device': 'vdz', 'snapshot_ignores': True})  # the config drive
    return Instance(uuid='i-1', name='web-1', namespace='ci', state='created', disks=disks, uefi=uefi)


@pytest.mark.parametrize(('text', 'seconds'), [('90s', 90), ('30m', 1800), ('12h', 43200), ('7d', 604800),
                                               ('2w', 1209600), ('1d12h', 129600), ('45', 45), (3.5, 3.5)])
def test_durations_as_users_write_them(text: Any, seconds: float) -> None:
    assert parse_duration(text, 'older_than') == seconds


@pytest.mark.parametrize('text', ['soon', '7 days', '1x', '', '0', '-5', 'h', True, float('inf'), '3d soon'])
def test_durations_that_do_not_parse(text: Any) -> None:
    with pytest.raises(errors.SfInvalidInput, match='older_than'):
        parse_duration(text, 'older_than')


def test_without_name_min_age_or_force_it_refuses_to_guess() -> None:
    with pytest.raises(errors.SfInvalidInput, match='name .*min_age.*force'):
        snapshotter().decide([a_set('x', 1)])


def test_a_name_is_taken_once() -> None:
    assert snapshotter(name='nightly').decide([a_set('other', 1)]) == (True, None)
    existing = a_set('nightly', 30)
    assert snapshotter(name='nightly').decide([a_set('other', 1), existing]) == (False, existing)


def test_min_age_waits_for_the_newest_to_age() -> None:
    young = a_set(None, 2)
    assert snapshotter(min_age='20h').decide([young, a_set(None, 30)]) == (False, young)
    assert snapshotter(min_age='1h').decide([young]) == (True, None)
    assert snapshotter(min_age='1h').decide([]) == (True, None)


def test_force_always_takes_one() -> None:
    assert snapshotter(force=True, name='x').decide([a_set('x', 0)]) == (True, None)


def test_devices_default_list_all_and_unknown() -> None:
    two = instance(['vda', 'vdc'])
    assert snapshotter(force=True).devices(two) == ['vda']
    assert snapshotter(force=True, devices=['vdc', 'vda', 'vdc']).devices(two) == ['vdc', 'vda']
    assert snapshotter(force=True, devices='all').devices(instance(['vda'], uefi=True)) == ['vda', 'nvram']
    with pytest.raises(errors.SfInvalidInput, match="no device 'vdq'.*vda, vdc"):
        snapshotter(force=True, devices=['vdq']).devices(two)
    with pytest.raises(errors.SfInvalidInput, match='list of device names'):
        snapshotter(force=True, devices='vda')


def test_keep_counts_a_new_set_and_keeps_labelled_ones() -> None:
    sets = [a_set('d', 1), a_set('c', 2, ('sf://label/ci/golden',)), a_set('b', 3), a_set('a', 4)]
    kept, doomed = snapshotter(force=False, name='e', keep=2).retention(sets, taking=True)
    # The new set and d are the newest two; c is labelled, so kept with the reason; b and a go.
    assert [s.name for s in doomed] == ['b', 'a']
    assert [(s.name, 'sf://label/ci/golden' in reason) for s, reason in kept] == [('c', True)]
    # force deletes labelled sets too; without a new set, keep 2 keeps d and c.
    kept, doomed = snapshotter(force=True, keep=1).retention(sets, taking=False)
    assert [s.name for s in doomed] == ['c', 'b', 'a'] and kept == []


def test_the_reason_a_set_is_kept_names_its_labels_in_the_right_number() -> None:
    sets = [a_set('b', 1), a_set('a', 2, ('sf://label/ci/golden', 'sf://label/ci/stable'))]
    [(_kept, reason)] = snapshotter(keep=1).retention(sets, taking=False)[0]
    assert reason.startswith('labels sf://label/ci/golden, sf://label/ci/stable point at it')


def test_older_than_and_both_rules() -> None:
    sets = [a_set('new', 1), a_set('mid', 30), a_set('old', 200)]
    assert [s.name for s in snapshotter(name='x', older_than='1d').retention(sets, False)[1]] == ['mid', 'old']
    # With keep too, a set goes only when both say so: mid is old but among the newest two.
    assert [s.name for s in snapshotter(name='x', older_than='1d', keep=2).retention(sets, False)[1]] == ['old']
    assert snapshotter(name='x').retention(sets, False) == ([], [])


@pytest.mark.parametrize(('request_options', 'message'), [
    ({'keep': 0, 'force': True}, 'keep must be 1 or more'),
    ({'keep': -3, 'force': True}, 'keep must be 1 or more'),
    ({'older_than': 'whenever', 'force': True}, 'older_than must be a duration'),
    ({'min_age': 'a while'}, 'min_age must be a duration'),
    ({'name': 'a/b'}, 'must not contain'),
    ({'name': 'x', 'label': 'web', 'wait': False}, 'label needs wait'),
    ({'state': 'absent'}, 'state absent deletes a named snapshot set'),
    ({'force': True, 'wait_timeout': 0}, 'wait_timeout must be a positive'),
    ({'force': True, 'devices': []}, "devices must be 'all' or a non-empty list"),
    ({'force': True, 'devices': 123}, "devices must be 'all' or a non-empty list"),
    ({'force': True, 'devices': 'vda'}, "devices must be 'all' or a non-empty list"),
    ({'force': True, 'devices': ['vda', '']}, "devices must be 'all' or a non-empty list"),
])
def test_bad_input_is_refused_before_anything_is_read(request_options: dict[str, Any], message: str) -> None:
    with pytest.raises(errors.SfInvalidInput, match=message):
        snapshotter(**request_options)


def test_a_label_needs_a_single_device() -> None:
    with pytest.raises(errors.SfInvalidInput, match='label points at one disk, and this snapshot has 2'):
        snapshotter(name='x', label='golden')._check_label(['vda', 'vdc'])


class MetadataApi:
    namespace = 'ci'

    def __init__(self) -> None:
        self.stored = {'a-1': {'shakenfist.storage.snapshot.b-1': {'set': 'x'}, 'team': 'web', 'old': 'y'}}
        self.writes: list[tuple[str, str, str]] = []

    def get_metadata(self, uuid: str) -> dict[str, Any]:
        return dict(self.stored.get(uuid, {}))

    def set_metadata(self, uuid: str, key: str, value: Any) -> None:
        self.writes.append(('set', uuid, key))
        self.stored.setdefault(uuid, {})[key] = value

    def delete_metadata(self, uuid: str, key: str) -> None:
        self.writes.append(('delete', uuid, key))
        self.stored[uuid].pop(key)


def test_metadata_goes_on_each_disks_artifact_and_replace_keeps_the_set_records() -> None:
    from ansible_collections.shakenfist.storage.plugins.module_utils._models import SnapshotRef
    from ansible_collections.shakenfist.storage.plugins.module_utils._plan import Plan, execute

    api = MetadataApi()
    request = SnapshotRequest(instance='web-1', force=True, metadata={'team': 'db'}, metadata_mode='replace')
    found = Snapshotter(api, None, request, clock=lambda: NOW)
    found.validate()
    plan = Plan()
    found._add_metadata(plan, [a_set('x', 1)], ['vda', 'vdb'])  # vda was snapshotted before; vdb is new
    assert [s.text for s in plan.steps] == [
        'set metadata team on the snapshot artifact of vda',
        'delete metadata old from the snapshot artifact of vda',
        'set metadata team on the snapshot artifact of vdb']
    assert found.metadata_after == {'vda': {'team': 'db'}, 'vdb': {'team': 'db'}}
    found.taken.answers['vdb'] = SnapshotRef.model_validate(
        {'source_url': 'sf://instance/i-1/vdb', 'artifact_uuid': 'a-2', 'blob_uuid': 'b-2'})
    execute(plan, False)
    assert api.stored == {'a-1': {'shakenfist.storage.snapshot.b-1': {'set': 'x'}, 'team': 'db'},
                          'a-2': {'team': 'db'}}


@pytest.mark.parametrize(('request_args', 'message'), [
    ({'force': True, 'metadata': {'shakenfist.storage.snapshot.x': 'y'}}, 'kept by this collection'),
    ({'force': True, 'metadata': {'team': 3}}, 'values must be strings'),
    ({'state': 'absent', 'name': 'x', 'metadata': {'team': 'db'}}, 'only used with state: present'),
    ({'state': 'absent', 'name': 'x', 'label': 'golden'}, 'label is only used with state: present'),
    ({'state': 'absent', 'name': 'x', 'label': 'golden', 'metadata': {'t': 'a'}},
     'metadata and label are only used with state: present'),
])
def test_bad_snapshot_metadata_is_refused_before_any_request(request_args: dict[str, Any], message: str) -> None:
    with pytest.raises(errors.SfInvalidInput, match=message):
        snapshotter(**request_args)


class BootingApi:
    """Answers get_instance from a script of states; wait_until is the real one, on a clock that never sleeps."""

    def __init__(self, states: list[str]) -> None:
        self.states = list(states)
        self.reads = 0
        self.pauses = 0
        self.wait_until = SfApi.wait_until.__get__(self)

    def pause(self, attempt: int, reason: str, cap: float, base: float = 0.25) -> None:
        self.pauses += 1

    def get_instance(self, uuid: str) -> Instance:
        self.reads += 1
        state = self.states.pop(0) if len(self.states) > 1 else self.states[0]
        if state == 'gone':
            raise errors.SfNotFound('instance not found', status=404)
        disks = [{'device': 'vda', 'snapshot_ignores': False}] if state == 'created' else []
        return Instance(uuid='i-1', name='web-1', namespace='ci', state=state, disks=disks,
                        error_message='no such blob' if 'error' in state else None)


def booting(state: str) -> Instance:
    return Instance(uuid='i-1', name='web-1', namespace='ci', state=state)


def test_a_booting_instance_is_waited_for_until_it_has_disks() -> None:
    api = BootingApi(['preflight', 'creating', 'created'])
    ready = ready_instance(api, booting('initial'), 60)
    assert ready.state == 'created' and [d['device'] for d in ready.disks] == ['vda']
    assert api.reads == 3 and api.pauses == 2


def test_a_ready_instance_is_not_read_again() -> None:
    api = BootingApi(['created'])
    created = instance(['vda'])
    assert ready_instance(api, created, 60) is created
    assert api.reads == 0


@pytest.mark.parametrize(('states', 'kind', 'message'), [
    (['creating', 'creating-error'], errors.SfConflict, 'in state creating-error: no such blob'),
    (['error'], errors.SfConflict, 'in state error'),
    (['preflight', 'delete_wait'], errors.SfNotFound, 'being deleted'),
    (['preflight', 'delete-wait'], errors.SfNotFound, 'being deleted'),  # as 0.7.2 spells it
    (['gone'], errors.SfNotFound, 'deleted while waiting'),
])
def test_an_instance_that_will_never_be_ready_fails_at_once(states: list[str], kind: type, message: str) -> None:
    api = BootingApi(states)
    with pytest.raises(kind, match=message):
        ready_instance(api, booting('initial'), 3600)
    assert api.pauses == len(states) - 1


def test_an_instance_still_booting_at_the_deadline_is_a_timeout_naming_it() -> None:
    api = BootingApi(['creating'])
    with pytest.raises(errors.SfTimeout, match=r'instance web-1 \(i-1\) is ready .* within 0s') as raised:
        ready_instance(api, booting('initial'), 0.0001)
    assert 'wait_timeout' in (raised.value.hint or '')


@pytest.mark.parametrize('options', [{'keep': 3}, {'older_than': '30d'}, {'keep': 2, 'older_than': '7d'}])
def test_retention_alone_prunes_without_taking_a_set(options: dict[str, Any]) -> None:
    assert snapshotter(**options).prune_only


@pytest.mark.parametrize('options', [{'name': 'n', 'keep': 3}, {'min_age': '1h', 'keep': 3},
                                     {'force': True, 'older_than': '1d'}])
def test_retention_with_a_reason_to_take_a_set_takes_one(options: dict[str, Any]) -> None:
    assert not snapshotter(**options).prune_only


@pytest.mark.parametrize(('extra', 'named'), [({'devices': 'all'}, 'devices'), ({'label': 'web'}, 'label'),
                                              ({'metadata': {'a': 'b'}}, 'metadata')])
def test_options_for_a_set_are_refused_when_only_pruning(extra: dict[str, Any], named: str) -> None:
    with pytest.raises(errors.SfInvalidInput, match=f'^{named} only apply to a set being taken') as raised:
        snapshotter(keep=3, **extra)
    assert 'name, min_age or force' in (raised.value.hint or '')


def test_the_refusal_to_guess_names_pruning_too() -> None:
    with pytest.raises(errors.SfInvalidInput, match='give only keep or older_than to prune'):
        snapshotter().decide([])


# Waiting for a set on either server: a version found, a disk kept unchanged, a blob that never appears.
class SnapApi:
    """Blobs, one snapshot artifact per device with its versions and metadata; wait_until is the real one."""

    def __init__(self) -> None:
        self.blobs: dict[str, Blob] = {}
        self.versions: dict[str, list[ArtifactVersion]] = {}
        self.metadata: dict[str, dict[str, Any]] = {}
        self.deleted_versions: list[tuple[str, int]] = []
        self.wait_until = SfApi.wait_until.__get__(self)
        self.pause = lambda attempt, reason, cap, base=0.25: None
        self.features = ServerFeatures(artifact_metadata=True)  # 0.7.2: no cluster operations
        self.instance_state: str | None = 'created'  # None: deleted

    def get_instance(self, uuid: str) -> Instance:
        if self.instance_state is None:
            raise errors.SfNotFound('instance not found', status=404)
        return Instance(uuid=uuid, name='web-1', namespace='ci', state=self.instance_state,
                        error_message='Failed queue task: qemu-img failed' if 'error' in self.instance_state else None)

    def blob(self, uuid: str, sha512: str | None, state: str = 'created') -> None:
        self.blobs[uuid] = Blob(uuid=uuid, state=state, sha512=sha512, size=10)

    def version(self, artifact: str, uuid: str, sha512: str | None) -> int:
        self.blob(uuid, sha512)
        index = len(self.versions.setdefault(artifact, [])) + 1
        self.versions[artifact].append(ArtifactVersion(uuid=uuid, state='created', sha512=sha512, size=10,
                                                       index=index, modified=NOW))
        return index

    def get_blob(self, uuid: str) -> Blob:
        if uuid not in self.blobs:
            raise errors.SfNotFound('blob not found', status=404)
        return self.blobs[uuid]

    def artifact_versions(self, uuid: str, refresh: bool = False) -> list[ArtifactVersion]:
        return list(self.versions.get(uuid, []))

    def index(self, refresh: bool = False) -> ArtifactIndex:
        return ArtifactIndex([Artifact(uuid=a, state='created', artifact_type='snapshot', namespace='ci',
                                       source_url=f'sf://instance/i-1/{a.split("-")[-1]}', index=len(v))
                              for a, v in self.versions.items()])

    def get_metadata(self, uuid: str) -> dict[str, Any]:
        return dict(self.metadata.get(uuid, {}))

    def delete_version(self, uuid: str, index: int) -> None:
        self.deleted_versions.append((uuid, index))
        self.versions[uuid] = [v for v in self.versions[uuid] if v.index != index]

    def delete_metadata(self, uuid: str, key: str) -> None:
        self.metadata.get(uuid, {}).pop(key, None)


def waiting(api: SnapApi, timeout: float = 60) -> SetWaiter:
    return SetWaiter(api, timeout)


def test_a_disk_snapshot_without_a_known_sha512_is_done_when_its_version_appears() -> None:
    api = SnapApi()
    api.version('a-vda', 'old', 'f' * 128)
    api.version('a-vda', 'new', None)  # 0.7.2: the checksum pass has not run yet
    device = SetDevice('vda', 'a-vda', 'new', state='initial')
    waiting(api).wait(instance(['vda']), SnapshotSet('s-1', 'n', 'i-1', 'web-1', NOW, [device]))
    assert (device.version, device.sha512, device.state, device.unchanged) == (2, None, 'created', False)


def test_an_unchanged_nvram_is_held_as_its_newest_version() -> None:
    api = SnapApi()
    api.version('a-nvram', 'old', 'e' * 128)
    api.blob('new', 'e' * 128)  # 0.7.2 made the blob, then skipped adding it: same content
    device = SetDevice('nvram', 'a-nvram', 'new', state='initial')
    waiting(api).wait(instance(['vda'], uefi=True), SnapshotSet('s-1', 'n', 'i-1', 'web-1', NOW, [device]))
    assert (device.blob_uuid, device.version, device.unchanged) == ('old', 1, True)
    assert device.as_dict()['unchanged'] is True and device.key('s-1').endswith('old.s-1')


def test_a_blob_made_but_not_yet_added_is_waited_for_not_taken_as_unchanged() -> None:
    api = SnapApi()
    api.version('a-vda', 'old', 'e' * 128)
    api.blob('new', None)
    device = SetDevice('vda', 'a-vda', 'new', state='initial')
    assert not waiting(api).settle(device)
    api.blob('new', 'd' * 128)
    assert not waiting(api).settle(device)  # another content, not a version yet: still waiting


@pytest.mark.parametrize(('added_meanwhile', 'expected'), [(True, ('new', 2, False)), (False, ('old', 1, True))])
def test_a_version_added_just_before_the_operation_ended_is_the_disks_own(
        added_meanwhile: bool, expected: tuple[str, int, bool]) -> None:
    api = SnapApi()  # a server with cluster operations: the skip rule may leave a disk's blob out
    api.version('a-vda', 'old', 'e' * 128)
    device = SetDevice('vda', 'a-vda', 'new', state='initial')
    if added_meanwhile:  # after the last settle, before the operation was seen complete
        api.version('a-vda', 'new', None)
    waiting(api)._unchanged({'new': device})
    assert (device.blob_uuid, device.version, device.unchanged) == expected


def test_a_snapshot_that_never_appears_is_a_timeout_naming_the_device() -> None:
    api = SnapApi()
    api.version('a-vda', 'old', 'e' * 128)
    devices = [SetDevice('vda', 'a-vda', 'lost', state='initial')]
    with pytest.raises(errors.SfTimeout, match=r'the snapshot of vda \(blob lost\) of instance web-1 did not appear '
                                               r'within 0s') as raised:
        waiting(api, timeout=0.0001).wait(instance(['vda']), SnapshotSet('s-1', 'n', 'i-1', 'web-1', NOW, devices))
    assert raised.value.detail == {'devices': ['vda']} and 'instance events' in (raised.value.hint or '')


@pytest.mark.parametrize(('state', 'now'), [('created-error', 'now created-error: Failed queue task: qemu-img'),
                                            ('delete-wait', 'now delete-wait'), (None, 'gone')])
def test_an_instance_a_failed_snapshot_took_down_fails_the_wait_at_once(state: str | None, now: str) -> None:
    api = SnapApi()  # 0.7.2 puts the instance in created-error and deletes it when a snapshot task fails
    api.instance_state = state
    devices = [SetDevice('vda', 'a-vda', 'never', state='initial')]
    with pytest.raises(errors.SfServerError, match=f'snapshot of instance web-1 failed: the instance is {now}'):
        waiting(api, timeout=3600).wait(instance(['vda']), SnapshotSet('s-1', 'n', 'i-1', 'web-1', NOW, devices))


def test_a_failed_blob_fails_at_once() -> None:
    api = SnapApi()
    api.blob('bad', None, state='error')
    with pytest.raises(errors.SfServerError, match='snapshot of vda failed'):
        waiting(api).settle(SetDevice('vda', 'a-vda', 'bad', state='initial'))


def test_a_held_version_belongs_to_both_sets_and_goes_only_with_the_last() -> None:
    api = SnapApi()
    first = {'set': 's-1', 'name': 'first', 'created': NOW - 2 * HOUR, 'instance': 'i-1', 'devices': ['nvram']}
    second = {**first, 'set': 's-2', 'name': 'second', 'created': NOW - HOUR}
    api.version('a-nvram', 'b-1', 'e' * 128)
    api.metadata['a-nvram'] = {set_key('b-1'): first, hold_key('b-1', 's-2'): second}
    sets = read_sets(api, 'i-1', 'web-1')
    assert [(s.name, [(d.blob_uuid, d.unchanged) for d in s.devices]) for s in sets] == [
        ('second', [('b-1', True)]), ('first', [('b-1', False)])]
    pruner = Snapshotter(api, None, SnapshotRequest(instance='web-1', keep=1), clock=lambda: NOW)
    pruner.validate()
    pruner.instance = instance(['vda'])
    kept, doomed = pruner.retention(sets, taking=False)
    assert [s.name for s in doomed] == ['first']
    plan = Plan()
    pruner._add_delete(plan, doomed[0], 'delete first', sets, doomed)
    plan.steps[0].run(plan.steps[0])
    assert api.deleted_versions == []  # the set that holds it stays, so the version stays
    assert set(api.metadata['a-nvram']) == {hold_key('b-1', 's-2')}
    assert [s.name for s in read_sets(api, 'i-1', 'web-1')] == ['second']
