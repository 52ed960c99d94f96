"""The one name-resolution rule, every form and every ambiguity case, over an in-memory API."""

from __future__ import annotations

import uuid as uuidlib
from typing import Any

import pytest

from ansible_collections.shakenfist.storage.plugins.module_utils import _errors as errors
from ansible_collections.shakenfist.storage.plugins.module_utils._index import ArtifactIndex
from ansible_collections.shakenfist.storage.plugins.module_utils._models import Artifact, ArtifactVersion, Blob
from ansible_collections.shakenfist.storage.plugins.module_utils._resolver import Resolver


def sha(n: int) -> str:
    return f'{n:0128x}'


class FakeApi:
    def __init__(self, namespace: str) -> None:
        self.namespace = namespace
        self.artifacts: list[Artifact] = []
        self.versions: dict[str, list[ArtifactVersion]] = {}
        self.calls: list[str] = []

    def add(self, artifact_type: str, source_url: str, namespace: str, versions: int = 1, shared: bool = False,
            state: str = 'created') -> Artifact:
        uuid = str(uuidlib.uuid4())
        rows = [ArtifactVersion(uuid=str(uuidlib.uuid4()), state='created', size=100 * i, sha512=sha(i + len(
            self.artifacts) * 10), index=i) for i in range(1, versions + 1)]
        artifact = Artifact(uuid=uuid, state=state, artifact_type=artifact_type, source_url=source_url,
                            namespace=namespace, shared=shared, index=versions,
                            blob_uuid=rows[-1].uuid if rows else None,
                            blobs={r.index: {'uuid': r.uuid, 'size': r.size} for r in rows})
        self.artifacts.append(artifact)
        self.versions[uuid] = rows
        return artifact

    def list_artifacts(self) -> list[Artifact]:
        self.calls.append('list')
        return self.artifacts

    def index(self) -> ArtifactIndex:
        return ArtifactIndex(self.list_artifacts())

    def find_artifact(self, ref: str) -> Artifact | None:
        self.calls.append(f'get {ref}')
        return next((a for a in self.artifacts if a.uuid == ref), None)

    def artifact_versions(self, uuid: str) -> list[ArtifactVersion]:
        self.calls.append(f'versions {uuid}')
        return self.versions[uuid]

    def get_blob(self, uuid: str) -> Blob:
        return Blob(uuid=uuid, state='created', size=5, sha512=sha(99))


def resolver(api: Any) -> Resolver:
    return Resolver(api)


@pytest.fixture
def tenant() -> FakeApi:
    return FakeApi('ci')


def test_issue_3271_system_label_and_upstream_shorthand_are_ambiguous(tenant: FakeApi) -> None:
    label = tenant.add('label', 'sf://label/system/centos:7', 'system', shared=True)
    with pytest.raises(errors.SfAmbiguousReference) as caught:
        resolver(tenant).resolve('centos:7')
    refs = [c['ref'] for c in caught.value.candidates]
    assert refs == ['sf://label/system/centos:7', 'https://images.shakenfist.com/centos:7/latest.qcow2']
    assert 'prefer' in (caught.value.hint or '')

    chosen = resolver(tenant).resolve('centos:7', prefer=['system', 'upstream'])
    assert chosen.uuid == label.uuid and chosen.origin == 'system'
    assert chosen.disk_base == f'sf://blob/{label.blob_uuid}'
    assert chosen.shadowed == ['https://images.shakenfist.com/centos:7/latest.qcow2']
    assert 'prefer chose sf://label/system/centos:7 over' in chosen.warnings[0]

    upstream = resolver(tenant).resolve('centos:7', prefer=['upstream'])
    assert upstream.kind == 'upstream' and upstream.disk_base.endswith('/centos:7/latest.qcow2')
    assert upstream.shadowed == ['sf://label/system/centos:7']


def test_bare_upstream_name_alone_resolves_to_upstream(tenant: FakeApi) -> None:
    found = resolver(tenant).resolve('debian:12')
    assert found.origin == 'upstream' and found.state == 'not fetched'
    assert found.disk_base == 'https://images.shakenfist.com/debian:12/latest.qcow2'


def test_bare_upstream_name_uses_an_already_fetched_copy(tenant: FakeApi) -> None:
    cached = tenant.add('image', 'debian:12', 'ci')
    found = resolver(tenant).resolve('debian:12')
    assert found.uuid == cached.uuid and found.version == 1 and found.disk_base == f'sf://blob/{cached.blob_uuid}'


def test_a_copy_of_an_upstream_image_another_namespace_made_is_not_the_upstream_image(tenant: FakeApi) -> None:
    # 'evil' trusts 'ci', so ci sees evil's artifact; evil uploaded its own bytes with source_url debian:12.
    planted = tenant.add('image', 'debian:12', 'evil')
    found = resolver(tenant).resolve('debian:12')
    assert found.uuid is None and found.kind == 'upstream' and found.origin == 'upstream'
    assert found.disk_base == 'https://images.shakenfist.com/debian:12/latest.qcow2'
    assert any('evil also cached debian:12' in warning for warning in found.warnings)
    # Asked for on purpose, the copy is used, with its true origin and owner.
    chosen = resolver(tenant).resolve('debian:12', prefer=['trusted'])
    assert chosen.uuid == planted.uuid and chosen.origin == 'trusted' and chosen.namespace == 'evil'
    # The same rule for the explicit URL form.
    url = resolver(tenant).resolve('https://images.shakenfist.com/debian:12/latest.qcow2')
    assert url.uuid is None


def test_copies_of_an_upstream_image_by_system_or_the_caller_count_as_upstream(tenant: FakeApi) -> None:
    tenant.add('image', 'debian:12', 'evil')
    by_system = tenant.add('image', 'debian:12', 'system', shared=True)
    found = resolver(tenant).resolve('debian:12')
    assert found.uuid == by_system.uuid and found.origin == 'upstream' and found.namespace == 'system'
    own = tenant.add('image', 'debian:12', 'ci')
    assert resolver(tenant).resolve('debian:12').uuid == own.uuid


def test_bare_name_single_system_label(tenant: FakeApi) -> None:
    label = tenant.add('label', 'sf://label/system/web', 'system', versions=2, shared=True)
    found = resolver(tenant).resolve('web')
    assert (found.ref, found.origin, found.version, found.type) == ('sf://label/system/web', 'system', 2, 'label')
    assert found.blob_uuid == label.blob_uuid and found.sha512 == tenant.versions[label.uuid][-1].sha512


def test_own_label_and_system_label_are_ambiguous_unless_preferred(tenant: FakeApi) -> None:
    own = tenant.add('label', 'sf://label/ci/web', 'ci')
    tenant.add('label', 'sf://label/system/web', 'system', shared=True)
    with pytest.raises(errors.SfAmbiguousReference):
        resolver(tenant).resolve('web')
    assert resolver(tenant).resolve('web', prefer=['namespace']).uuid == own.uuid


def test_label_and_upload_of_the_same_name_are_ambiguous(tenant: FakeApi) -> None:
    tenant.add('label', 'sf://label/ci/tools', 'ci')
    tenant.add('image', 'sf://upload/ci/tools', 'ci')
    with pytest.raises(errors.SfAmbiguousReference) as caught:
        resolver(tenant).resolve('tools')
    assert sorted(c['ref'] for c in caught.value.candidates) == ['sf://label/ci/tools', 'sf://upload/ci/tools']
    with pytest.raises(errors.SfAmbiguousReference):
        resolver(tenant).resolve('tools', prefer=['namespace'])


def test_uploaded_image_by_bare_name_in_any_visible_namespace(tenant: FakeApi) -> None:
    image = tenant.add('image', 'sf://upload/builders/tools', 'builders')
    found = resolver(tenant).resolve('tools')
    assert found.uuid == image.uuid and found.origin == 'trusted' and found.ref == 'sf://upload/builders/tools'


def test_not_found_lists_near_names(tenant: FakeApi) -> None:
    tenant.add('label', 'sf://label/ci/webserver', 'ci')
    with pytest.raises(errors.SfNotFound) as caught:
        resolver(tenant).resolve('webservr')
    assert 'sf://label/ci/webserver' in str(caught.value)


def test_label_prefix_means_the_callers_namespace(tenant: FakeApi) -> None:
    tenant.add('label', 'sf://label/system/web', 'system', shared=True)
    own = tenant.add('label', 'sf://label/ci/web', 'ci')
    assert resolver(tenant).resolve('label:web').uuid == own.uuid
    with pytest.raises(errors.SfNotFound):
        resolver(tenant).resolve('label:nothing')


def test_explicit_forms(tenant: FakeApi) -> None:
    label = tenant.add('label', 'sf://label/system/web', 'system', shared=True)
    image = tenant.add('image', 'sf://upload/ci/tools', 'ci')
    snap = tenant.add('snapshot', 'sf://instance/6a1f4b8e-2d7c-4e3f-9a0b-1c2d3e4f5a6b/vda', 'ci')
    fetched = tenant.add('image', 'https://example.com/x/disk.qcow2', 'ci')
    r = resolver(tenant)
    assert r.resolve('sf://label/system/web').uuid == label.uuid
    assert r.resolve('sf://upload/ci/tools').uuid == image.uuid
    assert r.resolve('ci/tools').uuid == image.uuid
    assert r.resolve(image.uuid).ref == 'sf://upload/ci/tools'
    assert r.resolve(f'sf://artifact/{image.uuid}').uuid == image.uuid
    assert r.resolve(f'sf://snapshot/{snap.uuid}').ref == f'sf://snapshot/{snap.uuid}'
    assert r.resolve('6a1f4b8e-2d7c-4e3f-9a0b-1c2d3e4f5a6b/vda').uuid == snap.uuid
    assert r.resolve('https://example.com/x/disk.qcow2').uuid == fetched.uuid
    assert r.resolve('https://example.com/other.qcow2').kind == 'upstream'
    blob = r.resolve('sf://blob/0a56ef2c-8331-4ed7-a443-267f53bfb24c')
    assert blob.disk_base == 'sf://blob/0a56ef2c-8331-4ed7-a443-267f53bfb24c' and blob.uuid is None
    with pytest.raises(errors.SfInvalidInput):
        r.resolve(f'sf://snapshot/{image.uuid}')


@pytest.mark.parametrize('bad', ['sf://label/onlyone', 'sf://nope/x', 'sf://artifact/not-a-uuid', 'ftp://x/y',
                                 'a/b/c', 'label:', '', 'sf://label/a/b/c'])
def test_malformed_references_are_invalid_input(tenant: FakeApi, bad: str) -> None:
    with pytest.raises(errors.SfInvalidInput):
        resolver(tenant).resolve(bad)


def test_versions_are_pinned(tenant: FakeApi) -> None:
    label = tenant.add('label', 'sf://label/ci/web', 'ci', versions=3)
    rows = tenant.versions[label.uuid]
    r = resolver(tenant)
    assert r.resolve('label:web').version == 3
    assert r.resolve('label:web', version=2).blob_uuid == rows[1].uuid
    assert r.resolve('label:web', version='latest').version == 3
    assert r.resolve('label:web', sha512=rows[0].sha512).version == 1
    with pytest.raises(errors.SfNotFound) as caught:
        r.resolve('label:web', version=7)
    assert '3, 2, 1' in str(caught.value)
    with pytest.raises(errors.SfNotFound):
        r.resolve('label:web', sha512=sha(12345))
    with pytest.raises(errors.SfNotFound):
        r.resolve('label:web', version=1, sha512=rows[2].sha512)
    with pytest.raises(errors.SfInvalidInput):
        r.resolve('label:web', version=0)
    with pytest.raises(errors.SfInvalidInput):
        r.resolve('label:web', sha512='abc')


def test_error_state_artifact_reports_the_server_reason(tenant: FakeApi) -> None:
    tenant.artifacts.append(Artifact(uuid=str(uuidlib.uuid4()), state='error', artifact_type='image',
                                     source_url='sf://upload/ci/broken', namespace='ci',
                                     error_message='fetch failed: 404'))
    with pytest.raises(errors.SfNotReady) as caught:
        resolver(tenant).resolve('broken')
    assert 'fetch failed: 404' in str(caught.value)


def test_one_listing_per_run_and_cached_results(tenant: FakeApi) -> None:
    tenant.add('label', 'sf://label/ci/web', 'ci')
    tenant.add('label', 'sf://label/ci/db', 'ci')
    r = resolver(tenant)
    r.resolve('label:web')
    r.resolve('label:web')
    r.resolve('label:db')
    assert tenant.calls.count('list') == 2
    assert len([c for c in tenant.calls if c.startswith('versions')]) == 2


def test_system_caller_sees_its_own_labels_once(tenant: FakeApi) -> None:
    admin = FakeApi('system')
    admin.add('label', 'sf://label/system/web', 'system', shared=True)
    found = resolver(admin).resolve('web')
    assert found.origin == 'namespace'


def test_prefer_rejects_unknown_origins(tenant: FakeApi) -> None:
    with pytest.raises(errors.SfInvalidInput):
        resolver(tenant).resolve('web', prefer=['local'])


@pytest.mark.parametrize('caller', ['ci', 'system'])
def test_prefer_system_picks_the_label_over_systems_own_cached_copy_of_the_upstream_image(caller: str) -> None:
    # The README's #3271 case on a cluster where system has also fetched centos:7: the cached copy is the upstream
    # image (origin upstream only), so prefer [system, upstream] still means the system label, whoever asks.
    api = FakeApi(caller)
    label = api.add('label', 'sf://label/system/centos:7', 'system', shared=True)
    cached = api.add('image', 'centos:7', 'system', shared=True)
    chosen = resolver(api).resolve('centos:7', prefer=['system', 'upstream'])
    assert chosen.uuid == label.uuid and chosen.shadowed == [cached.ref]
    assert resolver(api).resolve('centos:7', prefer=['upstream']).uuid == cached.uuid
