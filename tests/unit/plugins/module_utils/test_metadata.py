"""Users' metadata (sf_image_publish, sf_label; docs/publishing.md "Metadata"): one write per key that differs,
merge or replace, the collection's own keys never touched, bad input refused before anything is written."""

from __future__ import annotations

from pathlib import Path

import pytest

from ansible_collections.shakenfist.storage.plugins.module_utils._errors import SfInvalidInput
from ansible_collections.shakenfist.storage.plugins.module_utils._metadata import check_metadata, metadata_changes
from ansible_collections.shakenfist.storage.tests.unit.plugins.module_utils.fake_cluster import (
    FakeCluster,
    a_file,
    publish,
)

OWN = 'shakenfist.storage.snapshot.b-1'


@pytest.fixture
def api() -> FakeCluster:
    return FakeCluster('ci')


def metadata_writes(api: FakeCluster) -> list:
    return [w for w in api.writes if w[0] in ('set_metadata', 'delete_metadata')]


def test_merge_sets_only_keys_that_differ_and_leaves_the_rest() -> None:
    sets, deletes, after = metadata_changes({'build': '1', 'team': 'web', OWN: {}}, {'build': '2', 'team': 'web'},
                                            'merge')
    assert sets == [('build', '2')] and deletes == [] and after == {'build': '2', 'team': 'web'}


def test_replace_deletes_other_user_keys_but_never_the_collections_own() -> None:
    sets, deletes, after = metadata_changes({'build': '1', 'team': 'web', OWN: {}}, {'build': '1'}, 'replace')
    assert sets == [] and deletes == ['team'] and after == {'build': '1'}


@pytest.mark.parametrize('metadata, message', [
    ({'shakenfist.storage.mine': 'x'}, 'kept by this collection'),
    ({'build': 12}, 'values must be strings'),
    ({'a/b': 'x'}, 'metadata key'),
    (['build'], 'must be a dictionary'),
])
def test_bad_metadata_is_refused(metadata: object, message: str) -> None:
    with pytest.raises(SfInvalidInput, match=message):
        check_metadata(metadata)


def test_publish_sets_metadata_on_a_new_artifact_and_returns_it(api: FakeCluster, tmp_path: Path) -> None:
    outcome = publish(api, name='web', src=a_file(tmp_path, b'one'), metadata={'build': '1'})
    uuid = outcome.result['artifact']['uuid']
    assert api.get_metadata(uuid) == {'build': '1'} and outcome.result['artifact']['metadata'] == {'build': '1'}
    again = publish(api, name='web', src=a_file(tmp_path, b'one'), metadata={'build': '1'})
    assert not again.changed and metadata_writes(api) == [('set_metadata', uuid, 'build')]


def test_publish_replace_keeps_bookkeeping_and_is_planned_in_check_mode(api: FakeCluster, tmp_path: Path) -> None:
    web = api.upload_named('web', [b'one'])
    for key, value in (('build', '1'), ('team', 'web'), (OWN, {'set': 'x'})):
        api.set_metadata(web, key, value)
    api.writes.clear()
    src = a_file(tmp_path, b'one')
    planned = publish(api, name='web', src=src, metadata={'build': '2'}, metadata_mode='replace', check_mode=True)
    assert planned.changed and metadata_writes(api) == []
    assert planned.actions == ['version 1 of sf://upload/ci/web already has this content',
                               'would set metadata build on sf://upload/ci/web',
                               'would delete metadata team from sf://upload/ci/web']
    assert planned.before['metadata'] == {'build': '1', 'team': 'web'} and planned.after['metadata'] == {'build': '2'}
    done = publish(api, name='web', src=src, metadata={'build': '2'}, metadata_mode='replace')
    assert done.changed and api.get_metadata(web) == {'build': '2', OWN: {'set': 'x'}}
    assert done.result['artifact']['metadata'] == {'build': '2'}


def test_bad_metadata_on_publish_writes_nothing(api: FakeCluster, tmp_path: Path) -> None:
    with pytest.raises(SfInvalidInput):
        publish(api, name='web', src=a_file(tmp_path, b'one'), metadata={'shakenfist.storage.x': 'y'})
    assert api.writes == []
