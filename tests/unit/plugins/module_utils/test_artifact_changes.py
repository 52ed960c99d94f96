"""The diff behind the sf_artifact_events event source: one event per change, in a fixed order, none for what did
not change."""

from __future__ import annotations

from typing import Any

import pytest

from ansible_collections.shakenfist.storage.plugins.module_utils._artifact_changes import (
    BlobOwners,
    Scope,
    SeenArtifact,
    changes,
    seen_in,
)
from ansible_collections.shakenfist.storage.plugins.module_utils._models import Artifact


def art(uuid: str, name: str, versions: dict[int, str], kind: str = 'image', namespace: str = 'ci') -> SeenArtifact:
    return SeenArtifact(uuid, namespace, name, kind, versions)


def look(*artifacts: SeenArtifact) -> dict[str, SeenArtifact]:
    return {a.uuid: a for a in artifacts}


def brief(events: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = []
    for e in events:
        if e['type'] == 'label_moved':
            out.append((e['type'], e['name'], e['from_version'], e['to_version']))
        elif e['type'] == 'artifact_deleted':
            out.append((e['type'], e['name'], [v['version'] for v in e['versions']]))
        else:
            out.append((e['type'], e['name'], e['version']))
    return out


IMAGE = art('a1', 'web-image', {1: 'b1', 2: 'b2'})
LABEL = art('l1', 'web', {1: 'b1'}, kind='label')


def test_nothing_changed_is_no_event() -> None:
    assert changes(look(IMAGE, LABEL), look(IMAGE, LABEL)) == []
    assert changes({}, {}) == []


def test_a_new_artifact_emits_each_of_its_versions_in_order() -> None:
    events = changes({}, look(IMAGE))
    assert events == [
        {'type': 'version_added', 'namespace': 'ci', 'name': 'web-image', 'artifact_uuid': 'a1',
         'artifact_type': 'image', 'version': 1, 'blob_uuid': 'b1', 'newest': False, 'new_artifact': True},
        {'type': 'version_added', 'namespace': 'ci', 'name': 'web-image', 'artifact_uuid': 'a1',
         'artifact_type': 'image', 'version': 2, 'blob_uuid': 'b2', 'newest': True, 'new_artifact': True},
    ]


def test_the_first_version_of_an_artifact_seen_empty_is_a_new_artifact() -> None:
    # 0.7.2 lists an upload artifact before its first version exists: one poll sees it empty, the next its version.
    empty = art('a1', 'web-image', {})
    assert changes({}, look(empty)) == []
    [event] = changes(look(empty), look(art('a1', 'web-image', {1: 'b1'})))
    assert (event['type'], event['version'], event['newest'], event['new_artifact']) == (
        'version_added', 1, True, True)


def test_a_version_added_to_a_known_artifact() -> None:
    after = art('a1', 'web-image', {1: 'b1', 2: 'b2', 3: 'b3'})
    [event] = changes(look(IMAGE), look(after))
    assert (event['type'], event['version'], event['blob_uuid'], event['newest'], event['new_artifact']) == (
        'version_added', 3, 'b3', True, False)


def test_a_version_deleted_and_max_versions_trimming_are_version_deleted() -> None:
    before = art('a1', 'web-image', {1: 'b1', 2: 'b2', 3: 'b3'})
    # The oldest trimmed by max_versions when 4 came, and 2 deleted by hand: the same to a watcher.
    after = art('a1', 'web-image', {3: 'b3', 4: 'b4'})
    assert brief(changes(look(before), look(after))) == [
        ('version_added', 'web-image', 4), ('version_deleted', 'web-image', 1), ('version_deleted', 'web-image', 2)]
    deleted = changes(look(before), look(after))[1]
    assert deleted == {'type': 'version_deleted', 'namespace': 'ci', 'name': 'web-image', 'artifact_uuid': 'a1',
                       'artifact_type': 'image', 'version': 1, 'blob_uuid': 'b1'}


def test_an_artifact_gone_from_the_listing_is_one_artifact_deleted_with_what_it_had() -> None:
    [event] = changes(look(IMAGE), {})
    assert event == {'type': 'artifact_deleted', 'namespace': 'ci', 'name': 'web-image', 'artifact_uuid': 'a1',
                     'artifact_type': 'image',
                     'versions': [{'version': 1, 'blob_uuid': 'b1'}, {'version': 2, 'blob_uuid': 'b2'}]}


def test_a_new_label_moves_from_nothing_and_names_the_image_it_points_at() -> None:
    [event] = changes(look(IMAGE), look(IMAGE, LABEL))
    assert event == {
        'type': 'label_moved', 'namespace': 'ci', 'name': 'web', 'label': 'web', 'artifact_uuid': 'l1',
        'artifact_type': 'label', 'from_version': None, 'from_blob': None, 'from_image': None, 'to_version': 1,
        'to_blob': 'b1', 'to_image': {'namespace': 'ci', 'name': 'web-image', 'artifact_uuid': 'a1',
                                      'artifact_type': 'image', 'version': 1},
        'who': None}


def test_a_label_moved_forward_and_back() -> None:
    moved = art('l1', 'web', {1: 'b1', 2: 'b2'}, kind='label')
    [forward] = changes(look(IMAGE, LABEL), look(IMAGE, moved))
    assert (forward['from_version'], forward['from_blob'], forward['to_version'], forward['to_blob']) == (
        1, 'b1', 2, 'b2')
    assert (forward['from_image']['version'], forward['to_image']['version']) == (1, 2)
    # Back (a rollback with sf_label): a new label version with the older blob.
    back = art('l1', 'web', {1: 'b1', 2: 'b2', 3: 'b1'}, kind='label')
    [event] = changes(look(IMAGE, moved), look(IMAGE, back))
    assert (event['from_version'], event['to_version'], event['to_blob'], event['to_image']['version']) == (
        2, 3, 'b1', 1)
    # Back by deleting the label's newest version: it points at the newest left.
    [event] = changes(look(IMAGE, moved), look(IMAGE, LABEL))
    assert (event['from_version'], event['from_blob'], event['to_version'], event['to_blob']) == (2, 'b2', 1, 'b1')


def test_a_label_moved_twice_between_looks_moves_twice() -> None:
    twice = art('l1', 'web', {2: 'b2', 3: 'b3'}, kind='label')  # version 1 trimmed meanwhile: not an event
    assert brief(changes(look(LABEL), look(twice))) == [('label_moved', 'web', 1, 2), ('label_moved', 'web', 2, 3)]


def test_a_label_history_trimmed_without_moving_it_is_no_event() -> None:
    before = art('l1', 'web', {1: 'b1', 2: 'b2', 3: 'b3'}, kind='label')
    after = art('l1', 'web', {2: 'b2', 3: 'b3'}, kind='label')
    assert changes(look(before), look(after)) == []


def test_a_deleted_label_says_where_it_pointed() -> None:
    [event] = changes(look(IMAGE, LABEL), look(IMAGE))
    assert (event['type'], event['label'], event['version'], event['blob_uuid'], event['image']['name']) == (
        'label_deleted', 'web', 1, 'b1', 'web-image')


def test_order_is_added_then_moved_then_deleted_then_gone_and_by_namespace_name_version() -> None:
    before = look(art('x1', 'zeta', {1: 'z1'}), art('x2', 'alpha', {1: 'a1', 2: 'a2'}),
                  art('x3', 'old', {1: 'o1'}, namespace='aa'), art('l1', 'web', {1: 'a1'}, kind='label'))
    after = look(art('x1', 'zeta', {1: 'z1', 2: 'z2'}), art('x2', 'alpha', {2: 'a2', 3: 'a3'}),
                 art('x4', 'new', {1: 'n1'}, namespace='zz'), art('l1', 'web', {1: 'a1', 2: 'a3'}, kind='label'),
                 art('x5', 'beta', {1: 'q1', 2: 'q2'}))
    order = brief(changes(before, after))
    # Phase first, then namespace, then name: 'beta' < 'zeta' in namespace ci, 'alpha' before 'beta'.
    assert order == [
        ('version_added', 'alpha', 3), ('version_added', 'beta', 1), ('version_added', 'beta', 2),
        ('version_added', 'zeta', 2), ('version_added', 'new', 1),
        ('label_moved', 'web', 1, 2),
        ('version_deleted', 'alpha', 1),
        ('artifact_deleted', 'old', [1]),
    ]
    assert changes(before, after) == changes(dict(reversed(list(before.items()))), dict(reversed(list(after.items()))))


def test_the_image_of_a_label_prefers_its_own_namespace_then_the_newest_version() -> None:
    owners = BlobOwners([art('s1', 'debian', {4: 'b'}, namespace='system'), art('c1', 'mine', {1: 'b', 2: 'b'}),
                         art('l9', 'other-label', {1: 'b'}, kind='label')])
    assert owners.image_of('b', 'ci') == {'namespace': 'ci', 'name': 'mine', 'artifact_uuid': 'c1',
                                          'artifact_type': 'image', 'version': 2}
    assert owners.image_of('b', 'elsewhere')['namespace'] == 'system'
    assert owners.image_of('unknown', 'ci') is None
    assert owners.image_of(None, 'ci') is None


def test_a_label_pointing_at_a_deleted_image_version_still_names_it_from_the_earlier_look() -> None:
    old_image = art('a1', 'web-image', {1: 'b1'})
    moved = art('l1', 'web', {1: 'b1', 2: 'b2'}, kind='label')
    new_image = art('a1', 'web-image', {2: 'b2'})
    events = changes(look(old_image, LABEL), look(new_image, moved))
    moved_event = next(e for e in events if e['type'] == 'label_moved')
    assert moved_event['from_image']['version'] == 1 and moved_event['to_image']['version'] == 2


@pytest.mark.parametrize(('scope', 'expected'), [
    (Scope(frozenset({'ci'})), {'mine', 'web'}),
    (Scope(frozenset({'ci'}), include_shared=True), {'mine', 'web', 'debian'}),
    (Scope(None), {'mine', 'web', 'debian', 'trusted'}),
    (Scope(frozenset({'ci', 'other'}), types=frozenset({'image'})), {'mine', 'trusted'}),
    (Scope(frozenset({'ci'}), names=frozenset({'web'})), {'web'}),
])
def test_scope(scope: Scope, expected: set[str]) -> None:
    def view(name: str, namespace: str, kind: str = 'image', shared: bool = False) -> Artifact:
        url = f'sf://label/{namespace}/{name}' if kind == 'label' else f'sf://upload/{namespace}/{name}'
        return Artifact.model_validate({'uuid': name, 'state': 'created', 'artifact_type': kind, 'source_url': url,
                                        'namespace': namespace, 'shared': shared,
                                        'blobs': {'1': {'uuid': f'blob-{name}'}}})

    listing = [view('mine', 'ci'), view('web', 'ci', 'label'), view('debian', 'system', shared=True),
               view('trusted', 'other')]
    seen = seen_in(listing, scope)
    assert {a.name for a in seen.values()} == expected
    assert seen_in(listing, Scope(frozenset({'ci'})))['mine'].versions == {1: 'blob-mine'}


def test_seen_artifacts_round_trip_through_json() -> None:
    for item in (IMAGE, LABEL, art('e', 'empty', {})):
        assert SeenArtifact.from_json(item.uuid, item.to_json()) == item
    bad: Any
    for bad in (None, [], {'versions': []}, {'versions': {}, 'namespace': 1, 'name': 'x', 'type': 'image'},
                {'versions': {'x': 'b'}, 'namespace': 'ci', 'name': 'x', 'type': 'image'}):
        with pytest.raises((ValueError, KeyError, TypeError)):
            SeenArtifact.from_json('u', bad)
