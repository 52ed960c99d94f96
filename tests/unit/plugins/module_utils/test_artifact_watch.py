"""The event source's arguments, state file and polls over a fake API: a baseline first, a restart that re-emits
nothing, a state file that cannot be trusted refused at the start, who moved a label best effort."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ansible_collections.shakenfist.storage.plugins.module_utils._artifact_changes import Scope
from ansible_collections.shakenfist.storage.plugins.module_utils._artifact_watch import (
    ArtifactWatcher,
    WatchOptions,
    added_index,
    backoff_delay,
    write_atomically,
)
from ansible_collections.shakenfist.storage.plugins.module_utils._errors import SfInvalidInput, SfServerError
from ansible_collections.shakenfist.storage.plugins.module_utils._models import Artifact

SCOPE = Scope(frozenset({'ci'}))


class FakeApi:
    url = 'https://sf.example.com/api'
    namespace = 'ci'

    def __init__(self) -> None:
        self.artifacts: dict[str, dict[str, Any]] = {}
        self.events: dict[str, list[dict[str, Any]]] = {}
        self.event_reads: list[str] = []
        self.events_fail = False

    def put(self, uuid: str, name: str, versions: dict[int, str], kind: str = 'image') -> None:
        url = f'sf://label/ci/{name}' if kind == 'label' else f'sf://upload/ci/{name}'
        self.artifacts[uuid] = {'uuid': uuid, 'state': 'created', 'artifact_type': kind, 'source_url': url,
                                'namespace': 'ci', 'blobs': {str(i): {'uuid': b} for i, b in versions.items()}}

    def list_artifacts(self, refresh: bool = False) -> list[Artifact]:
        assert refresh, 'every poll reads the listing afresh'
        return [Artifact.model_validate(raw) for raw in self.artifacts.values()]

    def artifact_events(self, uuid: str, limit: int, owner: str | None = None) -> list[dict[str, Any]]:
        self.event_reads.append(uuid)
        if self.events_fail:
            raise SfServerError('eventlog node unreachable', status=500)
        return self.events.get(uuid, [])[:limit]


def watcher(api: FakeApi, state: Path | None = None, **kwargs: Any) -> ArtifactWatcher:
    return ArtifactWatcher(api, SCOPE, str(state) if state else None, **kwargs)


def kinds(events: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(e['type'], e['name']) for e in events]


def test_the_first_poll_is_a_baseline_then_each_poll_emits_what_changed_since() -> None:
    api = FakeApi()
    api.put('a1', 'web-image', {1: 'b1'})
    watch = watcher(api)
    assert watch.poll() == []
    watch.commit()
    api.put('a1', 'web-image', {1: 'b1', 2: 'b2'})
    assert kinds(watch.poll()) == [('version_added', 'web-image')]
    watch.commit()
    assert watch.poll() == []


def test_an_uncommitted_poll_is_emitted_again_by_the_next() -> None:
    api = FakeApi()
    watch = watcher(api)
    watch.poll()
    watch.commit()
    api.put('a1', 'web-image', {1: 'b1'})
    first = watch.poll()
    assert watch.poll() == first  # handing on failed: nothing is lost


def test_emit_initial_emits_what_is_there_at_the_start() -> None:
    api = FakeApi()
    api.put('a1', 'web-image', {1: 'b1'})
    api.put('l1', 'web', {1: 'b1'}, kind='label')
    assert kinds(watcher(api, emit_initial=True, who=False).poll()) == [
        ('version_added', 'web-image'), ('label_moved', 'web')]


def test_a_restart_with_the_state_file_emits_only_what_changed_while_down(tmp_path: Path) -> None:
    state = tmp_path / 'seen.json'
    api = FakeApi()
    api.put('a1', 'web-image', {1: 'b1'})
    first = watcher(api, state)
    first.load()
    first.poll()
    first.commit()
    api.put('a1', 'web-image', {1: 'b1', 2: 'b2'})
    assert kinds(first.poll()) == [('version_added', 'web-image')]
    first.commit()
    saved = json.loads(state.read_text())
    assert saved['format'] == 1 and saved['identity']['api_url'] == api.url
    assert saved['artifacts']['a1']['versions'] == {'1': 'b1', '2': 'b2'}

    api.put('a1', 'web-image', {2: 'b2', 3: 'b3'})
    second = watcher(api, state)
    second.load()
    assert [(e['type'], e['version']) for e in second.poll()] == [('version_added', 3), ('version_deleted', 1)]
    second.commit()
    third = watcher(api, state, emit_initial=True)
    third.load()
    assert third.poll() == []  # emit_initial only matters without a baseline


def test_a_state_file_of_another_cluster_login_or_scope_starts_a_new_baseline(tmp_path: Path) -> None:
    state = tmp_path / 'seen.json'
    api = FakeApi()
    first = watcher(api, state)
    first.poll()
    first.commit()
    api.put('a1', 'web-image', {1: 'b1'})
    logged: list[str] = []
    other = ArtifactWatcher(api, Scope(frozenset({'ci', 'qa'})), str(state), log=logged.append)
    other.load()
    assert other.poll() == [] and 'new baseline' in logged[0]


@pytest.mark.parametrize('content', ['', '{"format": 1, "artifacts": ', '[]', '{"format": 2}',
                                     '{"format": 1, "identity": {}, "artifacts": {"a": {"versions": {"x": "b"}}}}'])
def test_a_state_file_that_cannot_be_trusted_is_refused_with_a_way_out(tmp_path: Path, content: str) -> None:
    state = tmp_path / 'seen.json'
    state.write_text(content)
    with pytest.raises(SfInvalidInput, match='cannot be read') as raised:
        watcher(FakeApi(), state).load()
    assert 'delete it to start from a new baseline' in str(raised.value.hint)


def test_who_moved_a_label_comes_from_its_events_best_effort() -> None:
    api = FakeApi()
    api.put('l1', 'web', {1: 'b1'}, kind='label')
    watch = watcher(api)
    watch.poll()
    watch.commit()
    api.put('l1', 'web', {1: 'b1', 2: 'b2', 3: 'b3'}, kind='label')
    api.events['l1'] = [
        {'timestamp': 3.0, 'fqdn': 'sf-1', 'message': 'Added index 3 to artifact', 'extra': {'request-id': 'r3'}},
        {'timestamp': 2.5, 'fqdn': 'sf-1', 'message': 'Deleted index 1 from artifact', 'extra': {}},
        {'timestamp': 2.0, 'fqdn': 'sf-2', 'message': 'version added', 'extra': {'index': 2, 'blob_uuid': 'b2'}},
    ]
    moves = watch.poll()
    assert [m['who'] for m in moves] == [
        {'request_id': None, 'node': 'sf-2', 'timestamp': 2.0, 'message': 'version added'},
        {'request_id': 'r3', 'node': 'sf-1', 'timestamp': 3.0, 'message': 'Added index 3 to artifact'}]
    assert api.event_reads == ['l1']  # once per label and poll


def test_events_that_cannot_be_read_leave_who_unknown_and_never_fail_the_poll() -> None:
    api = FakeApi()
    logged: list[str] = []
    watch = watcher(api, emit_initial=True, log=logged.append)
    api.put('l1', 'web', {1: 'b1'}, kind='label')
    api.events_fail = True
    [moved] = watch.poll()
    assert moved['who'] is None and 'who moved it is not known' in logged[0]
    api.events_fail = False
    assert watcher(api, emit_initial=True).poll()[0]['who'] is None  # no matching event: None too
    assert watcher(api, emit_initial=True, who=False).poll()[0]['who'] is None
    assert api.event_reads == ['l1', 'l1']


@pytest.mark.parametrize(('row', 'index'), [
    ({'message': 'Added index 4 to artifact'}, 4),
    ({'message': 'version added', 'extra': {'index': 7}}, 7),
    ({'message': 'Deleted index 4 from artifact'}, None),
    ({'message': 'version removed by max_versions', 'extra': {'index': 1}}, None),
    ({'message': 'artifact state changed to created'}, None),
    ({}, None),
])
def test_added_index(row: dict[str, Any], index: int | None) -> None:
    assert added_index(row) == index


def test_options_defaults_and_environment(tmp_path: Path) -> None:
    options = WatchOptions.from_args({'eda_feedback_queue': object()}, environ={})
    assert (options.interval, options.max_backoff, options.state_file, options.emit_initial, options.who) == (
        30.0, 300.0, None, False, True)
    assert options.scope('ci') == Scope(frozenset({'ci'}))
    env = {'SHAKENFIST_VALIDATE_CERTS': 'false', 'SHAKENFIST_CA_PATH': '/etc/ca.pem'}
    options = WatchOptions.from_args({'namespaces': '*', 'include_shared': 'yes', 'types': ['label'],
                                      'names': 'web', 'interval': '5', 'state_file': str(tmp_path / 's.json')},
                                     environ=env)
    assert options.connection['validate_certs'] is False and options.connection['ca_path'] == '/etc/ca.pem'
    assert options.scope('ci') == Scope(None, True, frozenset({'web'}), frozenset({'label'}))
    assert (options.interval, options.max_backoff, options.state_file) == (5.0, 300.0, str(tmp_path / 's.json'))
    assert WatchOptions.from_args({'namespaces': ['qa', 'ci'], 'validate_certs': True},
                                  environ=env).scope('x').namespaces == frozenset({'qa', 'ci'})


@pytest.mark.parametrize(('args', 'message'), [
    ({'namespace_list': ['ci']}, 'unknown argument(s) namespace_list'),
    ({'interval': 0}, 'interval must be a positive number'),
    ({'interval': 'soon'}, 'interval must be a positive number'),
    ({'interval': True}, 'interval must be a positive number'),
    ({'interval': 60, 'max_backoff': 10}, 'max_backoff (10s) must not be shorter than interval (60s)'),
    ({'namespaces': []}, 'namespaces must be a non-empty list'),
    ({'namespaces': ['*', 'ci']}, "'*' (every namespace you can see) stands alone"),
    ({'namespaces': ['a/b']}, 'namespaces entry'),
    ({'types': ['image', 'disk']}, 'types: disk is not one of image, label, snapshot, other'),
    ({'emit_initial': 'maybe'}, 'emit_initial must be true or false'),
    ({'state_file': '/no/such/dir/seen.json'}, 'the directory /no/such/dir does not exist'),
    ({'state_file': 5}, 'state_file must be a path'),
])
def test_wrong_options(args: dict[str, Any], message: str) -> None:
    with pytest.raises(SfInvalidInput) as raised:
        WatchOptions.from_args(args, environ={})
    assert message in str(raised.value)


def test_backoff_doubles_from_the_interval_up_to_the_cap_jittered_down_to_half() -> None:
    draws = 50  # the jitter is random: many draws of each
    for failures, nominal in zip([1, 2, 3, 4, 5, 6, 10_000], [2, 4, 8, 16, 30, 30, 30]):
        delays = [backoff_delay(2, failures, 30) for draw in range(draws)]
        assert all(nominal / 2 <= delay <= nominal for delay in delays), (failures, delays)


def test_write_atomically_replaces_whole_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    path = tmp_path / 'seen.json'
    write_atomically(str(path), {'a': 1})
    write_atomically(str(path), {'a': 2})
    assert json.loads(path.read_text()) == {'a': 2}
    with pytest.raises(TypeError):
        write_atomically(str(path), {'a': object()})
    assert json.loads(path.read_text()) == {'a': 2}
    assert [p.name for p in tmp_path.iterdir()] == ['seen.json']
