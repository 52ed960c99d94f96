"""Run one play over many inventory hosts with many forks, as AWX runs a job: every host runs the same tasks at
the same time on this machine (local connection), and each host's registered result is saved to a JSON file; and
the fork tests' common start, one published image in a new namespace."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

from tests.integration.conftest import ROOT, VENV_BIN
from tools.sfsupport.backend import Backend

PLAY = '''---
- name: Many forks at once
  hosts: all
  gather_facts: false
  module_defaults:
    group/shakenfist.storage.sf:
      api_url: "{{ sf_api_url }}"
      namespace: "{{ sf_namespace }}"
      key: "{{ sf_key }}"
  tasks:
TASKS
    - name: Save this host's result
      ansible.builtin.copy:
        content: "{{ outcome | to_json }}"
        dest: "{{ results_dir }}/{{ inventory_hostname }}.json"
        mode: '0600'
'''


def run_forks(workdir: Path, connection: dict[str, str], tasks: str, hosts: dict[str, dict[str, Any]],
              forks: int = 8, timeout: float = 600, env: dict[str, str] | None = None) -> dict[str, dict[str, Any]]:
    """Run `tasks` (YAML, indented for a play's task list, registering `outcome`) on every host at once."""
    process = start_forks(workdir, connection, tasks, hosts, forks, env)
    try:
        output = process.communicate(timeout=timeout)[0]
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # every fork too: they share the playbook's process group
        process.communicate()
        raise
    return saved_results(workdir, hosts, output)


def start_forks(workdir: Path, connection: dict[str, str], tasks: str, hosts: dict[str, dict[str, Any]],
                forks: int = 8, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """The playbook of run_forks, started and not waited for (its own process group, so a test can kill it)."""
    results_dir = workdir / 'results'
    results_dir.mkdir(parents=True, exist_ok=True)
    inventory = {'all': {'hosts': {name: {'ansible_connection': 'local',
                                          'ansible_python_interpreter': str(VENV_BIN / 'python'), **variables}
                                   for name, variables in hosts.items()}}}
    (workdir / 'inventory.json').write_text(json.dumps(inventory))
    (workdir / 'vars.json').write_text(json.dumps({**connection, 'results_dir': str(results_dir)}))
    (workdir / 'play.yml').write_text(PLAY.replace('TASKS', tasks.rstrip('\n')))
    environment = {**os.environ, 'ANSIBLE_COLLECTIONS_PATH': str(ROOT / '.tmp' / 'collections'),
                   'ANSIBLE_NOCOLOR': '1', 'ANSIBLE_FORKS': str(forks), 'ANSIBLE_HOST_KEY_CHECKING': 'false',
                   'ANSIBLE_RETRY_FILES_ENABLED': 'false', **(env or {})}
    for name in ('SHAKENFIST_API_URL', 'SHAKENFIST_NAMESPACE', 'SHAKENFIST_KEY'):
        environment.pop(name, None)
    return subprocess.Popen(
        [str(VENV_BIN / 'ansible-playbook'), '-i', str(workdir / 'inventory.json'), '-e', f'@{workdir / "vars.json"}',
         str(workdir / 'play.yml')], env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True)


def saved_results(workdir: Path, hosts: dict[str, dict[str, Any]], output: str) -> dict[str, dict[str, Any]]:
    results_dir = workdir / 'results'
    results = {}
    for name in hosts:
        path = results_dir / f'{name}.json'
        assert path.exists(), f'host {name} saved no result:\n{output[-8000:]}'
        results[name] = json.loads(path.read_text())
    return results


PUBLISH = '''
    - name: Publish
      shakenfist.storage.sf_image_publish:
        name: "{{ image_name }}"
        src: "{{ image_file }}"
        max_versions: 10
        chunk_size: 1
        checksum_cache_dir: "{{ state_dir }}"
      register: outcome
      ignore_errors: true
'''


def connection(backend: Backend, namespace: str, key: str) -> dict[str, str]:
    return {'sf_api_url': backend.url, 'sf_namespace': namespace, 'sf_key': key}


def one_image(backend: Backend, tmp_path: Path, size: int = 4096) -> tuple[str, str]:
    """A new namespace holding one published image, `img`, of `size` random bytes; its name and key."""
    namespace, key = backend.new_namespace('forks')
    path = tmp_path / 'one.img'
    path.write_bytes(os.urandom(size))
    run_forks(tmp_path / 'prepare', connection(backend, namespace, key), PUBLISH,
              {'prepare': {'image_name': 'img', 'image_file': str(path), 'state_dir': str(tmp_path / 'state')}})
    return namespace, key


def forks_on_one_image(backend: Backend, tmp_path: Path, forks: int, task: str, size: int = 4096
                       ) -> tuple[str, str, int, dict[str, dict[str, Any]]]:
    """`task` on image `img` of a new namespace in `forks` forks at once, none failing; the namespace, its key, the
    request mark before the forks, and each fork's result."""
    namespace, key = one_image(backend, tmp_path, size)
    mark = backend.request_mark()
    results = run_forks(tmp_path, connection(backend, namespace, key), task,
                        {f'fork{n}': {'image_name': 'img'} for n in range(forks)}, forks=forks,
                        env={'HOME': str(tmp_path / 'home')})
    assert all(not r.get('failed') for r in results.values()), [r.get('msg') for r in results.values()]
    return namespace, key, mark, results
