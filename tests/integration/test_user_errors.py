"""Errors say the right thing (issue 19, point 6), as a playbook user sees them: one ansible-playbook run against
the test backend, each task failing on purpose, then the registered results checked.

- api_url with a wrong path: a module and the lookup (whose on_missing must not swallow it) blame api_url.
- `fetch: controller` from a host nobody listens on: the error names that URL and hints at reaching it from here.
- A URL the cluster fetches that answers 404 (emulator only: the real tier runs no fetches): `not_found`.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
from pathlib import Path
from typing import Any

from tests.integration.conftest import ROOT, VENV_BIN
from tools.sfsupport.backend import Backend

ENV_DROPPED = ('SHAKENFIST_API_URL', 'SHAKENFIST_NAMESPACE', 'SHAKENFIST_KEY', 'SHAKENFIST_CA_PATH',
               'SHAKENFIST_VALIDATE_CERTS')


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return int(sock.getsockname()[1])


def failing_task(name: str, module: str, args: dict[str, Any]) -> dict[str, Any]:
    return {'name': name, module: args, 'register': name, 'ignore_errors': True}


def run_playbook(backend: Backend, www_url: str, workdir: Path) -> dict[str, Any]:
    namespace, key = backend.new_namespace('user-errors')
    prefix = f'ue{secrets.token_hex(3)}'
    wrong = f'{backend.url}/wrong'
    unreachable = f'http://127.0.0.1:{closed_port()}/{prefix}.qcow2'
    results = workdir / 'results.json'
    tasks = [
        failing_task('info_wrong_path', 'shakenfist.storage.sf_artifact_info', {'api_url': wrong}),
        {'name': 'lookup_wrong_path', 'register': 'lookup_wrong_path', 'ignore_errors': True,
         'ansible.builtin.set_fact': {'found': "{{ query('shakenfist.storage.sf_artifact', 'optional-tools', "
                                               "on_missing='skip', api_url='" + wrong + "') }}"}},
        failing_task('controller_unreachable', 'shakenfist.storage.sf_image_publish',
                     {'name': f'{prefix}-unreachable', 'url': unreachable, 'fetch': 'controller'}),
    ]
    if backend.is_emulator:
        tasks.append(failing_task('cluster_404', 'shakenfist.storage.sf_image_publish',
                                  {'url': f'{www_url}/{prefix}-missing.qcow2', 'wait_timeout': 60}))
    names = [task['register'] for task in tasks]
    tasks.append({'name': 'Save the results', 'ansible.builtin.copy': {
        'content': '{{ dict(' + ', '.join(f'{n}={n}' for n in names) + ') | to_json }}', 'dest': str(results),
        'mode': '0600'}})
    play = [{'name': 'Errors a user sees', 'hosts': 'localhost', 'gather_facts': False,
             'vars': {'shakenfist_namespace': namespace, 'shakenfist_key': key},
             'module_defaults': {'group/shakenfist.storage.sf': {
                 'api_url': backend.url, 'namespace': namespace, 'key': key, 'retries': 0}},
             'tasks': tasks}]
    playbook = workdir / 'play.yml'
    playbook.write_text(json.dumps(play, indent=1))  # JSON is YAML
    env = {**{k: v for k, v in os.environ.items() if k not in ENV_DROPPED},
           'ANSIBLE_COLLECTIONS_PATH': str(ROOT / '.tmp' / 'collections'), 'ANSIBLE_NOCOLOR': '1',
           'ANSIBLE_PYTHON_INTERPRETER': str(VENV_BIN / 'python'), 'ANSIBLE_RETRY_FILES_ENABLED': 'false'}
    process = subprocess.run([str(VENV_BIN / 'ansible-playbook'), '-i', 'localhost,', '-c', 'local', str(playbook)],
                             env=env, capture_output=True, text=True, timeout=600, check=False)
    assert results.exists(), process.stdout[-6000:] + process.stderr[-3000:]
    found: dict[str, Any] = json.loads(results.read_text())
    found['_urls'] = {'wrong': wrong, 'unreachable': unreachable, 'missing': f'{www_url}/{prefix}-missing.qcow2',
                      'key': key}
    return found


def test_errors_name_the_setting_or_url_at_fault(backend: Backend, file_server: tuple[str, Path],
                                                 tmp_path: Path) -> None:
    found = run_playbook(backend, file_server[0], tmp_path)
    urls = found.pop('_urls')
    seen = json.dumps(found)
    assert 'Traceback' not in seen and urls['key'] not in seen

    info = found['info_wrong_path']
    assert info['failed'] and info['error']['type'] == 'invalid_input', info
    assert f"no Shaken Fist API at api_url {urls['wrong']}: POST {urls['wrong']}/auth answered HTTP 404" in info['msg']
    assert 'check api_url' in info['error']['hint'] and info['error']['status'] == 404

    lookup = found['lookup_wrong_path']
    assert lookup['failed'] and f"no Shaken Fist API at api_url {urls['wrong']}" in lookup['msg'], lookup

    unreachable = found['controller_unreachable']
    assert unreachable['failed'] and unreachable['error']['type'] == 'transport_error', unreachable
    assert urls['unreachable'] in unreachable['msg'] and backend.url not in unreachable['msg']
    assert 'api_url' not in unreachable['error']['hint'] and 'proxy' in unreachable['error']['hint']
    assert unreachable['error']['detail'] == {'url': urls['unreachable']}

    if backend.is_emulator:
        missing = found['cluster_404']
        assert missing['failed'] and missing['error']['type'] == 'not_found', missing
        assert f"could not fetch {urls['missing']}" in missing['msg'] and 'HTTP 404' in missing['msg']
        assert 'check the URL' in missing['error']['hint'] and missing['error']['detail'] == {'url': urls['missing']}
