"""Version hygiene (sf_image_publish prune_unused, docs/publishing.md "Pruning unused versions"): old versions go
only when no instance uses them and no label points at them, each reported with its reason, planned in check mode.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ansible_collections.shakenfist.storage.plugins.module_utils._errors import SfInvalidInput
from ansible_collections.shakenfist.storage.tests.unit.plugins.module_utils.fake_cluster import (
    FakeCluster,
    a_file,
    publish,
)


@pytest.fixture
def api() -> FakeCluster:
    return FakeCluster('ci')


def blob_of(api: FakeCluster, artifact: str, index: int) -> str:
    return api.artifacts[artifact].versions[index]


def report(outcome: object) -> list:
    return [(e['index'], e['action'], e['reason']) for e in outcome.result['pruned']]  # type: ignore[attr-defined]


def test_versions_in_use_or_labelled_are_kept_and_the_rest_removed(api: FakeCluster, tmp_path: Path) -> None:
    web = api.upload_named('web', [b'one', b'two', b'three', b'four'], max_versions=10)
    api.blobs[blob_of(api, web, 1)].instances.append('i-1')
    api.update_label('ci', 'stable', blob_of(api, web, 2))
    api.writes.clear()
    src = a_file(tmp_path, b'four')
    planned = publish(api, name='web', src=src, prune_unused=True, check_mode=True)
    assert planned.changed and api.writes == []
    assert report(planned) == [(4, 'keep', 'the newest version'),
                               (3, 'remove', 'no instance uses it and no label points at it'),
                               (2, 'keep', 'label sf://label/ci/stable points at it'),
                               (1, 'keep', 'used by instance i-1')]
    done = publish(api, name='web', src=src, prune_unused=True)
    assert sorted(api.artifacts[web].versions) == [1, 2, 4] and done.result['pruned'][1]['action'] == 'removed'
    assert [w[0] for w in api.writes] == ['delete_version']
    # The instance is gone: version 1 goes on the next run; the labelled one stays.
    api.blobs[blob_of(api, web, 1)].instances.clear()
    publish(api, name='web', src=src, prune_unused=True)
    assert sorted(api.artifacts[web].versions) == [2, 4]
    again = publish(api, name='web', src=src, prune_unused=True)
    assert not again.changed


def test_the_version_this_run_adds_counts_towards_keep_newest(api: FakeCluster, tmp_path: Path) -> None:
    web = api.upload_named('web', [b'one', b'two', b'three'], max_versions=10)
    publish(api, name='web', src=a_file(tmp_path, b'four'), prune_unused=True, keep_newest=2)
    assert sorted(api.artifacts[web].versions) == [3, 4]


def test_an_instance_that_starts_on_a_version_after_the_plan_keeps_it(api: FakeCluster, tmp_path: Path) -> None:
    web = api.upload_named('web', [b'one', b'two'])
    outcome = publish(api, name='web', src=a_file(tmp_path, b'two'), prune_unused=True,
                      between=lambda: api.blobs[blob_of(api, web, 1)].instances.append('i-9'))
    assert sorted(api.artifacts[web].versions) == [1, 2] and not outcome.changed
    assert report(outcome)[1] == (1, 'keep', 'used by instance i-9 since the plan was made')


def test_reasons_name_several_instances_and_labels_in_the_plural(api: FakeCluster, tmp_path: Path) -> None:
    web = api.upload_named('web', [b'one', b'two', b'three'], max_versions=10)
    api.blobs[blob_of(api, web, 1)].instances.extend(['i-1', 'i-2'])
    api.update_label('ci', 'stable', blob_of(api, web, 2))
    api.update_label('ci', 'tested', blob_of(api, web, 2))
    planned = publish(api, name='web', src=a_file(tmp_path, b'three'), prune_unused=True, keep_newest=2,
                      check_mode=True)
    assert report(planned) == [(3, 'keep', 'one of the newest 2'),
                               (2, 'keep', 'one of the newest 2'),
                               (1, 'keep', 'used by instances i-1, i-2')]
    planned = publish(api, name='web', src=a_file(tmp_path, b'three'), prune_unused=True, check_mode=True)
    assert report(planned)[1] == (2, 'keep', 'labels sf://label/ci/stable, sf://label/ci/tested point at it')


def test_bad_prune_input_is_refused_before_anything_is_written(api: FakeCluster, tmp_path: Path) -> None:
    api.upload_named('web', [b'one'])
    api.writes.clear()
    with pytest.raises(SfInvalidInput, match='keep_newest'):
        publish(api, name='web', src=a_file(tmp_path, b'two'), prune_unused=True, keep_newest=0)
    with pytest.raises(SfInvalidInput, match='only used with state: present'):
        publish(api, name='web', state='absent', prune_unused=True)
    assert api.writes == []
