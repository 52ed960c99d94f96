"""Publishing a URL the cluster fetches, and deleting (state absent), over an in-memory cluster.

A fetch is a cluster operation that finishes after a few polls (time passes only while the client pauses), so the
tests can see which answer a run waited for.
"""

from __future__ import annotations

import os
import time
from email.utils import formatdate

import pytest

from ansible_collections.shakenfist.storage.plugins.module_utils._errors import (
    SfForbidden,
    SfInvalidInput,
    SfTimeout,
)
from ansible_collections.shakenfist.storage.tests.unit.plugins.module_utils.fake_cluster import (
    FakeCluster,
    Fetch,
    failing,
    publish,
    sha512,
    steps,
)

URL = 'https://images.example.com/web.qcow2'


@pytest.fixture
def api() -> FakeCluster:
    return FakeCluster('ci')


def failed_earlier(api: FakeCluster) -> str:
    """An artifact whose last fetch (an operation that finished long ago) failed: state error, no version."""
    old = Fetch('0d9e4c1a-4b1e-4a55-9f0e-2a2f0b4b9c11', '', URL, 0, state='error')
    api.ops[old.uuid] = old
    uuid = api.seed(URL, [], state='error', error_message=f'fetching {URL} failed: HTTP 404', op_uuid=old.uuid)
    old.artifact_uuid = uuid
    return uuid


# Fetching
def test_a_new_url_is_fetched_and_waited_for(api: FakeCluster) -> None:
    data = os.urandom(1000)
    api.remote[URL], api.fetch_pauses = data, 3
    outcome = publish(api, url=URL)
    assert outcome.changed and steps(outcome) == [('fetch', 'done')] and api.op_polls == 4
    assert f'fetched {URL} as version 1' in outcome.actions[0]
    assert outcome.result['version']['index'] == 1 and outcome.result['version']['sha512'] == sha512(data)
    assert outcome.result['artifact']['state'] == 'created' and api.wrote('cache_url') == [('cache_url', URL)]


@pytest.mark.parametrize('operations', [True, False])
def test_a_url_fixed_after_a_failed_fetch_waits_for_the_new_fetch(api: FakeCluster, operations: bool) -> None:
    uuid = failed_earlier(api)
    if not operations:
        api.capabilities.discard('get-cluster-operations')
    api.remote[URL], api.fetch_pauses = b'fixed', 3
    outcome = publish(api, url=URL)
    # The answer to our request still shows the old error: the run must wait through it, not fail on it.
    assert api.pauses == 3 and outcome.changed and (api.op_polls == 4) is operations
    assert outcome.result['version']['index'] == 1 and outcome.result['version']['sha512'] == sha512(b'fixed')
    assert api.artifacts[uuid].state == 'created' and api.artifacts[uuid].error_message is None


def test_a_fetch_whose_operation_is_gone_is_read_from_the_artifact(api: FakeCluster) -> None:
    api.remote[URL], api.fetch_pauses, api.forget_finished_ops = b'image', 2, True
    outcome = publish(api, url=URL)
    assert outcome.changed and outcome.result['version']['sha512'] == sha512(b'image') and api.op_polls == 3


def test_a_url_still_broken_fails_with_the_new_fetchs_reason(api: FakeCluster) -> None:
    failed_earlier(api)
    api.remote[URL] = f'fetching {URL} failed: HTTP 500'
    failed = failing(api, url=URL)
    assert failed.kind == 'server_error' and 'HTTP 500' in str(failed) and api.op_polls >= 2


def test_without_operations_the_same_error_again_is_only_seen_at_the_timeout(api: FakeCluster) -> None:
    failed_earlier(api)
    api.capabilities.discard('get-cluster-operations')
    failed = failing(api, url=URL, wait_timeout=0.05)
    assert isinstance(failed.error, SfTimeout) and 'within' in str(failed)


def test_wait_false_on_a_new_url_is_a_change(api: FakeCluster) -> None:
    outcome = publish(api, url=URL, wait=False)
    assert outcome.changed and 'not waiting' in outcome.actions[0] and api.op_polls == 0
    assert 'version' not in outcome.result and outcome.result['artifact']['state'] == 'initial'


def test_wait_false_on_a_known_url_is_no_change_yet(api: FakeCluster) -> None:
    api.seed(URL, [b'one'])
    outcome = publish(api, url=URL, wait=False)
    assert not outcome.changed and steps(outcome) == [('fetch', 'unchanged')]


def test_a_known_url_with_the_same_content_is_unchanged(api: FakeCluster) -> None:
    uuid = api.seed(URL, [b'old', b'same'])
    api.remote[URL] = b'same'
    outcome = publish(api, url=URL)
    assert not outcome.changed and steps(outcome) == [('fetch', 'unchanged')] and 'is unchanged' in outcome.actions[0]
    assert outcome.result['version']['index'] == 2 and api.indexes(uuid) == [1, 2]


def test_a_known_url_with_new_content_gets_a_version(api: FakeCluster) -> None:
    uuid = api.seed(URL, [b'old'])
    api.remote[URL] = b'new'
    outcome = publish(api, url=URL)
    assert outcome.changed and outcome.result['version']['index'] == 2 and api.sha_of(uuid, 2) == sha512(b'new')


def test_a_fetched_version_that_is_not_the_checksum_is_removed(api: FakeCluster) -> None:
    uuid = api.seed(URL, [b'old'])
    api.remote[URL] = b'tampered'
    failed = failing(api, url=URL, checksum=sha512(b'expected'))
    assert failed.kind == 'invalid_input' and 'was removed' in str(failed)
    assert api.wrote('delete_version') == [('delete_version', uuid, 2)] and api.indexes(uuid) == [1]


def test_an_unchanged_url_that_is_not_the_checksum_fails_and_deletes_nothing(api: FakeCluster) -> None:
    api.seed(URL, [b'old'])
    api.remote[URL] = b'old'
    failed = failing(api, url=URL, checksum=sha512(b'expected'))
    assert failed.kind == 'invalid_input' and api.wrote('delete_version') == []


def test_label_points_at_the_fetched_version(api: FakeCluster) -> None:
    api.remote[URL] = b'image'
    outcome = publish(api, url=URL, label='stable')
    assert outcome.result['label']['blob_uuid'] == outcome.result['version']['blob_uuid']
    with pytest.raises(SfInvalidInput, match='label needs wait: true'):
        publish(api, url=URL, label='stable', wait=False)


def test_max_versions_of_a_known_url_is_raised_before_the_fetch(api: FakeCluster) -> None:
    uuid = api.seed(URL, [b'one', b'two', b'three'])
    api.remote[URL] = b'four'
    outcome = publish(api, url=URL, max_versions=5)
    assert api.indexes(uuid) == [1, 2, 3, 4] and outcome.result['artifact']['max_versions'] == 5


# Check mode asks the URL itself
def test_check_mode_on_a_new_url_would_fetch(api: FakeCluster) -> None:
    outcome = publish(api, check_mode=True, url=URL)
    assert outcome.changed and api.writes == [] and outcome.actions[0].startswith('would ask the cluster to fetch')
    # The artifact the fetch makes, predicted: what is not known before the fetch (UUID, version) is null.
    artifact = outcome.result['artifact']
    assert artifact['uuid'] is None and artifact['name'] == 'web.qcow2' and artifact['source_url'] == URL
    assert (artifact['max_versions'], artifact['shared'], artifact['state']) == (3, False, 'created')
    assert outcome.result['ref'] is None and outcome.after['version'] is None


def test_check_mode_on_a_known_url_predicts_the_settings_the_run_sets(api: FakeCluster) -> None:
    api.seed(URL, [b'same'])
    api.web[URL] = b'other'
    predicted = publish(api, check_mode=True, url=URL, max_versions=6)
    assert api.writes == [] and predicted.result['artifact']['max_versions'] == 6
    assert predicted.after['version'] is None  # a new version if the content changed: not a string
    api.remote[URL] = b'other'
    done = publish(api, url=URL, max_versions=6)
    assert done.result['artifact']['max_versions'] == 6
    assert {**predicted.result['artifact'], 'uuid': done.result['artifact']['uuid']} == done.result['artifact']


@pytest.mark.parametrize(('size', 'modified', 'changed'), [
    (4, time.time() - 7200, False),  # same size, not modified since the fetch
    (5, time.time() - 7200, True),  # another size
    (4, time.time(), True),  # modified after the fetch
    (4, None, None),  # the headers do not tell
], ids=['unchanged', 'another-size', 'modified-since', 'headers-do-not-tell'])
def test_check_mode_on_a_known_url_reads_its_headers(api: FakeCluster, size: int, modified: float | None,
                                                     changed: bool | None) -> None:
    api.seed(URL, [b'same'])
    api.web[URL] = b'x' * size
    if modified is not None:
        api.web_headers[URL] = {'Last-Modified': formatdate(modified, usegmt=True)}
    outcome = publish(api, check_mode=True, url=URL)
    assert api.writes == [] and outcome.result['url_check']['changed'] is changed
    assert outcome.changed is (changed is not False)
    assert steps(outcome) == [('note', 'unchanged')] if changed is False else [('fetch', 'planned')]


# Deleting
def test_delete_by_name_then_again(api: FakeCluster) -> None:
    uuid = api.upload_named('web', [b'one'])
    predicted = publish(api, check_mode=True, name='web', state='absent')
    assert predicted.changed and api.writes == [] and not predicted.after['exists']
    outcome = publish(api, name='web', state='absent')
    assert outcome.changed and api.writes == [('delete_artifact', uuid)] and not outcome.after['exists']
    again = publish(api, name='web', state='absent')
    assert not again.changed and len(api.writes) == 1


def test_delete_an_errored_fetch_by_url(api: FakeCluster) -> None:
    uuid = failed_earlier(api)
    outcome = publish(api, url=URL, state='absent')
    assert outcome.changed and api.writes == [('delete_artifact', uuid)] and 'state error' in outcome.actions[0]


@pytest.mark.parametrize('form', ['{}', 'sf://artifact/{}', 'upper'])
def test_delete_by_uuid(api: FakeCluster, form: str) -> None:
    uuid = api.upload_named('web', [b'one'])
    name = uuid.upper() if form == 'upper' else form.format(uuid)
    outcome = publish(api, name=name, state='absent')
    assert outcome.changed and api.writes == [('delete_artifact', uuid)]
    assert not publish(api, name=name, state='absent').changed and len(api.writes) == 1


def test_delete_one_version(api: FakeCluster) -> None:
    uuid = api.upload_named('web', [b'one', b'two', b'three'])
    outcome = publish(api, name='web', state='absent', version=2)
    assert outcome.changed and api.writes == [('delete_version', uuid, 2)] and outcome.after['versions'] == [1, 3]
    missing = publish(api, name='web', state='absent', version=2)
    assert not missing.changed and 'has no version 2' in missing.actions[0] and len(api.writes) == 1


def test_another_namespaces_artifact_is_never_deleted() -> None:
    api = FakeCluster('ci', trusted_by=('team',))
    uuid = api.upload_named('web', [b'one'], namespace='team')
    for name in (uuid, f'sf://artifact/{uuid}'):
        with pytest.raises(SfForbidden, match="owned by namespace 'team'"):
            publish(api, name=name, state='absent')
    with pytest.raises(SfForbidden, match="owned by namespace 'team'"):
        publish(api, name='web', state='absent', target='team')
    # By name, web means the caller's own (there is none): nothing to do.
    assert not publish(api, name='web', state='absent').changed
    assert api.writes == [] and api.artifacts[uuid].state == 'created'


# A server without cluster operations (0.7.2) keeps a known URL's artifact `created` while it checks it: the end of
# the fetch is in its events.
def test_without_operations_a_known_url_with_the_same_content_ends_on_its_fetch_event(api: FakeCluster) -> None:
    api.capabilities.discard('get-cluster-operations')
    uuid = api.seed(URL, [b'same'])
    api.remote[URL], api.fetch_pauses = b'same', 3
    outcome = publish(api, url=URL)
    assert not outcome.changed and steps(outcome) == [('fetch', 'unchanged')]
    assert api.pauses >= 3 and api.indexes(uuid) == [1]  # it waited for the fetch, not its answer


def test_without_operations_a_known_url_with_new_content_gets_a_version(api: FakeCluster) -> None:
    api.capabilities.discard('get-cluster-operations')
    uuid = api.seed(URL, [b'old'])
    api.remote[URL], api.fetch_pauses = b'new', 3
    outcome = publish(api, url=URL)
    assert outcome.changed and outcome.result['version']['index'] == 2 and api.indexes(uuid) == [1, 2]


def test_without_operations_a_known_url_that_broke_fails_though_the_artifact_stays_created(api: FakeCluster) -> None:
    api.capabilities.discard('get-cluster-operations')
    uuid = api.seed(URL, [b'old'])
    api.remote[URL] = f'fetching {URL} failed: HTTP 404'
    failed = failing(api, url=URL)
    # The URL answered 404: not_found naming it, like a new URL's 404 (test_user_errors.py).
    assert failed.kind == 'not_found' and 'HTTP 404 (the cluster keeps the versions it had)' in str(failed)
    assert api.artifacts[uuid].state == 'created' and api.indexes(uuid) == [1]


def test_without_operations_events_before_the_request_do_not_end_the_wait(api: FakeCluster) -> None:
    api.capabilities.discard('get-cluster-operations')
    uuid = api.seed(URL, [b'same'])
    api._event(api.artifacts[uuid], 'artifact fetch complete')  # an earlier fetch's
    api.remote[URL], api.fetch_pauses = b'same', 4
    publish(api, url=URL)
    assert api.pauses >= 4
