"""sf_artifact_download when the connection breaks or the run is killed (docs/download.md): dest is never
half-written, and what arrived is resumed, by the same run or the next one."""

from __future__ import annotations

import hashlib
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.integration.processes import finish_playbook, kill_tree, start_playbook
from tools.sfsupport.backend import Backend, backend_kind

pytestmark = pytest.mark.skipif(backend_kind() != 'emulator', reason='fault injection needs the emulator')

MIB = 1024 * 1024
DATA_PATH = r'^/blobs/[0-9a-f-]{36}/data$'

PLAYBOOK = '''---
- name: Download under faults
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Publish
      shakenfist.storage.sf_image_publish: "{{ publish_args }}"
    - name: Download
      shakenfist.storage.sf_artifact_download: "{{ download_args }}"
      register: download_result
      ignore_errors: true
    - name: Save the result
      ansible.builtin.copy:
        content: "{{ download_result | to_json }}"
        dest: "{{ result_file }}"
        mode: '0600'
'''


@dataclass
class Case:
    backend: Backend
    namespace: str
    key: str
    workdir: Path
    src: Path
    dest: Path

    @property
    def sha512(self) -> str:
        return hashlib.sha512(self.src.read_bytes()).hexdigest()

    @property
    def partial(self) -> Path:
        return self.dest.parent / f'.{self.dest.name}.{self.sha512[:16]}.sfpart'

    def start(self) -> tuple[subprocess.Popen[str], Path]:
        connection = {'api_url': self.backend.url, 'namespace': self.namespace, 'key': self.key}
        return start_playbook(self.workdir, PLAYBOOK, {
            'publish_args': {**connection, 'name': 'image', 'src': str(self.src)},
            'download_args': {**connection, 'ref': 'image', 'dest': str(self.dest)}})

    def run(self) -> dict[str, Any]:
        return finish_playbook(*self.start())


@pytest.fixture
def case(backend: Backend, tmp_path: Path) -> Iterator[Case]:
    namespace, key = backend.new_namespace('dlfaults')
    src = tmp_path / 'image.img'
    src.write_bytes(os.urandom(4 * MIB + 4321))
    dest = tmp_path / 'out' / 'image.img'
    dest.parent.mkdir()
    dest.write_bytes(b'the previous backup')
    yield Case(backend, namespace, key, tmp_path, src, dest)
    backend.emulator.clear_faults()


def test_a_connection_broken_midway_is_resumed_in_the_same_run(case: Case) -> None:
    case.backend.emulator.add_fault(kind='cut', method='GET', path=DATA_PATH, after_bytes=MIB + 1000, count=2)
    result = case.run()
    assert not result.get('failed'), result
    assert case.dest.read_bytes() == case.src.read_bytes() and not case.partial.exists()
    offsets = [int(r['query'].get('offset', 0)) for r in case.backend.emulator.request_log()
               if r['path'] == f"/blobs/{result['blob_uuid']}/data"]
    # Each broken answer is resumed from what was written (whole blocks), never from the start.
    assert offsets[0] == 0 and offsets[1] > 0 and offsets[2] > offsets[1] and len(offsets) == 3, offsets
    assert result['downloaded_bytes'] == case.src.stat().st_size


def test_a_killed_download_leaves_dest_untouched_and_the_next_run_resumes_it(case: Case) -> None:
    # The answer stalls after 2.5 MiB: the run is killed while it waits for more.
    case.backend.emulator.add_fault(kind='cut', method='GET', path=DATA_PATH, after_bytes=2 * MIB + MIB // 2,
                                    seconds=120)
    process = case.start()[0]
    deadline = time.monotonic() + 120
    while not (case.partial.exists() and case.partial.stat().st_size >= 2 * MIB):
        assert time.monotonic() < deadline and process.poll() is None, 'the download never started'
        time.sleep(0.2)
    kill_tree(process.pid)
    process.communicate(timeout=60)
    assert case.dest.read_bytes() == b'the previous backup'
    left = case.partial.stat().st_size
    assert left >= 2 * MIB
    case.backend.emulator.clear_faults()
    result = case.run()
    assert not result.get('failed'), result
    assert case.dest.read_bytes() == case.src.read_bytes() and not case.partial.exists()
    assert result['resumed_from'] == left and result['downloaded_bytes'] == case.src.stat().st_size - left
