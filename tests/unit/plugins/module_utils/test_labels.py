"""Label logic over an in-memory API: naming, history, rollback, sharing rules, idempotency, check mode."""

from __future__ import annotations

import uuid as uuidlib
from typing import Any

import pytest

from ansible_collections.shakenfist.storage.plugins.module_utils import _errors as errors
from ansible_collections.shakenfist.storage.plugins.module_utils._labels import (
    RESOLVED_FROM_KEY,
    LabelManager,
    LabelRequest,
    LabelVersion,
    check_write,
    read_resolved_from,
    rollback_target,
    split_label_name,
)
from ansible_collections.shakenfist.storage.plugins.module_utils._models import (
    Artifact,
    ArtifactVersion,
    Blob,
    VersionRef,
)
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

    def find_artifact(self, ref: str) -> Artifact | None:
        return self.artifacts.get(ref)

    def artifact_versions(self, uuid: str, refresh: bool = False) -> list[ArtifactVersion]:
        return list(self.versions[uuid])

    def get_blob(self, uuid: str) -> Blob:
        return Blob.model_validate(self.blobs[uuid].model_dump())

    def has_capability(self, name: str) -> bool:
        return True

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

    def delete_artifact(self, uuid: str) -> None:
        self.writes.append(f'delete {uuid}')
        self.artifacts[uuid] = self.artifacts[uuid].model_copy(update={'state': 'deleted'})

    def delete_version(self, uuid: str, index: int) -> None:
        self.writes.append(f'delete version {index}')
        self.versions[uuid] = [r for r in self.versions[uuid] if r.index != index]
        self._trim(uuid)


def manager(api: FakeApi, check_mode: bool = False) -> LabelManager:
    return LabelManager(api, Resolver(api), check_mode=check_mode)  # type: ignore[arg-type]


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


def test_rollback_target_counts_back_from_the_newest() -> None:
    history = [LabelVersion(5, 'c'), LabelVersion(4, 'b'), LabelVersion(2, 'a')]
    assert rollback_target(history, 1, 'x').blob_uuid == 'b'
    assert rollback_target(history, 2, 'x').blob_uuid == 'a'
    with pytest.raises(errors.SfNotFound, match='keeps versions 5, 4, 2'):
        rollback_target(history, 3, 'x')
    with pytest.raises(errors.SfInvalidInput):
        rollback_target(history, 0, 'x')


def test_create_from_an_image_name_records_the_source(ci: FakeApi) -> None:
    outcome = manager(ci).ensure_present('web', LabelRequest(target='img-a', max_versions=5))
    after = outcome.after
    assert outcome.changed and after.exists and after.ref == 'sf://label/ci/web' and after.max_versions == 5
    assert after.current is not None and after.current.blob_uuid == image_blob(ci, 'img-a')
    assert after.current.resolved_from == {'input': 'img-a', 'ref': 'sf://upload/ci/img-a', 'version': 1}
    assert ci.writes[0].startswith('label ci/web ') and ci.writes[-1] == f'metadata {RESOLVED_FROM_KEY}'


def test_same_target_again_writes_nothing(ci: FakeApi) -> None:
    manager(ci).ensure_present('web', LabelRequest(target='img-a'))
    ci.writes.clear()
    outcome = manager(ci).ensure_present('web', LabelRequest(target='img-a'))
    assert not outcome.changed and ci.writes == []


def test_identical_bytes_under_another_blob_is_no_move(ci: FakeApi) -> None:
    manager(ci).ensure_present('web', LabelRequest(target='img-a'))
    twin = ci.blob().model_copy(update={'sha512': ci.blobs[image_blob(ci, 'img-a')].sha512})
    ci.blobs[twin.uuid] = twin
    ci.add('image', 'sf://upload/ci/twin', 'ci', [twin])
    ci.writes.clear()
    assert not manager(ci).ensure_present('web', LabelRequest(target='twin')).changed and ci.writes == []


def test_move_then_rollback_uses_the_history(ci: FakeApi) -> None:
    for name in ('img-a', 'img-b', 'img-c'):
        manager(ci).ensure_present('web', LabelRequest(target=name, max_versions=5))
    outcome = manager(ci).ensure_present('web', LabelRequest(rollback=2))
    current = outcome.after.current
    assert current is not None and current.blob_uuid == image_blob(ci, 'img-a') and current.version == 4
    assert current.resolved_from is not None and current.resolved_from['ref'] == 'sf://upload/ci/img-a'
    assert 'rollback 2' in current.resolved_from['via']
    # History is now a, c, b, a: going back 3 lands on the blob the label already has, so nothing moves.
    ci.writes.clear()
    assert not manager(ci).ensure_present('web', LabelRequest(rollback=3)).changed and ci.writes == []


def test_check_mode_predicts_and_never_writes(ci: FakeApi) -> None:
    manager(ci).ensure_present('web', LabelRequest(target='img-a'))
    ci.writes.clear()
    outcome = manager(ci, check_mode=True).ensure_present('web', LabelRequest(target='img-b', max_versions=2))
    assert outcome.changed and ci.writes == []
    assert outcome.after.current is not None and outcome.after.current.version == 2
    assert outcome.after.current.blob_uuid == image_blob(ci, 'img-b')
    assert outcome.after.max_versions == 2 and [v.version for v in outcome.after.history] == [2, 1]
    diff = outcome.before.diff_view(), outcome.after.diff_view()
    assert diff[0]['target'] == 'sf://upload/ci/img-a' and diff[1]['target'] == 'sf://upload/ci/img-b'
    assert diff[0]['max_versions'] == 3 and diff[1]['max_versions'] == 2


def test_check_mode_create_predicts_version_one(ci: FakeApi) -> None:
    outcome = manager(ci, check_mode=True).ensure_present('web', LabelRequest(target='img-a'))
    assert outcome.changed and ci.writes == [] and outcome.after.current is not None
    assert outcome.after.current.version == 1 and not outcome.before.exists


def test_create_false_refuses_a_typo_and_names_near_labels(ci: FakeApi) -> None:
    manager(ci).ensure_present('webserver', LabelRequest(target='img-a'))
    ci.writes.clear()
    with pytest.raises(errors.SfNotFound, match='create is false') as caught:
        manager(ci).ensure_present('webservr', LabelRequest(target='img-b', create=False))
    assert caught.value.detail == {'near': ['sf://label/ci/webserver']} and ci.writes == []


def test_max_versions_is_set_explicitly_on_update(ci: FakeApi) -> None:
    manager(ci).ensure_present('web', LabelRequest(target='img-a'))
    ci.writes.clear()
    outcome = manager(ci).ensure_present('web', LabelRequest(target='img-a', max_versions=7))
    assert outcome.changed and ci.writes == ['max_versions 7'] and outcome.after.max_versions == 7


def test_pointing_web_at_web_means_the_other_web(ci: FakeApi) -> None:
    ci.add('image', 'sf://upload/ci/web', 'ci', [ci.blob()])
    manager(ci).ensure_present('web', LabelRequest(target='img-a'))
    outcome = manager(ci).ensure_present('web', LabelRequest(target='web'))
    assert outcome.after.current is not None and outcome.after.current.blob_uuid == image_blob(ci, 'web')


def test_upstream_not_fetched_cannot_be_a_target(ci: FakeApi) -> None:
    with pytest.raises(errors.SfNotReady, match='not been fetched'):
        manager(ci).ensure_present('web', LabelRequest(target='debian:12'))


def test_tenant_cannot_touch_a_shared_system_label() -> None:
    api = FakeApi('ci')
    base = api.blob()
    api.add('label', 'sf://label/system/base', 'system', [base], shared=True)
    api.add('image', 'sf://upload/ci/img', 'ci', [api.blob()])
    with pytest.raises(errors.SfForbidden, match="owned by namespace 'system'.*only system may change") as caught:
        manager(api).ensure_present('system/base', LabelRequest(target='img'))
    assert 'ci/base' in (caught.value.hint or '')
    with pytest.raises(errors.SfForbidden, match='only system may change'):
        manager(api).ensure_present('base', LabelRequest(target='img'))
    with pytest.raises(errors.SfForbidden):
        manager(api).ensure_absent('system/base')
    assert api.writes == []
    # Explicitly asking for an own label of that name is allowed.
    assert manager(api).ensure_present('ci/base', LabelRequest(target='img')).after.namespace == 'ci'


def test_sharing_rules() -> None:
    api = FakeApi('system')
    api.add('image', 'sf://upload/ci/img', 'ci', [api.blob()])
    outcome = manager(api).ensure_present('base', LabelRequest(target='ci/img', shared=True))
    assert outcome.after.shared and api.writes[-2:] == ['share', f'metadata {RESOLVED_FROM_KEY}']
    with pytest.raises(errors.SfForbidden, match='only labels in namespace system can be shared'):
        manager(api).ensure_present('ci/web', LabelRequest(target='ci/img', shared=True))
    moved = manager(api).ensure_present('ci/web', LabelRequest(target='ci/img'))
    assert moved.after.namespace == 'ci' and moved.after.ref == 'sf://label/ci/web'
    assert manager(api).ensure_present('base', LabelRequest(shared=False)).after.shared is False


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
        manager(ci).ensure_present('web', LabelRequest(target=name))
    ci.writes.clear()
    predicted = manager(ci, check_mode=True).ensure_absent('web', version=1)
    assert predicted.changed and ci.writes == [] and [v.version for v in predicted.after.history] == [2]
    assert manager(ci).ensure_absent('web', version=1).changed and ci.writes == ['delete version 1']
    assert not manager(ci).ensure_absent('web', version=1).changed
    label_uuid = manager(ci).read('ci', 'web').uuid
    outcome = manager(ci).ensure_absent('web')
    assert outcome.changed and ci.writes[-1] == f'delete {label_uuid}' and not outcome.after.exists
    assert not outcome.after.diff_view()['exists']
    assert not manager(ci).ensure_absent('web').changed


def test_listing_marks_origins_and_filters_locally() -> None:
    api = FakeApi('ci', trusted_by=('team',))
    blob = api.blob()
    api.add('label', 'sf://label/ci/web', 'ci', [blob])
    api.add('label', 'sf://label/system/base', 'system', [blob], shared=True)
    api.add('label', 'sf://label/system/hidden', 'system', [blob])
    api.add('label', 'sf://label/team/web-2', 'team', [blob])
    api.add('image', 'sf://upload/ci/web-img', 'ci', [blob])
    found = manager(api).listing()
    assert [(s.ref, s.origin, s.shared) for s in found] == [
        ('sf://label/ci/web', 'namespace', False), ('sf://label/system/base', 'system', True),
        ('sf://label/team/web-2', 'trusted', False)]
    assert [s.name for s in manager(api).listing(pattern='web*')] == ['web', 'web-2']
    assert [s.name for s in manager(api).listing(owner='system')] == ['base']
    assert found[0].current is not None and found[0].current.sha512 is None
    assert manager(api).listing(with_versions=True)[0].history[0].sha512 == blob.sha512
