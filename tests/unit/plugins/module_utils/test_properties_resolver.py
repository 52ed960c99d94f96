"""Property tests of the name-resolution rule (docs/name-resolution.md): parse_ref and Resolver.resolve with generated
references, versions, sha512s and `prefer` lists against generated listings.

The listings mix every artifact type, owners (the caller, system, a namespace that trusts the caller, one that does
not), shared flags, states, upstream shorthands and their cached copies, names that collide on purpose, and uploads
whose source URL names another namespace than their owner. Properties:
- resolve returns a Resolution or raises an SfError subclass, never anything else, and never writes;
- resolving again gives the same answer (the cache), and so does a fresh resolver (the rule is deterministic);
- a Resolution is an artifact the caller can see, not deleted, at the version or sha512 asked for;
- without `prefer` two candidates are an error; `prefer` only decides by the documented rule, and never changes
  the answer for a reference that was not ambiguous;
- an explicit form resolves only to what it names, and the Resolution's own `ref` leads back to the same artifact.
"""

from __future__ import annotations

import uuid as uuidlib
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple, Union
from unittest import mock

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from ansible_collections.shakenfist.storage.plugins.module_utils._errors import (
    SfAmbiguousReference,
    SfCheckModeWrite,
    SfError,
    SfInvalidInput,
    SfNotFound,
    SfNotReady,
)
from ansible_collections.shakenfist.storage.plugins.module_utils._refs import (
    KINDS,
    ParsedRef,
    label_url,
    parse_ref,
    upload_url,
    validate_sha512,
)
from ansible_collections.shakenfist.storage.plugins.module_utils._resolver import (
    ORIGINS,
    Resolution,
    Resolver,
    parse_version,
)
from ansible_collections.shakenfist.storage.tests.unit.plugins.hypothesis_support import (
    SPECIAL_TEXT,
    SURROGATES,
    counting_uuids,
    edge_numbers,
    json_values,
    sha,
    texts,
)
from ansible_collections.shakenfist.storage.tests.unit.plugins.module_utils.fake_cluster import ArtifactRow, FakeCluster

NAMESPACES = ('ci', 'system', 'friend', 'stranger')  # friend may trust the caller, stranger never does
NAMES = ('web', 'centos:7', 'debian:12', 'cirros:0.6.2', 'db')  # few, so that they collide
CONTENTS = (b'a', b'b', b'c')
URLS = ('https://images.example.com/web.qcow2', 'https://images.shakenfist.com/debian:12/latest.qcow2',
        'https://download.cirros-cloud.net/0.6.2/cirros-0.6.2-x86_64-disk.img')
INSTANCES = (str(uuidlib.UUID(int=1 << 100, version=4)), str(uuidlib.UUID(int=2 << 100, version=4)))
Outcome = Union[Resolution, SfError]


class OldServer(FakeCluster):
    """0.7.2 answers reads by UUID even for another namespace's unshared artifact: the resolver must hide it."""

    def _row(self, uuid: str) -> ArtifactRow:
        if uuid not in self.artifacts:
            raise SfNotFound(f'GET /artifacts/{uuid} failed: artifact not found', status=404)
        return self.artifacts[uuid]


@dataclass
class Listing:
    cluster: FakeCluster
    caller: str
    uuids: List[str]
    blobs: List[str]


@st.composite
def listings(draw: st.DrawFn) -> Listing:
    caller = draw(st.sampled_from(('ci', 'ci', 'system', 'friend')))
    server = draw(st.sampled_from((FakeCluster, OldServer)))
    cluster = server(caller, trusted_by=draw(st.sampled_from(((), ('friend',)))))
    with mock.patch.object(uuidlib, 'uuid4', counting_uuids(1)):
        for _position in range(draw(st.integers(2, 10))):
            kind = draw(st.sampled_from(('upload', 'upload', 'label', 'label', 'fetched', 'upstream', 'snapshot')))
            owner = draw(st.sampled_from(NAMESPACES))
            name = draw(st.sampled_from(NAMES))
            artifact_type = {'label': 'label', 'snapshot': 'snapshot'}.get(kind, 'image')
            if kind == 'upload':
                artifact_type = draw(st.sampled_from(('image', 'image', 'other')))
                # Some clients name the upload after the namespace they authenticate as, not the owner.
                url = upload_url(draw(st.sampled_from((owner, owner, *NAMESPACES))), name)
            elif kind == 'label':
                url = label_url(owner, name)
            elif kind == 'fetched':
                url = draw(st.sampled_from(URLS))
            elif kind == 'upstream':
                url = name  # the server records a fetched shorthand under the shorthand itself
            else:
                url = f'sf://instance/{draw(st.sampled_from(INSTANCES))}/{draw(st.sampled_from(("vda", "vdb")))}'
            state = draw(st.sampled_from(('created', 'created', 'created', 'initial', 'error', 'deleted')))
            contents = draw(st.lists(st.sampled_from(CONTENTS), max_size=3)) if state != 'initial' else []
            cluster.seed(url, contents, namespace=owner, artifact_type=artifact_type, state=state,
                         shared=draw(st.booleans()), error_message='fetch failed' if state == 'error' else None)
    blobs = sorted(cluster.blobs)
    for blob in blobs:
        if draw(st.integers(0, 9)) == 0:
            cluster.blobs[blob].state = 'deleted'
    cluster.read_only = True  # resolving never writes: the fake refuses any write
    return Listing(cluster, caller, sorted(cluster.artifacts), blobs)


def references(listing: Listing) -> st.SearchStrategy[str]:
    """Mostly forms that can name something in the listing (bare names most of all), then anything at all."""
    uuids = st.sampled_from(listing.uuids or [str(uuidlib.UUID(int=3))])
    blobs = st.sampled_from(listing.blobs or [str(uuidlib.UUID(int=4))])
    names, namespaces = st.sampled_from(NAMES), st.sampled_from(NAMESPACES)
    instances = st.sampled_from(INSTANCES)
    forms = st.one_of(
        names, names, names, st.builds('{}/{}'.format, namespaces, names), st.builds(label_url, namespaces, names),
        st.builds(upload_url, namespaces, names), names.map('label:{}'.format), uuids, uuids.map(str.upper),
        uuids.map('sf://artifact/{}'.format), uuids.map('sf://snapshot/{}'.format), blobs.map('sf://blob/{}'.format),
        st.sampled_from(URLS), instances.map('{}/vda'.format), instances.map('sf://instance/{}/vda'.format))
    padded = st.builds('{}{}{}'.format, st.sampled_from((' ', '\t')), forms, st.sampled_from((' ', '\n', '')))
    return st.one_of(forms, forms, forms, padded, texts, st.sampled_from(SPECIAL_TEXT + SURROGATES))


versions = st.one_of(st.none(), st.none(), st.none(), st.sampled_from(('latest', 'LATEST', '', 1, 2, 3, 4, '2', ' 3 ')),
                     edge_numbers, texts, st.floats())
sha512s = st.one_of(st.none(), st.none(), st.none(), st.sampled_from([sha(data) for data in CONTENTS]),
                    st.sampled_from([f'sha512:{sha(b"a")}', sha(b'b').upper(), '', 'g' * 128]), texts)
origin_lists = st.permutations(ORIGINS).flatmap(lambda p: st.integers(1, 4).map(lambda n: list(p[:n])))
prefers = st.one_of(st.none(), st.none(), st.just([]), origin_lists, origin_lists,
                    st.lists(st.sampled_from(ORIGINS + ('explicit', 'NAMESPACE', '')), max_size=3))


def attempt(resolver: Resolver, text: Any, version: Any, sha512: Any, prefer: Any) -> Outcome:
    """resolve's answer or its typed error; anything else escapes and fails the property."""
    try:
        return resolver.resolve(text, version, sha512, prefer)
    except SfCheckModeWrite:
        raise AssertionError('resolving tried to write') from None
    except SfError as exc:
        return exc


def same(first: Outcome, second: Outcome) -> bool:
    if isinstance(first, SfError) or isinstance(second, SfError):
        return type(first) is type(second) and str(first) == str(second)
    return first.as_dict() == second.as_dict()


def origins_of(candidate: Dict[str, Any], caller: str) -> Tuple[str, ...]:
    """The documented origins of a listed candidate: system's own artifacts count as both for system itself."""
    origin = candidate['origin']
    return (origin, 'system') if origin == 'namespace' and caller == 'system' else (origin,)


def check_explicit_form(text: str, result: Resolution, listing: Listing) -> None:
    """An explicit form resolves only to what it names."""
    parsed = parse_ref(text, listing.caller)
    if parsed.kind == 'label':
        assert (result.type, result.namespace, result.name) == ('label', parsed.namespace, parsed.name)
        assert result.ref == label_url(parsed.namespace or '', parsed.name or '')
    elif parsed.kind == 'upload':
        assert result.type in ('image', 'other') and (result.namespace, result.name) == (parsed.namespace,
                                                                                         parsed.name)
        assert result.ref == upload_url(parsed.namespace or '', parsed.name or '')
    elif parsed.kind in ('artifact', 'snapshot'):
        assert result.uuid == parsed.uuid
        assert parsed.kind == 'artifact' or result.type == 'snapshot'
    elif parsed.kind == 'blob':
        assert result.kind == 'blob' and result.blob_uuid == parsed.uuid and result.uuid is None
    elif parsed.kind == 'namespaced':
        assert (result.namespace, result.name) == (parsed.namespace, parsed.name)
    elif parsed.kind == 'instance_disk':
        assert result.type == 'snapshot' and result.name == parsed.name
    elif parsed.kind == 'url':
        assert result.source_url == parsed.url
    elif result.kind != 'upstream':
        assert result.name == parsed.name


def check_resolution(result: Resolution, listing: Listing, version: Any, sha512: Any) -> None:
    cluster = listing.cluster
    if result.kind == 'blob':
        assert result.disk_base == f'sf://blob/{result.blob_uuid}'
        return
    if result.uuid is None:  # an upstream image nobody fetched yet: only its URL
        assert result.kind == 'upstream' and result.disk_base == result.source_url and result.version is None
        return
    row = cluster.artifacts[result.uuid]
    assert row.state != 'deleted'
    assert cluster._visible(row), f'{result.ref} is not visible to {listing.caller!r}'
    assert result.blob_uuid == row.versions[result.version or 0]
    assert result.disk_base == f'sf://blob/{result.blob_uuid}'
    wanted = parse_version(version)
    if wanted is not None:
        assert result.version == wanted
    if sha512:
        assert result.sha512 == validate_sha512(sha512)
    if wanted is None and not sha512:
        assert result.version == max(row.versions)


@given(data=st.data())
def test_resolve_answers_consistently_with_a_resolution_or_a_typed_error(data: st.DataObject) -> None:
    listing = data.draw(listings(), label='listing')
    text = data.draw(references(listing), label='reference')
    version = data.draw(versions, label='version')
    sha512 = data.draw(sha512s, label='sha512')
    prefer = data.draw(prefers, label='prefer')
    cluster = listing.cluster
    resolver = Resolver(cluster)

    outcome = attempt(resolver, text, version, sha512, prefer)
    assert cluster.writes == []
    assert same(outcome, attempt(resolver, text, version, sha512, prefer)), 'the cached answer differs'
    fresh = Resolver(cluster)
    assert same(outcome, attempt(fresh, text, version, sha512, prefer)), 'a fresh resolver answers differently'
    if isinstance(outcome, SfError):
        return
    if not prefer:
        # Without prefer nothing is shadowed; the only note is the trust rule's word on a copy it did not use.
        assert outcome.shadowed == []
        assert all('is not used as the upstream image' in w for w in outcome.warnings), outcome.warnings
    check_resolution(outcome, listing, version, sha512)
    check_explicit_form(text, outcome, listing)
    if outcome.uuid is not None and outcome.kind != 'upstream':
        # The canonical form leads back to the same artifact, or is itself ambiguous and lists it.
        back = attempt(Resolver(cluster), outcome.ref, outcome.version, None, None)
        if isinstance(back, SfAmbiguousReference):
            assert outcome.uuid in [c['uuid'] for c in back.candidates]
        else:
            assert isinstance(back, Resolution) and back.uuid == outcome.uuid, back
            assert back.blob_uuid == outcome.blob_uuid


@given(data=st.data())
def test_prefer_decides_only_by_the_documented_rule(data: st.DataObject) -> None:
    listing = data.draw(listings(), label='listing')
    text = data.draw(references(listing), label='reference')
    prefer = data.draw(origin_lists, label='prefer')
    without = attempt(Resolver(listing.cluster), text, None, None, None)
    chosen = attempt(Resolver(listing.cluster), text, None, None, prefer)
    widened = widened_candidates(listing, text, prefer)
    if widened is None:
        if not isinstance(without, SfAmbiguousReference):
            assert same(without, chosen), 'prefer changed the answer for a reference that was not ambiguous'
            return
        candidates = without.candidates
    else:
        # Documented: `trusted` in prefer adds other namespaces' copies of an upstream image as candidates; the
        # same rule then chooses among the wider set.
        candidates = widened
        if len(candidates) == 1:
            assert isinstance(chosen, SfError) or chosen.ref == candidates[0]['ref'], chosen
            assert not isinstance(chosen, SfAmbiguousReference)
            return
    assert len(candidates) >= 2
    decisive = next((origin for origin in prefer if any(origin in origins_of(c, listing.caller)
                                                        for c in candidates)), None)
    matching = [c for c in candidates if decisive in origins_of(c, listing.caller)]
    if len(matching) != 1:
        assert isinstance(chosen, SfAmbiguousReference), f'prefer {prefer} chose among {candidates}'
        assert chosen.candidates == candidates
        return
    winner = matching[0]
    if isinstance(chosen, SfError):  # the winner exists but cannot be pinned (no version yet, error state)
        assert not isinstance(chosen, SfAmbiguousReference)
        return
    assert (chosen.ref, chosen.uuid, chosen.origin) == (winner['ref'], winner['uuid'], winner['origin'])
    assert sorted(chosen.shadowed) == sorted(c['ref'] for c in candidates if c is not winner)
    assert chosen.warnings and 'prefer chose' in chosen.warnings[0]


def widened_candidates(listing: Listing, text: str, prefer: List[str]) -> Optional[List[Dict[str, Any]]]:
    """The candidates `prefer` adds to (only `trusted` does), or None when it leaves them as they are."""
    if 'trusted' not in prefer:
        return None
    try:
        parsed = parse_ref(text, listing.caller)
        resolver = Resolver(listing.cluster)
        base = [c.describe() for c in resolver.candidates(parsed, None)]
        wide = [c.describe() for c in resolver.candidates(parsed, prefer)]
    except SfError:
        return None
    return wide if wide != base else None


def named_by(listing: Listing, parsed: ParsedRef) -> List[str]:
    """An oracle for the explicit forms, straight from the docs' table: the UUIDs of what the form names."""
    cluster = listing.cluster
    rows = [row for row in cluster.artifacts.values() if row.state != 'deleted' and cluster._visible(row)]
    if parsed.kind == 'label':
        return [r.uuid for r in rows if r.artifact_type == 'label' and r.namespace == parsed.namespace
                and r.source_url == label_url(parsed.namespace or '', parsed.name or '')]
    if parsed.kind == 'upload':
        return [r.uuid for r in rows if r.artifact_type in ('image', 'other') and r.namespace == parsed.namespace
                and r.source_url.startswith('sf://upload/') and r.source_url.rsplit('/', 1)[-1] == parsed.name]
    snapshot_only = parsed.kind == 'snapshot'
    return [r.uuid for r in rows if r.uuid == parsed.uuid and (r.artifact_type == 'snapshot' or not snapshot_only)]


@given(data=st.data())
def test_explicit_forms_find_exactly_what_they_name(data: st.DataObject) -> None:
    listing = data.draw(listings(), label='listing')
    uuids = st.sampled_from(listing.uuids)
    names, namespaces = st.sampled_from(NAMES), st.sampled_from(NAMESPACES)
    text = data.draw(st.one_of(st.builds(label_url, namespaces, names), st.builds(upload_url, namespaces, names),
                               names.map('label:{}'.format), uuids.map('sf://artifact/{}'.format),
                               uuids.map('sf://snapshot/{}'.format), uuids), label='reference')
    expected = named_by(listing, parse_ref(text, listing.caller))
    outcome = attempt(Resolver(listing.cluster), text, None, None, None)
    if not expected:
        assert isinstance(outcome, (SfNotFound, SfInvalidInput)), outcome
    elif len(expected) == 1:
        assert isinstance(outcome, SfNotReady) or (isinstance(outcome, Resolution) and outcome.uuid == expected[0]), \
            outcome
    else:  # the cluster holds several artifacts with one explicit name: say so, never pick one
        assert isinstance(outcome, SfAmbiguousReference), outcome
        assert sorted(c['uuid'] for c in outcome.candidates) == sorted(expected)


segments = st.text(min_size=1, max_size=12).filter(lambda s: '/' not in s and s == s.strip())


@given(text=st.one_of(texts, json_values, st.sampled_from(SPECIAL_TEXT + SURROGATES)),
       caller=st.sampled_from(NAMESPACES))
def test_parse_ref_classifies_or_refuses(text: Any, caller: str) -> None:
    try:
        parsed = parse_ref(text, caller)
    except SfInvalidInput:
        return
    assert isinstance(text, str) and parsed.kind in KINDS and parsed.text == text.strip()
    stripped = text.strip()
    if stripped.startswith('sf://'):
        assert parsed.kind in ('label', 'upload', 'artifact', 'snapshot', 'blob', 'instance_disk')
    if parsed.kind in ('artifact', 'snapshot', 'blob', 'instance_disk'):
        assert parsed.uuid == (parsed.uuid or '').lower() and len(parsed.uuid or '') == 36
    if parsed.kind in ('label', 'upload', 'namespaced'):
        assert parsed.namespace and parsed.name and '/' not in parsed.name


@given(namespace=segments, name=segments, caller=st.sampled_from(NAMESPACES), uuid=st.uuids())
@example(namespace='ci', name='centos:7', caller='ci', uuid=uuidlib.UUID(int=0))
def test_explicit_forms_parse_back_to_what_they_name(namespace: str, name: str, caller: str,
                                                     uuid: uuidlib.UUID) -> None:
    label = parse_ref(label_url(namespace, name), caller)
    assert (label.kind, label.namespace, label.name) == ('label', namespace, name)
    upload = parse_ref(upload_url(namespace, name), caller)
    assert (upload.kind, upload.namespace, upload.name) == ('upload', namespace, name)
    for form, kind in (('sf://artifact/{}', 'artifact'), ('sf://snapshot/{}', 'snapshot'), ('sf://blob/{}', 'blob'),
                       ('{}', 'artifact')):
        parsed = parse_ref(form.format(str(uuid).upper()), caller)
        assert (parsed.kind, parsed.uuid) == (kind, str(uuid))


@given(value=st.one_of(edge_numbers, texts, json_values, st.sampled_from(('latest', 'Latest', '', ' 2 ', 'inf'))))
def test_parse_version_is_none_a_positive_int_or_a_typed_error(value: Any) -> None:
    try:
        version = parse_version(value)
    except SfInvalidInput:
        return
    assert version is None or (isinstance(version, int) and not isinstance(version, bool) and version >= 1)


@pytest.mark.parametrize('value', [float('inf'), float('-inf')], ids=['inf', '-inf'])
def test_parse_version_refuses_infinity(value: float) -> None:
    with pytest.raises(SfInvalidInput):
        parse_version(value)


@pytest.mark.parametrize('value', [1.5, 2.999, 3.25])
def test_parse_version_refuses_a_number_that_is_not_whole(value: float) -> None:
    with pytest.raises(SfInvalidInput):
        parse_version(value)
