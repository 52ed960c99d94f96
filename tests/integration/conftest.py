"""Integration tier: Ansible playbooks against a live backend (emulator by default, SF_TEST_BACKEND=real)."""

from __future__ import annotations

import functools
import http.server
import json
import os
import secrets
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tools.sfsupport.backend import Backend, running_backend

ROOT = Path(__file__).resolve().parents[2]
TARGETS = Path(__file__).resolve().parent / 'targets'
# The sf_results callback records every module result of a run in SF_RESULTS_FILE (PlaybookResult.results).
CALLBACKS = Path(__file__).resolve().parent / 'callback_plugins'
VENV_BIN = Path(os.environ.get('VIRTUAL_ENV', ROOT / '.venv')) / 'bin'


@pytest.fixture(scope='session')
def backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    with running_backend(tmp_path_factory.mktemp('backend')) as live:
        yield live


@pytest.fixture(scope='session')
def file_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A local HTTP server for URL sources; tests drop files into its directory."""
    root = tmp_path_factory.mktemp('www')
    handler = functools.partial(QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield f'http://127.0.0.1:{server.server_address[1]}', root
    server.shutdown()
    server.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


@dataclass
class PlaybookResult:
    rc: int
    output: str
    results: dict[str, Any]


@pytest.fixture
def run_target(backend: Backend, file_server: tuple[str, Path], tmp_path: Path) -> Callable[..., PlaybookResult]:
    """Run one integration target (a role under targets/) with the connection set for the whole play."""

    def run(target: str, check: bool = True, verbosity: int = 0, **extra: Any) -> PlaybookResult:
        namespace, key = backend.new_namespace(target.replace('_', '-')[:20])
        url, www = file_server
        variables = {
            'sf_api_url': backend.url, 'sf_namespace': namespace, 'sf_key': key,
            # Which server the backend answers as: the emulator's profile (0.7.2 unless SF_EMULATOR_PROFILE says
            # otherwise), or the real 0.7.2.
            'sf_server_profile': os.environ.get('SF_EMULATOR_PROFILE', '0.7.2') if backend.is_emulator else '0.7.2',
            'sf_system_key': backend.system_key, 'sf_backend': backend.kind, 'sf_prefix': f'it{secrets.token_hex(3)}',
            'sf_workdir': str(tmp_path), 'sf_www_url': url, 'sf_www_dir': str(www),
            # Emulator targets may look at the bytes it stores (instance disks, blobs) to check what a user sees.
            'sf_emulator_dir': str(backend.emulator.data_dir) if backend.is_emulator else '', **extra,
        }
        vars_file = tmp_path / 'vars.json'
        vars_file.write_text(json.dumps(variables))
        playbook = tmp_path / 'play.yml'
        playbook.write_text(PLAYBOOK.format(target=target))
        results_file = tmp_path / 'results.json'
        env = {
            **os.environ,
            'ANSIBLE_COLLECTIONS_PATH': str(ROOT / '.tmp' / 'collections'),
            'ANSIBLE_ROLES_PATH': str(TARGETS),
            'ANSIBLE_HOST_KEY_CHECKING': 'false',
            'ANSIBLE_NOCOLOR': '1',
            'ANSIBLE_RETRY_FILES_ENABLED': 'false',
            'ANSIBLE_PYTHON_INTERPRETER': str(VENV_BIN / 'python'),
            'SF_RESULTS_FILE': str(results_file),
            'ANSIBLE_CALLBACK_PLUGINS': str(CALLBACKS),
            'ANSIBLE_CALLBACKS_ENABLED': 'sf_results',
        }
        for name in ('SHAKENFIST_API_URL', 'SHAKENFIST_NAMESPACE', 'SHAKENFIST_KEY', 'SHAKENFIST_CA_PATH',
                     'SHAKENFIST_VALIDATE_CERTS'):
            env.pop(name, None)
        verbose = ['-' + 'v' * verbosity] if verbosity else []
        process = subprocess.run(
            [str(VENV_BIN / 'ansible-playbook'), '-i', 'localhost,', '-c', 'local', '-e', f'@{vars_file}', *verbose,
             str(playbook)], env=env, capture_output=True, text=True, timeout=900, check=False)
        output = process.stdout + process.stderr
        results = json.loads(results_file.read_text()) if results_file.exists() else {}
        if check and process.returncode != 0:
            pytest.fail(f'target {target} failed (rc={process.returncode}):\n{output[-12000:]}')
        return PlaybookResult(process.returncode, output, results)

    return run


PLAYBOOK = '''---
- name: Integration target {target}
  hosts: localhost
  gather_facts: false
  module_defaults:
    group/shakenfist.storage.sf:
      api_url: "{{{{ sf_api_url }}}}"
      namespace: "{{{{ sf_namespace }}}}"
      key: "{{{{ sf_key }}}}"
  roles:
    - role: {target}
'''
