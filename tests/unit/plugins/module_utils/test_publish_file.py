"""Publishing a local file over an in-memory cluster: what is sent, what is reused, and what the user is told.

Each test drives Publisher -> plan() -> execute() as sf_image_publish does and checks the outcome (changed,
actions, plan statuses, result) and the write requests the cluster received.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from ansible_collections.shakenfist.storage.plugins.module_utils import _publish_file
from ansible_collections.shakenfist.storage.plugins.module_utils._errors import (
    SfForbidden,
    SfInvalidInput,
    SfNotFound,
)
from ansible_collections.shakenfist.storage.tests.unit.plugins.module_utils.fake_cluster import (
    MIB,
    FakeCluster,
    a_file,
    failing,
    publish,
    sha512,
    steps,
)


@pytest.fixture
def api() -> FakeCluster:
    return FakeCluster('ci')


def no_hash_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if the file is hashed in a pass of its own (instead of from the cache or while sending)."""
    def refuse(*args: Any) -> Any:
        raise AssertionError('the file was hashed in a separate pass')

    monkeypatch.setattr(_publish_file, 'file_sha512', refuse)


# Nothing to do
def test_unchanged_file_known_from_the_cache_sends_nothing(api: FakeCluster, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    data = os.urandom(300 * 1024)
    src, state = a_file(tmp_path, data), str(tmp_path / 'state')
    first = publish(api, name='web', src=src, state_dir=state)
    assert first.changed and first.result['version']['index'] == 1
    api.writes.clear()
    no_hash_pass(monkeypatch)
    again = publish(api, name='web', src=src, state_dir=state)
    assert not again.changed and api.writes == []
    assert steps(again) == [('note', 'unchanged')] and 'already has this content' in again.actions[0]
    assert again.result['version']['index'] == 1 and again.result['sha512'] == sha512(data)
    assert again.result['uploaded_bytes'] == 0 and not again.result['reused_blob']


def test_unchanged_file_of_the_newest_size_is_hashed_first_and_sends_nothing(api: FakeCluster,
                                                                             tmp_path: Path) -> None:
    data = os.urandom(200 * 1024)
    api.upload_named('web', [os.urandom(10), data])
    outcome = publish(api, name='web', src=a_file(tmp_path, data))
    assert not outcome.changed and api.writes == []
    assert outcome.result['version']['index'] == 2 and outcome.result['version']['sha512'] == sha512(data)


def test_new_content_of_the_newest_size_is_uploaded_with_its_known_hash(api: FakeCluster, tmp_path: Path) -> None:
    old, new = os.urandom(200 * 1024), os.urandom(200 * 1024)
    web = api.upload_named('web', [old])
    outcome = publish(api, name='web', src=a_file(tmp_path, new))
    assert outcome.changed and steps(outcome) == [('upload', 'done'), ('add_version', 'done')]
    assert 'hashed while sending' not in outcome.actions[0]
    assert outcome.result['version']['index'] == 2 and outcome.result['sha512'] == sha512(new)
    assert outcome.result['uploaded_bytes'] == len(new) and api.sha_of(web, 2) == sha512(new)


@pytest.mark.parametrize('unchanged', [False, True])
def test_check_mode_predicts_without_a_write(api: FakeCluster, tmp_path: Path, unchanged: bool) -> None:
    data = os.urandom(100 * 1024)
    api.upload_named('web', [os.urandom(10), os.urandom(20)] + ([data] if unchanged else []))
    outcome = publish(api, check_mode=True, name='web', src=a_file(tmp_path, data), max_versions=5,
                      label='stable')
    assert api.writes == [] and outcome.changed
    writing = ['set_max_versions', 'point_label'] if unchanged else [
        'set_max_versions', 'upload', 'add_version', 'point_label']
    assert [step['step'] for step in outcome.plan if step['status'] == 'planned'] == writing
    assert all(action.startswith('would ') for action in outcome.actions if 'already has' not in action)
    # The version is predicted: the newest when unchanged, else the one after it (3 either way here).
    assert outcome.result['version']['index'] == 3 and outcome.result['sha512'] == sha512(data)
    assert outcome.after['max_versions'] == 5 and outcome.result['label']['version'] == 1


# Unknown before the run (UUIDs the server allocates: null in check mode, never a placeholder) or measured by it.
UNKNOWN = {'uuid', 'blob_uuid', 'disk_base', 'throughput'}


def known(result: Any) -> Any:
    """A result with what only the real run can know left out."""
    if isinstance(result, dict):
        return {key: known(value) for key, value in result.items() if key not in UNKNOWN}
    return result


@pytest.mark.parametrize('namespace, existing, options', [
    ('ci', False, {}),
    ('ci', False, {'max_versions': 5, 'label': 'stable', 'metadata': {'team': 'web'}}),
    ('ci', True, {'max_versions': 0}),
    ('ci', True, {'max_versions': 7, 'label': 'stable'}),
    ('system', False, {'shared': True, 'max_versions': 4}),
    ('system', True, {'shared': False, 'max_versions': 2}),
])
def test_check_mode_predicts_the_artifact_the_run_leaves(tmp_path: Path, namespace: str, existing: bool,
                                                         options: Any) -> None:
    # Issue 19: the predicted artifact (and ref, version, label) is what the real run returns, with max_versions and
    # sharing as the run sets them, for a new artifact too (its UUID is null until it exists).
    api = FakeCluster(namespace)
    if existing:
        api.upload_named('web', [b'one'], namespace=namespace, shared=namespace == 'system', max_versions=5)
    src = a_file(tmp_path, os.urandom(1000))
    predicted = publish(api, check_mode=True, name='web', src=src, **options)
    assert api.writes == [] and predicted.changed
    if 'label' in options:  # a blob not known yet is said in words, not put where a blob UUID goes
        assert f'would create sf://label/{namespace}/stable -> the version this task adds (version 1)' in \
            predicted.actions
    done = publish(api, name='web', src=src, **options)
    assert predicted.result['artifact']['uuid'] == (done.result['artifact']['uuid'] if existing else None)
    assert 'disk_base' in predicted.result and predicted.result['version']['blob_uuid'] is None
    assert known(predicted.result) == known({**done.result, 'uploaded_bytes': 0, 'reused_blob': False})
    assert {k: v for k, v in predicted.after.items() if k not in ('label', 'metadata')} == {
        k: v for k, v in done.after.items() if k not in ('label', 'metadata')}


# New content
def test_new_file_is_read_once_hashed_while_sending(api: FakeCluster, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    data = os.urandom(2 * MIB + 12345)
    no_hash_pass(monkeypatch)
    outcome = publish(api, name='web', src=a_file(tmp_path, data), chunk_size=MIB)
    assert outcome.changed and steps(outcome) == [('upload', 'done'), ('add_version', 'done')]
    assert 'hashed while sending' in outcome.actions[0]
    result = outcome.result
    assert result['sha512'] == sha512(data) and result['version']['sha512'] == sha512(data)
    assert result['uploaded_bytes'] == len(data) and result['resumed_bytes'] == 0 and not result['reused_blob']
    assert result['version']['index'] == 1 and result['ref'] == 'sf://upload/ci/web'
    assert result['disk_base'] == f'sf://blob/{result["version"]["blob_uuid"]}'
    assert [w[0] for w in api.writes] == ['create_upload'] + ['append_upload'] * 3 + ['convert_upload']
    web = api.find('sf://upload/ci/web')
    assert web is not None and api.sha_of(web.uuid, 1) == sha512(data)


def test_content_the_cluster_had_is_found_after_sending_and_its_blob_reused(api: FakeCluster,
                                                                            tmp_path: Path) -> None:
    data = os.urandom(150 * 1024)
    api.upload_named('elsewhere', [data])
    blob = next(b.uuid for b in api.blobs.values() if b.sha512 == sha512(data))
    blobs_before = len(api.blobs)
    outcome = publish(api, name='web', src=a_file(tmp_path, data))
    upload = api.wrote('create_upload')[0][1]
    assert api.wrote('truncate_upload') == [('truncate_upload', upload, 0)] and api.uploads[upload] == b''
    assert api.wrote('convert_upload') == [('convert_upload', 'web', None, blob)]
    assert outcome.changed and outcome.result['reused_blob'] and outcome.result['version']['blob_uuid'] == blob
    assert outcome.result['sha512'] == sha512(data) and len(api.blobs) == blobs_before
    assert 'upload was dropped' in outcome.actions[0]


def test_content_known_to_exist_is_added_without_an_upload(api: FakeCluster, tmp_path: Path) -> None:
    data = os.urandom(100 * 1024)
    src, state = a_file(tmp_path, data), str(tmp_path / 'state')
    publish(api, name='first', src=src, state_dir=state)
    blob = api.blobs[api.find('sf://upload/ci/first').versions[1]].uuid
    api.writes.clear()
    outcome = publish(api, name='second', src=src, state_dir=state)
    assert api.writes == [('convert_upload', 'second', None, blob)]
    assert steps(outcome) == [('add_version', 'done')] and f'from blob {blob} (no upload)' in outcome.actions[0]
    assert outcome.result['reused_blob'] and outcome.result['uploaded_bytes'] == 0
    assert outcome.result['version'] == {'index': 1, 'blob_uuid': blob, 'sha512': sha512(data), 'size': len(data)}


# An expected checksum
def test_a_known_hash_that_is_not_the_checksum_uploads_nothing(api: FakeCluster, tmp_path: Path) -> None:
    expected = os.urandom(1000)
    api.upload_named('other', [expected])  # the expected content exists, so the file is hashed first
    with pytest.raises(SfInvalidInput, match='not the expected .*nothing was uploaded'):
        publish(api, name='web', src=a_file(tmp_path, os.urandom(1000)), checksum=sha512(expected))
    assert api.writes == []


def test_a_hash_found_while_sending_that_is_not_the_checksum_publishes_nothing(api: FakeCluster,
                                                                               tmp_path: Path) -> None:
    failed = failing(api, name='web', src=a_file(tmp_path, os.urandom(5000)), checksum='ab' * 64)
    assert failed.kind == 'invalid_input' and 'nothing was published' in str(failed)
    assert steps(failed.outcome) == [('upload', 'failed'), ('add_version', 'not run')]
    upload = api.wrote('create_upload')[0][1]
    assert api.wrote('truncate_upload')[-1] == ('truncate_upload', upload, 0) and api.uploads[upload] == b''
    assert api.wrote('convert_upload') == [] and api.find('sf://upload/ci/web') is None


def test_matching_checksum_of_existing_content_reuses_it(api: FakeCluster, tmp_path: Path) -> None:
    data = os.urandom(1000)
    api.upload_named('other', [data])
    outcome = publish(api, name='web', src=a_file(tmp_path, data), checksum='SHA512:' + sha512(data).upper())
    assert outcome.result['reused_blob'] and api.wrote('create_upload') == []


# Retention
def test_max_versions_of_an_existing_artifact_is_raised_before_adding(api: FakeCluster, tmp_path: Path) -> None:
    web = api.upload_named('web', [b'one', b'two', b'three'])
    outcome = publish(api, name='web', src=a_file(tmp_path, b'four'), max_versions=5)
    assert steps(outcome) == [('set_max_versions', 'done'), ('upload', 'done'), ('add_version', 'done')]
    assert api.indexes(web) == [1, 2, 3, 4] and outcome.result['artifact']['max_versions'] == 5
    assert outcome.after['versions'] == [1, 2, 3, 4]


def test_max_versions_of_a_new_artifact_is_set_after_it_exists(api: FakeCluster, tmp_path: Path) -> None:
    outcome = publish(api, name='web', src=a_file(tmp_path, b'one'), max_versions=7)
    assert steps(outcome) == [('upload', 'done'), ('add_version', 'done'), ('set_max_versions', 'done')]
    web = api.find('sf://upload/ci/web')
    assert web is not None and web.max_versions == 7 and outcome.result['artifact']['max_versions'] == 7


def test_max_versions_set_concurrently_is_an_unchanged_step(api: FakeCluster, tmp_path: Path) -> None:
    web = api.upload_named('web', [b'one'])

    def meanwhile() -> None:
        api.artifacts[web].max_versions = 6

    outcome = publish(api, name='web', src=a_file(tmp_path, b'one'), max_versions=6, between=meanwhile)
    assert steps(outcome) == [('note', 'unchanged'), ('set_max_versions', 'unchanged')]
    assert not outcome.changed and api.writes == [] and 'already so' in outcome.actions[1]


def test_max_versions_equal_to_the_server_default_is_still_set(api: FakeCluster, tmp_path: Path) -> None:
    outcome = publish(api, name='web', src=a_file(tmp_path, b'one'), max_versions=3)
    web = api.find('sf://upload/ci/web')
    assert web is not None and web.max_versions == 3 and 'concurrently' not in outcome.actions[-1]


def test_sharing_is_for_system_only(api: FakeCluster, tmp_path: Path) -> None:
    with pytest.raises(SfForbidden, match='only artifacts of the system namespace can be shared'):
        publish(api, name='web', src=a_file(tmp_path, b'one'), shared=True)
    assert api.writes == []


# The label
def test_label_points_at_the_new_version(api: FakeCluster, tmp_path: Path) -> None:
    api.upload_named('web', [b'one'])
    outcome = publish(api, name='web', src=a_file(tmp_path, b'two'), label='stable')
    assert steps(outcome) == [('upload', 'done'), ('add_version', 'done'), ('point_label', 'done')]
    version, label = outcome.result['version'], outcome.result['label']
    assert version['index'] == 2 and label['blob_uuid'] == version['blob_uuid'] and label['version'] == 1
    assert label['ref'] == 'sf://label/ci/stable'
    assert api.wrote('update_label') == [('update_label', 'ci/stable', version['blob_uuid'])]
    assert outcome.after['label']['blob_uuid'] == version['blob_uuid']


def test_label_points_at_a_reused_blob(api: FakeCluster, tmp_path: Path) -> None:
    data = os.urandom(500)
    api.upload_named('other', [data])
    outcome = publish(api, name='web', src=a_file(tmp_path, data), label='stable')
    assert outcome.result['reused_blob'] and outcome.result['label']['blob_uuid'] == outcome.result['version'][
        'blob_uuid']


def test_a_missing_label_with_label_create_false_is_refused_before_any_write(api: FakeCluster,
                                                                             tmp_path: Path) -> None:
    with pytest.raises(SfNotFound, match='create is false'):
        publish(api, name='web', src=a_file(tmp_path, b'one'), label='stable', label_create=False)
    assert api.writes == [] and api.find('sf://upload/ci/web') is None


def test_a_label_already_on_the_content_is_no_step(api: FakeCluster, tmp_path: Path) -> None:
    web = api.upload_named('web', [b'one'])
    api.seed('sf://label/ci/stable', [], artifact_type='label')
    api.add_version(api.find('sf://label/ci/stable').uuid, api.artifacts[web].versions[1])
    outcome = publish(api, name='web', src=a_file(tmp_path, b'one'), label='stable')
    assert not outcome.changed and api.writes == []
    assert [a for a in outcome.actions if 'already points at this content' in a]
    assert 'point_label' not in [step['step'] for step in outcome.plan]


# Ownership and a controller download
def test_an_artifact_of_another_namespace_is_refused_before_any_write(tmp_path: Path) -> None:
    api = FakeCluster('ci', trusted_by=('team',))
    api.upload_named('web', [b'one'], namespace='team')
    with pytest.raises(SfForbidden, match="owned by namespace 'team'"):
        publish(api, name='web', src=a_file(tmp_path, b'two'), target='team')
    assert api.writes == []


def test_a_label_made_in_a_trusting_namespace_is_no_change_on_a_second_run(tmp_path: Path) -> None:
    # ci may create in team (team trusts it), but only team or system may move what then exists: a second run of the
    # same task changes nothing and must not be refused; new content that would move the label is, before any write.
    api = FakeCluster('ci', trusted_by=('team',))
    src = a_file(tmp_path, b'one')
    first = publish(api, name='web', src=src, target='team', label='fresh')
    assert first.changed and api.find('sf://label/team/fresh', namespace='team') is not None
    api.writes.clear()
    again = publish(api, name='web', src=src, target='team', label='fresh')
    assert not again.changed and api.writes == []
    with pytest.raises(SfForbidden, match="owned by namespace 'team'"):
        publish(api, name='web', src=a_file(tmp_path, b'two', name='two.qcow2'), target='team', label='fresh')
    assert api.writes == []


def test_a_controller_download_is_published_like_a_file(api: FakeCluster, tmp_path: Path) -> None:
    data = os.urandom(3000)
    api.upload_named('other', [data])
    api.web['https://example.com/disk.img'] = data
    outcome = publish(api, name='web', url='https://example.com/disk.img', fetch='controller',
                      state_dir=str(tmp_path))
    assert steps(outcome) == [('download', 'unchanged'), ('add_version', 'done')]
    assert outcome.result['reused_blob'] and outcome.result['sha512'] == sha512(data)
    assert api.wrote('create_upload') == [] and not list(tmp_path.glob('sf-download-*'))
