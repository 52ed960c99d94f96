"""sf_image_publish under injected faults (emulator only): dropped and refused chunks, a failed convert, and
tokens expiring mid-upload. Each case runs the module through ansible-playbook, as users run it, then checks
what the cluster holds: the right bytes, or nothing half-made (no artifact, no version, no upload bytes).
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.integration.processes import finish_playbook, kill_tree, start_playbook
from tools.sfsupport.backend import Backend, backend_kind

pytestmark = pytest.mark.skipif(backend_kind() != 'emulator', reason='fault injection needs the emulator')

MIB = 1024 * 1024
CHUNK_PATH = r'^/upload/[0-9a-f-]{36}$'
CONVERT_PATH = r'^/artifacts/upload/'

PLAYBOOK = '''---
- name: Publish under faults
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Publish
      shakenfist.storage.sf_image_publish: "{{ publish_args }}"
      register: publish_result
      ignore_errors: true
    - name: Save the result
      ansible.builtin.copy:
        content: "{{ publish_result | to_json }}"
        dest: "{{ result_file }}"
        mode: '0600'
'''


@dataclass
class Case:
    backend: Backend
    namespace: str
    key: str
    workdir: Path
    name: str
    src: Path

    @property
    def sha512(self) -> str:
        return hashlib.sha512(self.src.read_bytes()).hexdigest()

    def args(self, **extra: Any) -> dict[str, Any]:
        return {'api_url': self.backend.url, 'namespace': self.namespace, 'key': self.key, 'name': self.name,
                'src': str(self.src), 'chunk_size': 1, 'checksum_cache': False,
                'checksum_cache_dir': str(self.workdir / 'state'), **extra}

    def start(self, **extra: Any) -> tuple[subprocess.Popen[str], Path]:
        return start_playbook(self.workdir, PLAYBOOK, {'publish_args': self.args(**extra)})

    def finish(self, process: subprocess.Popen[str], result_file: Path) -> dict[str, Any]:
        result = finish_playbook(process, result_file)
        # ansible-core 2.19 adds exception='(traceback unavailable)' to every failure that carries no traceback.
        assert result.get('exception', '(traceback unavailable)') == '(traceback unavailable)', result
        return result

    def publish(self, **extra: Any) -> dict[str, Any]:
        return self.finish(*self.start(**extra))

    # What the cluster holds afterwards, read with the API (not the code under test).
    def artifacts(self) -> list[dict[str, Any]]:
        url = f'sf://upload/{self.namespace}/{self.name}'
        listing = self.backend.call('GET', '/artifacts', namespace=self.namespace, key=self.key) or []
        return [a for a in listing if a.get('source_url') == url]

    def versions(self, uuid: str) -> list[dict[str, Any]]:
        return list(self.backend.call('GET', f'/artifacts/{uuid}/versions', namespace=self.namespace, key=self.key))

    def upload_sizes(self, since: int) -> dict[str, int]:
        """Bytes left in each upload the module wrote to since `since` (0 when emptied or expired)."""
        uuids = {r['path'].split('/')[2] for r in self.backend.emulator.request_log(since=since)
                 if re.match(CHUNK_PATH, r['path'])}
        sizes = {}
        for upload in uuids:
            path = self.backend.emulator.data_dir / 'uploads' / upload
            sizes[upload] = path.stat().st_size if path.exists() else 0
        return sizes


@pytest.fixture
def case(backend: Backend, tmp_path: Path) -> Iterator[Case]:
    namespace, key = backend.new_namespace('faults')
    src = tmp_path / 'image.img'
    src.write_bytes(os.urandom(8 * MIB + 12345))  # nine chunks of 1 MiB, the last one short
    yield Case(backend, namespace, key, tmp_path, f'faulty-{os.urandom(3).hex()}', src)
    backend.emulator.clear_faults()


def chunks_since(backend: Backend, mark: int) -> list[dict[str, Any]]:
    return [r for r in backend.emulator.request_log(since=mark) if r['method'] == 'POST'
            and re.match(CHUNK_PATH, r['path'])]


def when_chunks_done(case: Case, count: int, action: Callable[[], None], **extra: Any) -> dict[str, Any]:
    """Run the publish in the background and call `action` once `count` chunks were answered."""
    backend = case.backend
    mark = backend.request_mark()
    # Slow chunks down a little so the action lands in the middle of the upload, not after it.
    backend.emulator.add_fault(kind='latency', method='POST', path=CHUNK_PATH, seconds=0.15, count=None)
    process, result_file = case.start(**extra)
    deadline = time.monotonic() + 120
    while len(chunks_since(backend, mark)) < count:
        assert process.poll() is None, 'the publish ended before the fault could be injected'
        assert time.monotonic() < deadline, 'no upload chunks seen'
        time.sleep(0.02)
    action()
    return case.finish(process, result_file)


def assert_published(case: Case, result: dict[str, Any], mark: int) -> None:
    assert not result.get('failed'), result
    assert result['changed'] and result['uploaded_bytes'] == case.src.stat().st_size
    found = case.artifacts()
    assert len(found) == 1, found
    versions = case.versions(found[0]['uuid'])
    assert [v['index'] for v in versions] == [1], versions
    assert versions[0]['sha512'] == case.sha512 == result['version']['sha512']
    assert versions[0]['size'] == case.src.stat().st_size
    # The upload was converted: the emulator moved its bytes into the blob, nothing lingers.
    assert set(case.upload_sizes(mark).values()) <= {0}, case.upload_sizes(mark)


def assert_nothing_left(case: Case, mark: int) -> None:
    found = case.artifacts()
    assert found == [] or all(a['state'] == 'deleted' for a in found), found
    assert set(case.upload_sizes(mark).values()) <= {0}, case.upload_sizes(mark)


def assert_clean_failure(case: Case, result: dict[str, Any]) -> None:
    assert result['failed'] is True
    assert result['msg'].startswith(f'publish image {case.name!r} failed: '), result['msg']
    assert '\n' not in result['msg'] and 'Traceback' not in result['msg']
    error = result['error']
    assert isinstance(error, dict) and error['type'] and error['method'] == 'POST' and error['path'], error


def test_connection_dropped_mid_chunk_resumes(case: Case) -> None:
    mark = case.backend.request_mark()
    drop = {'kind': 'drop', 'method': 'POST', 'path': CHUNK_PATH, 'after_bytes': 300_000, 'count': 1}
    result = when_chunks_done(case, 3, lambda: case.backend.emulator.add_fault(**drop))
    assert_published(case, result, mark)
    assert any('resumed' in action for action in result['actions']), result['actions']
    # The dropped chunk was truncated away and sent again: one truncate, nine chunks answered with a size.
    log = case.backend.emulator.request_log(since=mark)
    truncates = [r for r in log if '/truncate/' in r['path']]
    assert len(truncates) == 1, truncates
    assert int(truncates[0]['path'].rsplit('/', 1)[1]) in (3 * MIB, 4 * MIB, 5 * MIB), truncates
    assert [r['status'] for r in chunks_since(case.backend, mark)].count(200) == 9


def test_dropped_first_chunk_resumes(case: Case) -> None:
    mark = case.backend.request_mark()
    case.backend.emulator.add_fault(kind='drop', method='POST', path=CHUNK_PATH, after_bytes=1000, count=1)
    result = case.publish()
    assert_published(case, result, mark)


def test_503_on_chunks_resumes(case: Case) -> None:
    mark = case.backend.request_mark()
    fault = {'kind': 'fail', 'method': 'POST', 'path': CHUNK_PATH, 'status': 503, 'count': 2}
    result = when_chunks_done(case, 2, lambda: case.backend.emulator.add_fault(**fault))
    assert_published(case, result, mark)
    statuses = [r['status'] for r in chunks_since(case.backend, mark)]
    assert statuses.count(503) == 2 and statuses.count(200) == 9, statuses


def test_chunks_failing_for_ever_fail_cleanly_and_leave_nothing(case: Case) -> None:
    mark = case.backend.request_mark()
    fault = {'kind': 'fail', 'method': 'POST', 'path': CHUNK_PATH, 'status': 503, 'count': None}
    result = when_chunks_done(case, 2, lambda: case.backend.emulator.add_fault(**fault), retries=1)
    assert_clean_failure(case, result)
    assert result['error']['status'] == 503
    assert_nothing_left(case, mark)


def test_500_on_convert(case: Case) -> None:
    mark = case.backend.request_mark()
    case.backend.emulator.add_fault(kind='fail', method='POST', path=CONVERT_PATH, status=500, count=1,
                                    message='server error: injected conversion failure')
    result = case.publish()
    if result.get('failed'):
        assert_clean_failure(case, result)
        assert result['error']['status'] == 500
        assert_nothing_left(case, mark)
    else:
        assert_published(case, result, mark)
    # Either way a second run publishes (or has published) exactly one version with the file's bytes.
    again = case.publish()
    assert not again.get('failed'), again
    found = case.artifacts()
    assert len(found) == 1 and [v['sha512'] for v in case.versions(found[0]['uuid'])] == [case.sha512]


def test_500_on_every_convert_fails_cleanly_and_leaves_nothing(case: Case) -> None:
    mark = case.backend.request_mark()
    case.backend.emulator.add_fault(kind='fail', method='POST', path=CONVERT_PATH, status=500, count=None)
    result = case.publish()
    assert_clean_failure(case, result)
    assert result['error']['status'] == 500
    assert_nothing_left(case, mark)


def test_tokens_expire_mid_upload(case: Case) -> None:
    mark = case.backend.request_mark()
    result = when_chunks_done(case, 3, lambda: case.backend.emulator.add_fault(kind='expire_tokens'))
    if result.get('failed'):
        assert_clean_failure(case, result)
        assert_nothing_left(case, mark)
    else:
        assert_published(case, result, mark)
        log = case.backend.emulator.request_log(since=mark)
        assert any(r['status'] == 401 for r in log), 'the expiry did not hit the upload'
        assert sum(1 for r in log if r['path'] == '/auth' and r['status'] == 200) >= 2


def kill_mid_upload(case: Case, chunks: int) -> int:
    """Start a publish, SIGKILL the playbook and its module process once `chunks` chunks were stored (as an AWX job
    timeout or a lost controller would), and return the upload UUID it was writing to."""
    backend = case.backend
    mark = backend.request_mark()
    backend.emulator.add_fault(kind='latency', method='POST', path=CHUNK_PATH, seconds=0.3, count=None)
    process, _result_file = case.start()
    deadline = time.monotonic() + 120
    while len([r for r in chunks_since(backend, mark) if r['status'] == 200]) < chunks:
        assert process.poll() is None, 'the publish ended before it could be killed'
        assert time.monotonic() < deadline, 'no upload chunks seen'
        time.sleep(0.02)
    kill_tree(process.pid)
    process.wait(timeout=30)
    backend.emulator.clear_faults()
    return mark


def test_a_killed_run_is_resumed_by_the_next(case: Case) -> None:
    mark = kill_mid_upload(case, 3)
    killed = case.upload_sizes(mark)
    assert len(killed) == 1 and list(killed.values())[0] >= 3 * MIB, killed
    result = case.publish()
    assert not result.get('failed'), result
    size = case.src.stat().st_size
    assert result['resumed_bytes'] >= 3 * MIB and result['uploaded_bytes'] + result['resumed_bytes'] == size, result
    assert any('resumed' in action and 'interrupted' in action for action in result['actions']), result['actions']
    found = case.artifacts()
    assert len(found) == 1 and [v['sha512'] for v in case.versions(found[0]['uuid'])] == [case.sha512]
    assert result['version']['sha512'] == case.sha512
    # The resumed upload was converted: its bytes became the blob, nothing lingers.
    assert set(case.upload_sizes(mark).values()) <= {0}, case.upload_sizes(mark)


def test_a_killed_upload_of_a_file_changed_since_is_dropped(case: Case) -> None:
    mark = kill_mid_upload(case, 2)
    with open(case.src, 'r+b') as handle:
        handle.write(os.urandom(4096))
    result = case.publish()
    assert not result.get('failed'), result
    assert result['resumed_bytes'] == 0 and result['uploaded_bytes'] == case.src.stat().st_size
    assert result['version']['sha512'] == case.sha512
    # The stale upload the killed run started was emptied, not left to expire.
    assert set(case.upload_sizes(mark).values()) <= {0}, case.upload_sizes(mark)


def test_a_killed_upload_of_a_deleted_file_is_emptied_by_any_later_publish(case: Case) -> None:
    mark = kill_mid_upload(case, 2)
    case.src.unlink()
    other = case.workdir / 'other.img'
    other.write_bytes(os.urandom(MIB + 7))
    result = case.publish(name=f'{case.name}-other', src=str(other))
    assert not result.get('failed'), result
    # Nobody can resume an upload of a file that is gone: the next publish on this host emptied it.
    assert set(case.upload_sizes(mark).values()) <= {0}, case.upload_sizes(mark)
