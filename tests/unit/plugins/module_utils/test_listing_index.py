"""Resolution without the listing (issue 21): a label or an upload asked for by owner and name is looked for by name
first, and every other question, or a by-name answer that cannot decide, reads the listing; results and errors are
those of the listing alone."""

from __future__ import annotations

import uuid as uuidlib
from typing import Any

import pytest

from ansible_collections.shakenfist.storage.plugins.module_utils import _errors as errors
from ansible_collections.shakenfist.storage.plugins.module_utils._index import ArtifactIndex, ListingIndex
from ansible_collections.shakenfist.storage.plugins.module_utils._models import Artifact, ArtifactVersion
from ansible_collections.shakenfist.storage.plugins.module_utils._refs import artifact_name
from ansible_collections.shakenfist.storage.plugins.module_utils._resolver import Resolver

ACTIVE = ('initial', 'created', 'error')


class NamedApi:
    """Artifacts with the names the server gave them, read as Shaken Fist 0.7.2 answers: `GET /artifacts/<name>`
    looks in the caller's namespace (system: in every one) and several matches are a 400 (None here). `eager`: the
    index is the listing read at once, as before issue 21, the oracle the lazy index must agree with."""

    def __init__(self, namespace: str, eager: bool = False) -> None:
        self.namespace = namespace
        self.eager = eager
        self.rows: list[tuple[str, Artifact]] = []
        self.calls: list[str] = []
        self._index: ArtifactIndex | None = None

    def add(self, artifact_type: str, source_url: str, namespace: str, server_name: str | None = None,
            shared: bool = False, state: str = 'created') -> Artifact:
        version = str(uuidlib.uuid4())
        artifact = Artifact(uuid=str(uuidlib.uuid4()), state=state, artifact_type=artifact_type,
                            source_url=source_url, namespace=namespace, shared=shared, index=1, blob_uuid=version,
                            blobs={1: {'uuid': version, 'size': 5}})
        self.rows.append((server_name or artifact_name(source_url), artifact))
        return artifact

    def all(self) -> list[Artifact]:
        return [row[1] for row in self.rows]

    def visible(self, artifact: Artifact) -> bool:
        return self.namespace in ('system', artifact.namespace) or artifact.shared

    def listing(self) -> list[Artifact]:
        self.calls.append('GET /artifacts')
        return [a for a in self.all() if a.state in ACTIVE and self.visible(a)]

    def find_named(self, name: str) -> Artifact | None:
        self.calls.append(f'GET /artifacts/{name}')
        found = [a for n, a in self.rows if n == name and a.state in ACTIVE
                 and self.namespace in ('system', a.namespace)]
        return found[0] if len(found) == 1 else None

    def index(self) -> ArtifactIndex:
        if self._index is None:
            self._index = ArtifactIndex(self.listing()) if self.eager else ListingIndex(self.listing, self.find_named)
        return self._index

    def find_artifact(self, ref: str) -> Artifact | None:
        self.calls.append(f'GET /artifacts/{ref}')
        return next((a for a in self.all() if a.uuid == ref), None)

    def artifact_versions(self, uuid: str) -> list[ArtifactVersion]:
        self.calls.append(f'GET /artifacts/{uuid}/versions')
        artifact = next(a for a in self.all() if a.uuid == uuid)
        return [ArtifactVersion(uuid=ref.uuid, state='created', size=ref.size, index=i)
                for i, ref in artifact.blobs.items()]

    def namespace_trusts(self, owner: str) -> bool:
        return False


def twins(namespace: str, build: Any) -> tuple[NamedApi, NamedApi]:
    """The same cluster twice: read lazily (the change) and eagerly (the oracle)."""
    lazy, eager = NamedApi(namespace), NamedApi(namespace, eager=True)
    build(lazy)
    eager.rows = lazy.rows
    return lazy, eager


def outcome(api: NamedApi, ref: str, **kwargs: Any) -> Any:
    try:
        return Resolver(api).resolve(ref, **kwargs).as_dict()
    except errors.SfError as exc:
        return type(exc).__name__, str(exc), exc.detail


def same_as_the_listing(namespace: str, build: Any, ref: str, **kwargs: Any) -> list[str]:
    lazy, eager = twins(namespace, build)
    assert outcome(lazy, ref, **kwargs) == outcome(eager, ref, **kwargs)
    return lazy.calls


def test_own_label_is_found_by_name_without_the_listing() -> None:
    def build(api: NamedApi) -> None:
        api.add('label', 'sf://label/ci/web', 'ci')
        api.add('label', 'sf://label/system/web', 'system', shared=True)
        api.add('image', 'sf://upload/ci/web-old', 'ci')
    for ref in ('label:web', 'sf://label/ci/web'):
        calls = same_as_the_listing('ci', build, ref)
        assert calls[0] == 'GET /artifacts/web' and 'GET /artifacts' not in calls and len(calls) == 2


def test_a_label_named_with_its_namespace_is_not_found_by_name_so_the_listing_is_read() -> None:
    # A label made as POST /label/ci/web has the server name `ci/web`: GET /artifacts/web answers 404.
    def build(api: NamedApi) -> None:
        api.add('label', 'sf://label/ci/web', 'ci', server_name='ci/web')
    calls = same_as_the_listing('ci', build, 'label:web')
    assert calls[:2] == ['GET /artifacts/web', 'GET /artifacts']


def test_another_artifact_of_that_name_cannot_decide() -> None:
    # The by-name read finds an upload called web; the label (named ci/web) is only in the listing.
    def build(api: NamedApi) -> None:
        api.add('image', 'sf://upload/ci/web', 'ci')
        api.add('label', 'sf://label/ci/web', 'ci', server_name='ci/web')
    calls = same_as_the_listing('ci', build, 'label:web')
    assert 'GET /artifacts' in calls


def test_several_of_that_name_are_found_ambiguous_by_the_listing() -> None:
    # Two labels with one URL (which the server does not make) answer 400 by name: the listing finds both.
    def build(api: NamedApi) -> None:
        api.add('label', 'sf://label/ci/web', 'ci')
        api.add('label', 'sf://label/ci/web', 'ci')
    lazy = twins('ci', build)[0]
    with pytest.raises(errors.SfAmbiguousReference):
        Resolver(lazy).resolve('label:web')
    assert same_as_the_listing('ci', build, 'label:web')[:2] == ['GET /artifacts/web', 'GET /artifacts']


def test_another_namespaces_label_as_a_tenant_reads_the_listing() -> None:
    # 0.7.2 looks names up in the caller's namespace only: system's label is not found by name.
    def build(api: NamedApi) -> None:
        api.add('label', 'sf://label/system/web', 'system', shared=True)
    calls = same_as_the_listing('ci', build, 'sf://label/system/web')
    assert calls[:2] == ['GET /artifacts/web', 'GET /artifacts']


def test_system_finds_any_namespaces_label_by_name() -> None:
    def build(api: NamedApi) -> None:
        api.add('label', 'sf://label/ci/web', 'ci')
        api.add('image', 'sf://upload/qa/db', 'qa')
    calls = same_as_the_listing('system', build, 'sf://label/ci/web')
    assert 'GET /artifacts' not in calls


def test_a_missing_label_is_the_same_not_found_with_near_names() -> None:
    def build(api: NamedApi) -> None:
        api.add('label', 'sf://label/ci/webs', 'ci')
    assert 'GET /artifacts' in same_as_the_listing('ci', build, 'label:web')


def test_a_deleted_label_found_by_uuid_like_name_is_not_used() -> None:
    # A UUID is a lookup by UUID on the server (any state): never asked by name.
    name = str(uuidlib.uuid4())

    def build(api: NamedApi) -> None:
        api.add('label', f'sf://label/ci/{name}', 'ci')
    calls = same_as_the_listing('ci', build, f'sf://label/ci/{name}')
    assert calls[0] == 'GET /artifacts'


@pytest.mark.parametrize('ref', ['web', 'centos:7', 'https://example.com/x.qcow2', 'ci/web', 'debian:12'])
def test_other_forms_read_the_listing_and_never_ask_by_name(ref: str) -> None:
    def build(api: NamedApi) -> None:
        api.add('label', 'sf://label/ci/web', 'ci')
        api.add('label', 'sf://label/system/web', 'system', shared=True)
        api.add('image', 'sf://upload/ci/web', 'ci')
        api.add('image', 'debian:12', 'system', shared=True)
    calls = same_as_the_listing('ci', build, ref, prefer=['namespace'])
    assert calls[0] == 'GET /artifacts' and not any(c == f'GET /artifacts/{ref}' for c in calls)


def test_a_listing_already_read_answers_labels_too() -> None:
    api = NamedApi('ci')
    api.add('label', 'sf://label/ci/web', 'ci')
    api.add('image', 'sf://upload/ci/db', 'ci')
    resolver = Resolver(api)
    resolver.resolve('db')
    resolver.resolve('label:web')
    assert [c for c in api.calls if not c.endswith('/versions')] == ['GET /artifacts']


def test_the_lazy_index_reads_the_listing_for_everything_else() -> None:
    api = NamedApi('ci')
    label = api.add('label', 'sf://label/ci/web', 'ci')
    index = ListingIndex(api.listing, api.find_named)
    assert index.labels('ci', 'web') == [label] and not index.loaded
    assert index.get(label.uuid) == label and index.loaded
    assert api.calls == ['GET /artifacts/web', 'GET /artifacts']


def test_own_upload_is_found_by_name_without_the_listing() -> None:
    def build(api: NamedApi) -> None:
        api.add('image', 'sf://upload/ci/web', 'ci')
        api.add('image', 'sf://upload/qa/web', 'qa')
        api.add('label', 'sf://label/ci/db', 'ci')
    calls = same_as_the_listing('ci', build, 'sf://upload/ci/web')
    assert calls[0] == 'GET /artifacts/web' and 'GET /artifacts' not in calls


def test_an_upload_system_made_in_a_namespace_is_found_by_name_there() -> None:
    # Without a source_url, 0.7.2 names the URL after the caller: system's upload into ci is sf://upload/system/web.
    def build(api: NamedApi) -> None:
        api.add('image', 'sf://upload/system/web', 'ci')
    for namespace in ('ci', 'system'):
        assert 'GET /artifacts' not in same_as_the_listing(namespace, build, 'sf://upload/ci/web')


def test_two_uploads_of_one_name_in_a_namespace_are_ambiguous_as_the_listing_says() -> None:
    def build(api: NamedApi) -> None:
        api.add('image', 'sf://upload/ci/web', 'ci')
        api.add('image', 'sf://upload/system/web', 'ci')
    lazy = twins('ci', build)[0]
    with pytest.raises(errors.SfAmbiguousReference):
        Resolver(lazy).resolve('sf://upload/ci/web')
    assert same_as_the_listing('ci', build, 'sf://upload/ci/web')[:2] == ['GET /artifacts/web', 'GET /artifacts']


@pytest.mark.parametrize('other', [
    ('label', 'sf://label/ci/web', 'ci'),  # the one artifact called web is a label
    ('image', 'https://example.com/web', 'ci'),  # a fetched image
    ('image', 'sf://upload/qa/web', 'qa'),  # another owner's (system sees every namespace)
    ('image', 'sf://upload/ci/web', 'ci', 'deleted'),
], ids=['label', 'fetched', 'other-owner', 'deleted'])
def test_a_by_name_answer_that_is_not_an_upload_of_the_owner_reads_the_listing(other: tuple[str, ...]) -> None:
    def build(api: NamedApi) -> None:
        api.add(other[0], other[1], other[2], server_name='web', state=other[3] if len(other) > 3 else 'created')
    for namespace in ('ci', 'system'):
        assert 'GET /artifacts' in same_as_the_listing(namespace, build, 'sf://upload/ci/web')


def test_publishings_state_read_asks_by_name_and_finds_nothing_by_the_listing() -> None:
    api = NamedApi('ci')
    api.add('image', 'sf://upload/ci/web', 'ci')
    index = ListingIndex(api.listing, api.find_named)
    assert [a.name for a in index.uploads('ci', 'web')] == ['web'] and not index.loaded
    assert index.uploads('ci', 'db') == [] and index.loaded
    assert api.calls == ['GET /artifacts/web', 'GET /artifacts/db', 'GET /artifacts']


URL = 'https://images.example.com/debian/debian-12.qcow2'


@pytest.mark.parametrize('extra', [
    [],
    [('image', 'https://mirror.example.com/debian-12.qcow2', 'ci', None)],  # the same last segment: a 400 by name
    [('image', URL, 'qa', None)],  # another owner's copy
    [('label', 'sf://label/ci/debian-12.qcow2', 'ci', None)],
], ids=['alone', 'same-last-segment', 'other-owner', 'label-of-that-name'])
def test_the_image_an_owner_fetched_is_what_the_listing_says(extra: list[tuple[Any, ...]]) -> None:
    for namespace in ('ci', 'system'):
        api = NamedApi(namespace)
        mine = api.add('image', URL, 'ci')
        for artifact_type, url, owner, server_name in extra:
            api.add(artifact_type, url, owner, server_name=server_name)
        lazy = ListingIndex(api.listing, api.find_named)
        assert lazy.fetched('ci', URL) == ArtifactIndex(api.listing()).fetched('ci', URL) == [mine]
        assert api.calls[0] == 'GET /artifacts/debian-12.qcow2'


def test_a_fetched_image_found_by_name_needs_no_listing() -> None:
    api = NamedApi('ci')
    mine = api.add('image', URL, 'ci')
    api.add('image', 'sf://upload/ci/web', 'ci')
    index = ListingIndex(api.listing, api.find_named)
    assert index.fetched('ci', URL) == [mine] and not index.loaded and api.calls == ['GET /artifacts/debian-12.qcow2']


@pytest.mark.parametrize('url,server_name', [
    (URL, 'mine'),  # uploaded with that source_url under another name: only the listing shows it
    ('https://images.example.com/debian/', None),  # the server would name it '' : never asked by name
])
def test_a_fetched_image_the_server_names_otherwise_is_found_by_the_listing(url: str, server_name: Any) -> None:
    api = NamedApi('ci')
    mine = api.add('image', url, 'ci', server_name=server_name)
    index = ListingIndex(api.listing, api.find_named)
    assert index.fetched('ci', url) == [mine] and index.loaded
