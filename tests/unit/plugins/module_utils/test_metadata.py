"""Users' metadata (sf_image_publish, sf_label; docs/publishing.md "Metadata"): one write per key that differs,
merge or replace, the collection's own keys never touched, bad input refused before anything is written."""

from __future__ import annotations

from pathlib import Path

import pytest

from ansible_collections.shakenfist.storage.plugins.module_utils._api import SfApi
from ansible_collections.shakenfist.storage.plugins.module_utils._errors import SfInvalidInput, SfNotFound
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
    ({'build': '1', 'note': ''}, "metadata key 'note': an empty value"),
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


@pytest.mark.parametrize('metadata', [{'shakenfist.storage.x': 'y'}, {'build': '1', 'note': ''}])
def test_bad_metadata_on_publish_writes_nothing(api: FakeCluster, tmp_path: Path, metadata: dict) -> None:
    with pytest.raises(SfInvalidInput):
        publish(api, name='web', src=a_file(tmp_path, b'one'), metadata=metadata)
    assert api.writes == []


class RecordingTransport:
    """Records what SfApi sends; answers DELETE with a 404 when told to (a newer server's missing key)."""

    namespace = 'ci'

    def __init__(self, missing: bool = False) -> None:
        self.sent: list[tuple[str, str]] = []
        self.missing = missing

    def request(self, method: str, template: str, *segments: object, **kwargs: object) -> None:
        self.sent.append((method, template.format(*segments)))
        if self.missing:
            raise SfNotFound(f'{method} failed: metadata key not found', status=404)


@pytest.mark.parametrize('value', ['', 0, False, {}, [], None])
def test_every_falsy_value_is_refused_before_it_is_sent(value: object) -> None:
    transport = RecordingTransport()
    with pytest.raises(SfInvalidInput, match=r"metadata key 'k': an empty value .* 0\.7\.2 refuses it"):
        SfApi(transport).set_metadata('a-1', 'k', value)
    assert transport.sent == []


@pytest.mark.parametrize('missing', [False, True])
def test_deleting_a_key_that_is_not_there_is_no_change_on_either_server(missing: bool) -> None:
    transport = RecordingTransport(missing=missing)  # 0.7.2 answers 200 null, newer servers 404
    SfApi(transport).delete_metadata('a-1', 'gone')
    assert transport.sent == [('DELETE', '/artifacts/a-1/metadata/gone')]
