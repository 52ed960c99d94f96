"""Label logic over an in-memory API: naming, history, rollback, sharing rules, idempotency, check mode."""

from __future__ import annotations

import uuid as uuidlib
from typing import Any

import pytest

from ansible_collections.shakenfist.storage.plugins.module_utils import _errors as errors
from ansible_collections.shakenfist.storage.plugins.module_utils._features import ServerFeatures
from ansible_collections.shakenfist.storage.plugins.module_utils._index import ArtifactIndex
from ansible_collections.shakenfist.storage.plugins.module_utils._label_plan import LabelPlanner
from ansible_collections.shakenfist.storage.plugins.module_utils._labels import (
    RESOLVED_FROM_KEY,
    LabelReader,
    LabelRequest,
    LabelVersion,
    check_write,
    read_resolved_from,
    resolved_from_key,
    rollback_target,
    split_label_name,
)
from ansible_collections.shakenfist.storage.plugins.module_utils._models import (
    Artifact,
    ArtifactVersion,
    Blob,
    VersionRef,
)
from ansible_collections.shakenfist.storage.plugins.module_utils._plan import Outcome, execute
from ansible_collections.shakenfist.storage.plugins.module_utils._resolver import Resolver


def sha(n: int) -> str:
    return f'{n:0128x}'


class FakeApi:
    """Artifacts, versions and metadata in memory; every write is recorded."""

    def __init__(self, namespace: str, trusted_by: tuple[str, ...] = ()) -> None:
        self.namespace = namespace
        self.trusted_by = trusted_by
        self.artifacts: dict[str, Artifact] = {}
        self.versions: dict[str, list[ArtifactVersion]] = {}
        self.blobs: dict[str, ArtifactVersion] = {}
        self.writes: list[str] = []
        self.counter = 0

    @property
    def is_system(self) -> bool:
        return self.namespace == 'system'

    def blob(self) -> ArtifactVersion:
        self.counter += 1
        version = ArtifactVersion(uuid=str(uuidlib.uuid4()), state='created', size=10 * self.counter,
                                  sha512=sha(self.counter), index=0)
        self.blobs[version.uuid] = version
        return version

    def add(self, artifact_type: str, source_url: str, namespace: str, blobs: list[ArtifactVersion],
            shared: bool = False, max_versions: int = 3) -> Artifact:
        uuid = str(uuidlib.uuid4())
        self.artifacts[uuid] = Artifact(uuid=uuid, state='created', artifact_type=artifact_type,
                                        source_url=source_url, namespace=namespace, shared=shared,
                                        max_versions=max_versions)
        self.versions[uuid] = []
        for blob in blobs:
            self._add_version(uuid, blob.uuid)
        return self.artifacts[uuid]

    def _add_version(self, uuid: str, blob_uuid: str) -> None:
        rows = self.versions[uuid]
        blob = self.blobs[blob_uuid]
        if rows and (rows[-1].uuid == blob_uuid or rows[-1].sha512 == blob.sha512):
            return
        index = max([r.index for r in rows], default=0) + 1
        rows.append(blob.model_copy(update={'index': index}))
        self._trim(uuid)

    def _trim(self, uuid: str) -> None:
        keep = self.artifacts[uuid].max_versions or 3
        del self.versions[uuid][:-keep]
        rows = self.versions[uuid]
        self.artifacts[uuid] = self.artifacts[uuid].model_copy(update={
            'index': rows[-1].index if rows else 0, 'blob_uuid': rows[-1].uuid if rows else None,
            'blobs': {r.index: VersionRef(uuid=r.uuid, size=r.size) for r in rows}})

    # Reads
    def list_artifacts(self, refresh: bool = False) -> list[Artifact]:
        return [a for a in self.artifacts.values() if a.state == 'created' and (
            self.is_system or a.shared or a.namespace in (self.namespace, *self.trusted_by))]

    def index(self, refresh: bool = False) -> ArtifactIndex:
        return ArtifactIndex(self.list_artifacts())

    def forget(self) -> None:
        pass

    def find_artifact(self, ref: str) -> Artifact | None:
        return self.artifacts.get(ref)

    def artifact_versions(self, uuid: str, refresh: bool = False) -> list[ArtifactVersion]:
        return list(self.versions[uuid])

    def get_blob(self, uuid: str) -> Blob:
        return Blob.model_validate(self.blobs[uuid].model_dump())

    features = ServerFeatures(artifact_metadata=True, blob_search_by_hash=True, cluster_operations=True,
                              events_by_type=True)

    def get_metadata(self, uuid: str) -> dict[str, Any]:
        return dict(self.artifacts[uuid].metadata)

    def namespace_trusts(self, owner: str) -> bool:
        return owner in self.trusted_by

    # Writes
    def update_label(self, namespace: str, name: str, blob_uuid: str, max_versions: int | None = None) -> Artifact:
        self.writes.append(f'label {namespace}/{name} {blob_uuid}')
        url = f'sf://label/{namespace}/{name}'
        found = [a for a in self.artifacts.values() if a.source_url == url and a.state == 'created']
        if not found:
            return self.add('label', url, namespace, [self.blobs[blob_uuid]], max_versions=max_versions or 3)
        self._add_version(found[0].uuid, blob_uuid)
        return self.artifacts[found[0].uuid]

    def set_max_versions(self, uuid: str, max_versions: int) -> None:
        self.writes.append(f'max_versions {max_versions}')
        self.artifacts[uuid] = self.artifacts[uuid].model_copy(update={'max_versions': max_versions})
        self._trim(uuid)

    def share(self, uuid: str) -> Artifact:
        self.writes.append('share')
        self.artifacts[uuid] = self.artifacts[uuid].model_copy(update={'shared': True})
        return self.artifacts[uuid]

    def unshare(self, uuid: str) -> Artifact:
        self.writes.append('unshare')
        self.artifacts[uuid] = self.artifacts[uuid].model_copy(update={'shared': False})
        return self.artifacts[uuid]

    def set_metadata(self, uuid: str, key: str, value: Any) -> None:
        self.writes.append(f'metadata {key}')
        self.artifacts[uuid] = self.artifacts[uuid].model_copy(
            update={'metadata': {**self.artifacts[uuid].metadata, key: value}})

    def delete_metadata(self, uuid: str, key: str) -> None:
        self.writes.append(f'delete metadata {key}')
        metadata = dict(self.artifacts[uuid].metadata)
        metadata.pop(key, None)
        self.artifacts[uuid] = self.artifacts[uuid].model_copy(update={'metadata': metadata})

    def delete_artifact(self, uuid: str) -> None:
        self.writes.append(f'delete {uuid}')
        self.artifacts[uuid] = self.artifacts[uuid].model_copy(update={'state': 'deleted'})

    def delete_version(self, uuid: str, index: int) -> None:
        self.writes.append(f'delete version {index}')
        self.versions[uuid] = [r for r in self.versions[uuid] if r.index != index]
        self._trim(uuid)


def reader(api: FakeApi) -> LabelReader:
    return LabelReader(api, Resolver(api))


def present(api: FakeApi, name: str, check_mode: bool = False, **request: Any) -> Outcome:
    return execute(LabelPlanner(api, Resolver(api), LabelRequest(name=name, **request)).plan_present(),
                   check_mode)


def absent(api: FakeApi, name: str, version: int | None = None, check_mode: bool = False) -> Outcome:
    return execute(LabelPlanner(api, Resolver(api), LabelRequest(name=name, version=version)).plan_absent(),
                   check_mode)


@pytest.fixture
def ci() -> FakeApi:
    api = FakeApi('ci')
    for name in ('img-a', 'img-b', 'img-c'):
        api.add('image', f'sf://upload/ci/{name}', 'ci', [api.blob()])
    return api


def image_blob(api: FakeApi, name: str) -> str:
    return next(a.blob_uuid for a in api.artifacts.values() if a.source_url.endswith('/' + name)) or ''


def test_split_label_name_forms() -> None:
    assert split_label_name('web', 'ci') == ('ci', 'web', False)
    assert split_label_name('system/web', 'ci') == ('system', 'web', True)
    assert split_label_name('sf://label/ci/web', 'x') == ('ci', 'web', True)
    assert split_label_name('label:web', 'ci') == ('ci', 'web', False)
    for bad in ('', 'a/b/c', '/web', 'ns/'):
        with pytest.raises(errors.SfInvalidInput):
            split_label_name(bad, 'ci')


def test_read_resolved_from_is_tolerant() -> None:
    assert read_resolved_from({RESOLVED_FROM_KEY: {'2': {'ref': 'x'}, 'junk': 1}}) == {2: {'ref': 'x'}}
    assert read_resolved_from({RESOLVED_FROM_KEY: '{"3": "sf://upload/ci/a"}'}) == {3: {'ref': 'sf://upload/ci/a'}}
    assert read_resolved_from({RESOLVED_FROM_KEY: 'not json'}) == {}
    assert read_resolved_from({}) == {}
    # Per-version keys win over the older single map.
    both = {RESOLVED_FROM_KEY: {'2': {'ref': 'old'}}, resolved_from_key(2): {'ref': 'new'}, 'other': 1}
    assert read_resolved_from(both) == {2: {'ref': 'new'}}


def test_rollback_target_counts_back_from_the_newest() -> None:
    history = [LabelVersion(5, 'c'), LabelVersion(4, 'b'), LabelVersion(2, 'a')]
    assert rollback_target(history, 1, 'x').blob_uuid == 'b'
    assert rollback_target(history, 2, 'x').blob_uuid == 'a'
    with pytest.raises(errors.SfNotFound, match='keeps versions 5, 4, 2'):
        rollback_target(history, 3, 'x')
    with pytest.raises(errors.SfInvalidInput):
        rollback_target(history, 0, 'x')


def current(outcome: Outcome) -> dict[str, Any]:
    found = outcome.result['label']['current']
    assert found is not None, outcome.result
    return found


def test_create_from_an_image_name_records_the_source(ci: FakeApi) -> None:
    outcome = present(ci, 'web', target='img-a', max_versions=5)
    label = outcome.result['label']
    assert outcome.changed and label['uuid'] and label['ref'] == 'sf://label/ci/web' and label['max_versions'] == 5
    assert current(outcome)['blob_uuid'] == image_blob(ci, 'img-a')
    assert current(outcome)['resolved_from'] == {'input': 'img-a', 'ref': 'sf://upload/ci/img-a', 'version': 1}
    assert ci.writes[0].startswith('label ci/web ') and ci.writes[-1] == f'metadata {resolved_from_key(1)}'
    assert outcome.plan[0]['step'] == 'point_label' and outcome.plan[0]['status'] == 'done'


def test_same_target_again_writes_nothing(ci: FakeApi) -> None:
    present(ci, 'web', target='img-a')
    ci.writes.clear()
    outcome = present(ci, 'web', target='img-a')
    assert not outcome.changed and ci.writes == []


def test_identical_bytes_under_another_blob_is_no_move(ci: FakeApi) -> None:
    present(ci, 'web', target='img-a')
    twin = ci.blob().model_copy(update={'sha512': ci.blobs[image_blob(ci, 'img-a')].sha512})
    ci.blobs[twin.uuid] = twin
    ci.add('image', 'sf://upload/ci/twin', 'ci', [twin])
    ci.writes.clear()
    assert not present(ci, 'web', target='twin').changed and ci.writes == []


def test_move_then_rollback_uses_the_history(ci: FakeApi) -> None:
    for name in ('img-a', 'img-b', 'img-c'):
        present(ci, 'web', target=name, max_versions=5)
    outcome = present(ci, 'web', rollback=2)
    now = current(outcome)
    assert now['blob_uuid'] == image_blob(ci, 'img-a') and now['version'] == 4
    assert now['resolved_from']['ref'] == 'sf://upload/ci/img-a' and 'rollback 2' in now['resolved_from']['via']
    # History is now a, c, b, a: going back 3 lands on the blob the label already has, so nothing moves.
    ci.writes.clear()
    assert not present(ci, 'web', rollback=3).changed and ci.writes == []


def test_history_entries_of_trimmed_versions_are_dropped(ci: FakeApi) -> None:
    for name in ('img-a', 'img-b', 'img-c', 'img-a'):
        present(ci, 'web', target=name)
    keys = sorted(k for k in ci.artifacts[reader(ci).read('ci', 'web').uuid or ''].metadata if k != RESOLVED_FROM_KEY)
    assert keys == [resolved_from_key(n) for n in (2, 3, 4)]


def test_check_mode_predicts_and_never_writes(ci: FakeApi) -> None:
    present(ci, 'web', target='img-a')
    ci.writes.clear()
    outcome = present(ci, 'web', check_mode=True, target='img-b', max_versions=2)
    assert outcome.changed and ci.writes == []
    assert current(outcome)['version'] == 2 and current(outcome)['blob_uuid'] == image_blob(ci, 'img-b')
    assert outcome.result['label']['max_versions'] == 2 and [v['version'] for v in outcome.result['history']] == [2, 1]
    assert outcome.before['target'] == 'sf://upload/ci/img-a' and outcome.after['target'] == 'sf://upload/ci/img-b'
    assert outcome.before['max_versions'] == 3 and outcome.after['max_versions'] == 2
    assert all(action.startswith('would ') for action in outcome.actions)
    assert [step['status'] for step in outcome.plan] == ['planned', 'planned']


def test_check_mode_create_predicts_version_one(ci: FakeApi) -> None:
    outcome = present(ci, 'web', check_mode=True, target='img-a')
    assert outcome.changed and ci.writes == [] and current(outcome)['version'] == 1
    assert not outcome.before['exists'] and outcome.after['exists']


@pytest.mark.parametrize('namespace, options', [
    ('ci', {'target': 'img-a'}),
    ('ci', {'target': 'img-a', 'max_versions': 5}),
    ('system', {'target': 'sf://upload/ci/img-a', 'shared': True, 'max_versions': 2}),
])
def test_check_mode_predicts_what_the_real_run_returns(ci: FakeApi, namespace: str, options: Any) -> None:
    # Issue 19: the prediction is the real result, bar the UUID of a label that does not exist yet (null, never a
    # placeholder string in a typed field); its max_versions, sharing and origin are the ones the run then sets.
    ci.namespace = namespace
    predicted = present(ci, 'web', check_mode=True, **options)
    assert ci.writes == [] and predicted.result['label']['uuid'] is None and predicted.after['exists']
    done = present(ci, 'web', **options)
    assert done.result['label']['uuid']
    assert {**predicted.result['label'], 'uuid': done.result['label']['uuid']} == done.result['label']
    assert predicted.result['history'] == done.result['history'] and predicted.after == done.after
    # Then a change of retention and sharing on the existing label: the same again.
    changes: dict[str, Any] = {'max_versions': 4, **({'shared': False} if namespace == 'system' else {})}
    predicted = present(ci, 'web', check_mode=True, **changes)
    assert predicted.changed and predicted.result == present(ci, 'web', **changes).result


def test_create_false_refuses_a_typo_and_names_near_labels(ci: FakeApi) -> None:
    present(ci, 'webserver', target='img-a')
    ci.writes.clear()
    with pytest.raises(errors.SfNotFound, match='create is false') as caught:
        present(ci, 'webservr', target='img-b', create=False)
    assert caught.value.detail == {'near': ['sf://label/ci/webserver']} and ci.writes == []


def test_a_label_named_like_a_uuid_is_refused(ci: FakeApi) -> None:
    with pytest.raises(errors.SfInvalidInput, match='looks like a UUID'):
        present(ci, str(uuidlib.uuid4()), target='img-a')
    assert ci.writes == []


def test_max_versions_is_set_explicitly_on_update(ci: FakeApi) -> None:
    present(ci, 'web', target='img-a')
    ci.writes.clear()
    outcome = present(ci, 'web', target='img-a', max_versions=7)
    assert outcome.changed and ci.writes == ['max_versions 7'] and outcome.result['label']['max_versions'] == 7


def test_pointing_web_at_web_means_the_other_web(ci: FakeApi) -> None:
    ci.add('image', 'sf://upload/ci/web', 'ci', [ci.blob()])
    present(ci, 'web', target='img-a')
    outcome = present(ci, 'web', target='web')
    assert current(outcome)['blob_uuid'] == image_blob(ci, 'web')


def test_upstream_not_fetched_cannot_be_a_target(ci: FakeApi) -> None:
    with pytest.raises(errors.SfNotReady, match='not been fetched'):
        present(ci, 'web', target='debian:12')


def test_tenant_cannot_touch_a_shared_system_label() -> None:
    api = FakeApi('ci')
    base = api.blob()
    api.add('label', 'sf://label/system/base', 'system', [base], shared=True)
    api.add('image', 'sf://upload/ci/img', 'ci', [api.blob()])
    with pytest.raises(errors.SfForbidden, match="owned by namespace 'system'.*only system may change") as caught:
        present(api, 'system/base', target='img')
    assert 'ci/base' in (caught.value.hint or '')
    with pytest.raises(errors.SfForbidden, match='only system may change'):
        present(api, 'base', target='img')
    with pytest.raises(errors.SfForbidden):
        absent(api, 'system/base')
    assert api.writes == []
    # Explicitly asking for an own label of that name is allowed.
    assert present(api, 'ci/base', target='img').result['label']['namespace'] == 'ci'


def test_sharing_rules() -> None:
    api = FakeApi('system')
    api.add('image', 'sf://upload/ci/img', 'ci', [api.blob()])
    outcome = present(api, 'base', target='ci/img', shared=True)
    assert outcome.result['label']['shared'] and api.writes[-2:] == [f'metadata {resolved_from_key(1)}', 'share']
    with pytest.raises(errors.SfForbidden, match='only labels in namespace system can be shared'):
        present(api, 'ci/web', target='ci/img', shared=True)
    moved = present(api, 'ci/web', target='ci/img')
    assert moved.result['label']['namespace'] == 'ci' and moved.result['label']['ref'] == 'sf://label/ci/web'
    assert present(api, 'base', shared=False).result['label']['shared'] is False


def test_check_write_gifts_and_trust() -> None:
    from ansible_collections.shakenfist.storage.plugins.module_utils._labels import LabelState

    new = LabelState(ref='sf://label/team/web', namespace='team', name='web')
    check_write('ci', new, creating=True, shared=None, trusts=lambda owner: owner == 'team')
    with pytest.raises(errors.SfForbidden, match='does not trust'):
        check_write('ci', new, creating=True, shared=None, trusts=lambda owner: False)
    existing = LabelState(ref='sf://label/team/web', namespace='team', name='web', uuid='u')
    with pytest.raises(errors.SfForbidden, match="only 'team' or system"):
        check_write('ci', existing, creating=False, shared=None, trusts=lambda owner: True)
    with pytest.raises(errors.SfForbidden, match='only system may create labels in namespace system'):
        check_write('ci', LabelState(ref='sf://label/system/x', namespace='system', name='x'), creating=True,
                    shared=None, trusts=lambda owner: True)
    with pytest.raises(errors.SfForbidden, match='only system may share'):
        check_write('ci', LabelState(ref='sf://label/ci/x', namespace='ci', name='x'), creating=True,
                    shared=True, trusts=lambda owner: True)


def test_delete_label_and_versions(ci: FakeApi) -> None:
    for name in ('img-a', 'img-b'):
        present(ci, 'web', target=name)
    ci.writes.clear()
    predicted = absent(ci, 'web', version=1, check_mode=True)
    assert predicted.changed and ci.writes == [] and [v['version'] for v in predicted.result['history']] == [2]
    # The version's history entry goes with it.
    assert absent(ci, 'web', version=1).changed
    assert ci.writes == ['delete version 1', f'delete metadata {resolved_from_key(1)}']
    assert not absent(ci, 'web', version=1).changed
    label_uuid = reader(ci).read('ci', 'web').uuid
    outcome = absent(ci, 'web')
    assert outcome.changed and ci.writes[-1] == f'delete {label_uuid}' and not outcome.result['label']['uuid']
    assert not outcome.after['exists']
    assert not absent(ci, 'web').changed


def test_a_failing_step_reports_what_was_done() -> None:
    api = FakeApi('system')
    api.add('image', 'sf://upload/ci/img', 'ci', [api.blob()])

    def refuse(uuid: str) -> None:
        raise errors.SfForbidden('no sharing today')

    api.share = refuse  # type: ignore[method-assign]
    with pytest.raises(errors.SfError) as caught:
        present(api, 'base', target='ci/img', shared=True, metadata={'team': 'web'})
    failed = caught.value
    outcome = failed.outcome
    assert failed.kind == 'forbidden' and outcome.changed
    assert [(s['step'], s['status']) for s in outcome.plan] == [
        ('point_label', 'done'), ('share', 'failed'), ('set_metadata', 'not run')]


def test_listing_marks_origins_and_filters_locally() -> None:
    api = FakeApi('ci', trusted_by=('team',))
    blob = api.blob()
    api.add('label', 'sf://label/ci/web', 'ci', [blob])
    api.add('label', 'sf://label/system/base', 'system', [blob], shared=True)
    api.add('label', 'sf://label/system/hidden', 'system', [blob])
    api.add('label', 'sf://label/team/web-2', 'team', [blob])
    api.add('image', 'sf://upload/ci/web-img', 'ci', [blob])
    found = reader(api).listing()
    assert [(s.ref, s.origin, s.shared) for s in found] == [
        ('sf://label/ci/web', 'namespace', False), ('sf://label/system/base', 'system', True),
        ('sf://label/team/web-2', 'trusted', False)]
    assert [s.name for s in reader(api).listing(pattern='web*')] == ['web', 'web-2']
    assert [s.name for s in reader(api).listing(owner='system')] == ['base']
    assert found[0].current is not None and found[0].current.sha512 is None
    assert reader(api).listing(with_versions=True)[0].history[0].sha512 == blob.sha512


def test_a_move_whose_answer_is_lost_is_confirmed_by_reading_again(ci: FakeApi) -> None:
    present(ci, 'web', target='img-a')
    update = ci.update_label

    def applied_then_lost(*args: Any, **kwargs: Any) -> Artifact:
        update(*args, **kwargs)
        raise errors.SfTimeout('no answer within 60s', method='POST', path='/label/web')

    ci.update_label = applied_then_lost  # type: ignore[method-assign]
    outcome = present(ci, 'web', target='img-b')
    assert outcome.changed and current(outcome)['blob_uuid'] == image_blob(ci, 'img-b')
    assert 'reading again shows it done' in outcome.actions[0]


def test_a_move_whose_answer_is_lost_and_did_not_happen_fails(ci: FakeApi) -> None:
    present(ci, 'web', target='img-a')

    def lost(*args: Any, **kwargs: Any) -> Artifact:
        raise errors.SfTimeout('no answer within 60s', method='POST', path='/label/web')

    ci.update_label = lost  # type: ignore[method-assign]
    with pytest.raises(errors.SfError) as caught:
        present(ci, 'web', target='img-b')
    assert caught.value.kind == 'timeout'


def test_a_rollback_killed_after_its_move_is_not_repeated(ci: FakeApi) -> None:
    from ansible_collections.shakenfist.storage.plugins.module_utils._labels import PENDING_KEY

    for name in ('img-a', 'img-b'):
        present(ci, 'web', target=name)
    uuid = reader(ci).read('ci', 'web').uuid or ''
    # What a killed rollback leaves: its intent, and the move (the server got it), but no history entry.
    ci.set_metadata(uuid, PENDING_KEY, {'from': 2, 'blob': image_blob(ci, 'img-a'), 'source': {'ref': 'x'}})
    ci.update_label('ci', 'web', image_blob(ci, 'img-a'))
    ci.writes.clear()
    outcome = present(ci, 'web', rollback=1)
    assert not outcome.changed and 'done by an interrupted run' in outcome.actions[0]
    assert current(outcome)['blob_uuid'] == image_blob(ci, 'img-a') and current(outcome)['version'] == 3
    assert ci.writes == [f'metadata {resolved_from_key(3)}', f'delete metadata {PENDING_KEY}']
    # With the intent gone, a new rollback is a new action again.
    assert present(ci, 'web', rollback=1).changed


def test_a_rollback_records_its_intent_then_clears_it(ci: FakeApi) -> None:
    from ansible_collections.shakenfist.storage.plugins.module_utils._labels import PENDING_KEY

    for name in ('img-a', 'img-b'):
        present(ci, 'web', target=name)
    ci.writes.clear()
    assert present(ci, 'web', rollback=1).changed
    assert ci.writes[0] == f'metadata {PENDING_KEY}' and ci.writes[-1] == f'delete metadata {PENDING_KEY}'
    assert PENDING_KEY not in ci.artifacts[reader(ci).read('ci', 'web').uuid or ''].metadata


def test_a_history_entry_that_cannot_be_written_is_a_warning_not_a_silent_loss(ci: FakeApi) -> None:
    present(ci, 'web', target='img-a')
    write = ci.set_metadata

    def refuse_history(uuid: str, key: str, value: Any) -> None:
        if key.startswith(resolved_from_key(0)[:-1]):
            raise errors.SfServerError('PUT metadata failed: boom', status=500)
        write(uuid, key, value)

    ci.set_metadata = refuse_history  # type: ignore[method-assign]
    outcome = present(ci, 'web', target='img-b')
    assert outcome.changed and current(outcome)['blob_uuid'] == image_blob(ci, 'img-b')
    assert any('where it came from could not be recorded' in w for w in outcome.warnings), outcome.warnings
    # A rollback past it still works: the history holds the version by its blob.
    back = present(ci, 'web', rollback=1)
    assert back.changed and current(back)['blob_uuid'] == image_blob(ci, 'img-a')


def test_label_metadata_replace_deletes_only_user_keys(ci: FakeApi) -> None:
    present(ci, 'web', target='ci/img-a', metadata={'team': 'web', 'tier': 'prod'})
    label = present(ci, 'web', metadata={'team': 'web'}, metadata_mode='replace')
    assert [(s['step'], s['status']) for s in label.plan] == [('delete_metadata', 'done')]
    assert label.result['label']['metadata'] == {'team': 'web'}
    again = present(ci, 'web', metadata={'team': 'web'}, metadata_mode='replace')
    assert not again.changed
