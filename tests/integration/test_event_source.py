"""The sf_artifact_events event source as ansible-rulebook runs it: the plugin file loaded by path, its
`main(queue, args)` under asyncio against a live backend, changes made through the REST API while it polls. It must
emit exactly the changes made, in order, once each; a restart with its state file emits only what changed while it
was down; a failing server is retried with backoff and the key never reaches the log."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import runpy
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from tools.sfsupport.backend import Backend, backend_kind

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = (ROOT / '.tmp' / 'collections' / 'ansible_collections' / 'shakenfist' / 'storage' / 'extensions' / 'eda'
          / 'plugins' / 'event_source' / 'sf_artifact_events.py')
LOGGER = 'shakenfist.storage.sf_artifact_events'
INTERVAL = 0.2
WAIT = 30.0  # seconds an expected event may take on a busy machine
QUIET = 8 * INTERVAL  # polls that must pass without an unexpected event
emulator_only = pytest.mark.skipif(backend_kind() != 'emulator', reason='fault injection needs the emulator')


def source_main() -> Callable[..., Any]:
    """The plugin's main, loaded the way ansible-rulebook loads it (runpy.run_path of the file in the collection)."""
    return runpy.run_path(str(PLUGIN))['main']


class Tenant:
    """A namespace of its own and the REST calls that change it (set-up, not the code under test)."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.namespace, self.key = backend.new_namespace('eda')

    def call(self, method: str, path: str, body: Any = None) -> Any:
        return self.backend.call(method, path, body, namespace=self.namespace, key=self.key)

    def publish(self, name: str) -> dict[str, Any]:
        upload = self.call('POST', '/upload')
        self.backend.send_bytes(f'/upload/{upload["uuid"]}', os.urandom(4096), namespace=self.namespace,
                                key=self.key)
        return dict(self.call('POST', f'/artifacts/upload/{name}', {'upload_uuid': upload['uuid']}))

    def label(self, name: str, blob_uuid: str) -> dict[str, Any]:
        return dict(self.call('POST', f'/label/{name}', {'blob_uuid': blob_uuid}))

    def delete_version(self, uuid: str, index: int) -> None:
        self.call('DELETE', f'/artifacts/{uuid}/versions/{index}')

    def args(self, **extra: Any) -> dict[str, Any]:
        return {'api_url': self.backend.url, 'namespace': self.namespace, 'key': self.key, 'interval': INTERVAL,
                'retries': 0, 'timeout': 10, **extra}


class Running:
    def __init__(self, queue: asyncio.Queue[Any], task: asyncio.Task[None]) -> None:
        self.queue = queue
        self.task = task

    async def next(self, timeout: float = WAIT) -> dict[str, Any]:
        """The next event; fails if the source died or nothing came in time."""
        getter = asyncio.ensure_future(self.queue.get())
        done = (await asyncio.wait({getter, self.task}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED))[0]
        if getter in done:
            return dict(getter.result())
        getter.cancel()
        if self.task in done:
            raise AssertionError(f'the source stopped: {self.task.exception()!r}')
        raise AssertionError(f'no event within {timeout}s')

    async def nothing_more(self) -> None:
        await asyncio.sleep(QUIET)
        extra = []
        while not self.queue.empty():
            extra.append(self.queue.get_nowait())
        assert not extra, f'events nobody caused: {json.dumps(extra, indent=1)}'
        assert not self.task.done(), f'the source stopped: {self.task.exception()!r}'


@asynccontextmanager
async def running(args: dict[str, Any]) -> AsyncIterator[Running]:
    queue: asyncio.Queue[Any] = asyncio.Queue()
    task = asyncio.create_task(source_main()(queue, args))
    try:
        yield Running(queue, task)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def until(check: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, f'{what} did not happen within {timeout}s'
        await asyncio.sleep(0.05)


def summary(event: dict[str, Any]) -> tuple[Any, ...]:
    kind = event['type']
    if kind == 'label_moved':
        return (kind, event['label'], event['from_version'], event['to_version'])
    if kind == 'artifact_deleted':
        return (kind, event['name'], tuple(v['version'] for v in event['versions']))
    return (kind, event['name'], event.get('version'))


def test_each_change_is_emitted_once_in_order_and_a_restart_emits_only_what_changed_meanwhile(
        backend: Backend, tmp_path: Path) -> None:
    tenant = Tenant(backend)
    state = tmp_path / 'seen.json'

    async def scenario() -> None:
        async with running(tenant.args(state_file=str(state))) as source:
            await until(state.exists, 'the baseline poll')  # what is there at the start is no change
            v1 = await asyncio.to_thread(tenant.publish, 'web-image')
            added = await source.next()
            assert added == {
                'type': 'version_added', 'namespace': tenant.namespace, 'name': 'web-image',
                'artifact_uuid': v1['uuid'], 'artifact_type': 'image', 'version': 1, 'blob_uuid': v1['blob_uuid'],
                'newest': True, 'new_artifact': True}
            v2 = await asyncio.to_thread(tenant.publish, 'web-image')
            added = await source.next()
            assert summary(added) == ('version_added', 'web-image', 2)
            assert (added['blob_uuid'], added['new_artifact']) == (v2['blob_uuid'], False)

            label = await asyncio.to_thread(tenant.label, 'web', v1['blob_uuid'])
            moved = await source.next()
            image_v1 = {'namespace': tenant.namespace, 'name': 'web-image', 'artifact_uuid': v1['uuid'],
                        'artifact_type': 'image', 'version': 1}
            assert {k: v for k, v in moved.items() if k != 'who'} == {
                'type': 'label_moved', 'namespace': tenant.namespace, 'name': 'web', 'label': 'web',
                'artifact_uuid': label['uuid'], 'artifact_type': 'label', 'from_version': None, 'from_blob': None,
                'from_image': None, 'to_version': 1, 'to_blob': v1['blob_uuid'], 'to_image': image_v1}
            await asyncio.to_thread(tenant.label, 'web', v2['blob_uuid'])
            moved = await source.next()
            assert summary(moved) == ('label_moved', 'web', 1, 2)
            assert (moved['from_image'], moved['to_image']['version']) == (image_v1, 2)
            if backend.is_emulator:  # the emulator records which node added the label's version
                assert moved['who'] and moved['who']['node'], moved['who']

            await asyncio.to_thread(tenant.delete_version, v1['uuid'], 1)
            deleted = await source.next()
            assert deleted == {
                'type': 'version_deleted', 'namespace': tenant.namespace, 'name': 'web-image',
                'artifact_uuid': v1['uuid'], 'artifact_type': 'image', 'version': 1, 'blob_uuid': v1['blob_uuid']}
            await source.nothing_more()

        # Down: one more version is published. Up again with the same state file: only that one is emitted.
        await asyncio.to_thread(tenant.publish, 'web-image')
        async with running(tenant.args(state_file=str(state))) as source:
            assert summary(await source.next()) == ('version_added', 'web-image', 3)
            await source.nothing_more()

    asyncio.run(scenario())


def test_without_a_state_file_the_first_poll_is_a_baseline_and_changes_between_polls_come_in_causal_order(
        backend: Backend, caplog: pytest.LogCaptureFixture) -> None:
    tenant = Tenant(backend)
    before = tenant.publish('old-image')
    caplog.set_level(logging.INFO, logger=LOGGER)

    async def scenario() -> None:
        # A longer interval, so the image and the label it gets usually land in one poll: publishing comes first.
        async with running(tenant.args(interval=2)) as source:
            await until(lambda: 'baseline taken: 1 artifact(s) seen' in caplog.text, 'the baseline poll')
            new = await asyncio.to_thread(tenant.publish, 'new-image')
            await asyncio.to_thread(tenant.label, 'stable', new['blob_uuid'])
            await asyncio.to_thread(tenant.call, 'DELETE', f'/artifacts/{before["uuid"]}')
            events = [await source.next(), await source.next(), await source.next()]
            assert [summary(e) for e in events] == [
                ('version_added', 'new-image', 1), ('label_moved', 'stable', None, 1),
                ('artifact_deleted', 'old-image', (1,))]
            await source.nothing_more()

    asyncio.run(scenario())


@emulator_only
def test_failed_polls_are_retried_with_backoff_logged_without_the_key_and_nothing_is_lost(
        backend: Backend, caplog: pytest.LogCaptureFixture) -> None:
    tenant = Tenant(backend)
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    backend.emulator.add_fault(method='GET', path='^/artifacts$', kind='fail', status=503, count=4)

    async def scenario() -> None:
        async with running(tenant.args(emit_initial=True, max_backoff=1)) as source:
            image = await asyncio.to_thread(tenant.publish, 'during-outage')
            event = await source.next()  # after four failed polls
            assert (event['type'], event['artifact_uuid']) == ('version_added', image['uuid'])
            await source.nothing_more()

    asyncio.run(scenario())
    failures = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and 'failed' in r.getMessage()]
    assert len(failures) == 4, failures
    delays = [float(m.split('next poll in ')[1].split('s:')[0]) for m in failures]
    # Doubling from the interval, capped at max_backoff, each jittered down to at most half (the one schedule).
    assert all(nominal / 2 <= delay <= nominal for delay, nominal in zip(delays, [0.2, 0.4, 0.8, 1.0])), failures
    assert any('works again after 4' in r.getMessage() for r in caplog.records)
    assert tenant.key not in caplog.text


def test_a_wrong_key_or_an_unreachable_server_keeps_polling_and_never_logs_the_key(
        backend: Backend, caplog: pytest.LogCaptureFixture) -> None:
    tenant = Tenant(backend)
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    wrong = 'wrong-' + tenant.key
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        closed = f'http://127.0.0.1:{probe.getsockname()[1]}'

    logs = []

    async def scenario() -> None:
        for args in (tenant.args(key=wrong), tenant.args(api_url=closed)):
            caplog.clear()
            async with running({**args, 'max_backoff': 0.4}) as source:
                await until(lambda: sum('failed' in r.getMessage() for r in caplog.records
                                        if r.levelno == logging.WARNING) >= 3, 'three failed polls')
                assert not source.task.done()
            logs.append(caplog.text)

    asyncio.run(scenario())
    assert 'unauthenticated' in logs[0].lower() or '401' in logs[0], logs[0][-2000:]
    assert closed in logs[1], logs[1][-2000:]
    for secret in (tenant.key, wrong):
        assert secret not in logs[0] + logs[1]


@emulator_only
def test_a_label_whose_events_cannot_be_read_still_moves_with_who_unknown(
        backend: Backend, caplog: pytest.LogCaptureFixture) -> None:
    tenant = Tenant(backend)
    image = tenant.publish('base')
    backend.emulator.add_fault(method='GET', path='/events$', kind='fail', status=500, count=None)

    async def scenario() -> None:
        async with running(tenant.args(types=['label'], emit_initial=True)) as source:
            await asyncio.to_thread(tenant.label, 'web', image['blob_uuid'])
            moved = await source.next()
            assert (moved['type'], moved['label'], moved['who']) == ('label_moved', 'web', None)
            assert moved['to_image']['artifact_uuid'] == image['uuid']  # the listing still names the image
            await source.nothing_more()

    try:
        asyncio.run(scenario())
    finally:
        backend.emulator.clear_faults()
    assert 'who moved it is not known' in caplog.text


def test_wrong_arguments_are_an_error_before_anything_is_polled(backend: Backend, tmp_path: Path) -> None:
    tenant = Tenant(backend)
    corrupt = tmp_path / 'seen.json'
    corrupt.write_text('{"format": 1, "artifacts": ')
    cases = {
        'unknown argument(s) namespace_list': tenant.args(namespace_list=['x']),
        'interval must be a positive number': tenant.args(interval=0),
        'types: disk is not one of': tenant.args(types=['image', 'disk']),
        f'state_file {corrupt} cannot be read': tenant.args(state_file=str(corrupt)),
        'does not exist': tenant.args(state_file=str(tmp_path / 'missing' / 'seen.json')),
    }
    for message, args in cases.items():
        with pytest.raises(ValueError, match='sf_artifact_events: ') as raised:
            asyncio.run(source_main()(asyncio.Queue(), args))
        assert message in str(raised.value)
        assert tenant.key not in str(raised.value)
