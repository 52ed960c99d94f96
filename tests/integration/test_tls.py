"""TLS as users see it: ansible-playbook against one HTTPS emulator whose certificate a throwaway CA signed.

Every setting is tried on the four ways the collection talks TLS: a module uploading a file (sf_image_publish with
src), a module reading (sf_artifact_info), the sf_artifact lookup (on the controller), and a `fetch: controller`
download from a small HTTPS file server (127.0.0.1, the same CA). Three playbooks, run at the same time, differ
in the CA bundle variables requests reads (REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE): removed, set to an unrelated bundle
(certifi's), and set to the test CA, because an explicit ca_path or validate_certs must win over the environment in
both directions. Emulator only: the real tier serves plain HTTP.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import os
import re
import secrets
import ssl
import subprocess
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import certifi
import pytest
import requests
import yaml

from ansible_collections.shakenfist.storage.plugins.module_utils._config import INSECURE_WARNING
from sf_emulator.testing import EmulatorProcess, ca_tools, make_test_ca
from tests.integration.conftest import ROOT, VENV_BIN, QuietHandler
from tools.sfsupport.backend import EMULATOR_TEST_ARGS, backend_kind

pytestmark = [
    pytest.mark.skipif(backend_kind() != 'emulator', reason='only the emulator serves HTTPS'),
    pytest.mark.skipif(not ca_tools(), reason='neither the openssl command nor cryptography is installed'),
]

CA_VARIABLES = ('REQUESTS_CA_BUNDLE', 'CURL_CA_BUNDLE')
KINDS = ('publish', 'info', 'lookup', 'download')
# A setting expected to fail skips sf_artifact_info: it would fail where the publish does, in the same transport.
FAILING_KINDS = ('publish', 'lookup', 'download')
TLS_FAILURE = re.compile(r'TLS verification failed for (\S+): unable to get local issuer certificate; '
                         r'the certificate was checked against (.+?)(?: \(set ca_path|$)')
DEFAULT_BUNDLE = 'the default CA bundle of the requests library'


@dataclass
class Https:
    emulator: EmulatorProcess
    ca: Path
    namespace: str
    key: str
    www_url: str
    workdir: Path
    prefix: str
    sha512: str  # of the small file every publish sends

    def playbook(self, run: str, environment: dict[str, str], works: dict[str, dict[str, Any]],
                 fails: dict[str, dict[str, Any]]) -> Ran:
        """One ansible-playbook run: for each named setting, the kinds of TLS use, each allowed to fail.

        `environment` is the CA bundle variables of the ansible-playbook process (so of the lookup and the modules
        alike); the other CA variables of this machine are removed."""
        workdir = self.workdir / run
        workdir.mkdir()
        results_file = workdir / 'results.json'
        kinds = {**{label: KINDS for label in works}, **{label: FAILING_KINDS for label in fails}}
        tasks = [task for label, tls in {**works, **fails}.items() for task in self._tasks(run, label, tls)
                 if task['register'].split('_')[-1] in kinds[label]]
        registered = ', '.join(f'{label}_{kind}={label}_{kind}' for label in kinds for kind in kinds[label])
        tasks.append({'name': 'Save every result', 'ansible.builtin.copy': {
            'content': f'{{{{ dict({registered}) | to_json }}}}', 'dest': str(results_file), 'mode': '0600'}})
        play = [{'name': 'TLS settings', 'hosts': 'localhost', 'gather_facts': False, 'module_defaults': {
            'group/shakenfist.storage.sf': {'api_url': '{{ sf_api_url }}', 'namespace': '{{ sf_namespace }}',
                                            'key': '{{ sf_key }}'}}, 'tasks': tasks}]
        (workdir / 'play.yml').write_text(yaml.safe_dump(play, sort_keys=False))
        # The key only in a variables file: ansible-core shows the task's source next to a failure or warning.
        (workdir / 'vars.json').write_text(json.dumps({'sf_api_url': self.emulator.url, 'sf_namespace': self.namespace,
                                                       'sf_key': self.key}))
        env = {name: value for name, value in os.environ.items() if name not in CA_VARIABLES}
        env.update({'ANSIBLE_COLLECTIONS_PATH': str(ROOT / '.tmp' / 'collections'), 'ANSIBLE_NOCOLOR': '1',
                    'ANSIBLE_PYTHON_INTERPRETER': str(VENV_BIN / 'python'), 'ANSIBLE_RETRY_FILES_ENABLED': 'false',
                    **environment})
        for name in ('SHAKENFIST_API_URL', 'SHAKENFIST_NAMESPACE', 'SHAKENFIST_KEY', 'SHAKENFIST_CA_PATH',
                     'SHAKENFIST_VALIDATE_CERTS'):
            env.pop(name, None)
        command = [str(VENV_BIN / 'ansible-playbook'), '-i', 'localhost,', '-c', 'local', '-e',
                   f'@{workdir / "vars.json"}', str(workdir / 'play.yml')]
        process = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, check=False)
        output = process.stdout + process.stderr
        (workdir / 'output.txt').write_text(output)
        assert process.returncode == 0, output[-12000:]
        assert self.key not in output and 'Traceback' not in output
        return Ran(json.loads(results_file.read_text()), output, self.sha512)

    def _tasks(self, run: str, label: str, tls: dict[str, Any]) -> list[dict[str, Any]]:
        name = f'{self.prefix}-{run}-{label}'.replace('_', '-')
        lookup_vars = {f'shakenfist_{option}': value for option, value in tls.items()}
        lookup_vars.update({'shakenfist_api_url': '{{ sf_api_url }}', 'shakenfist_namespace': '{{ sf_namespace }}',
                            'shakenfist_key': '{{ sf_key }}'})
        ref = f'sf://upload/{self.namespace}/{name}'
        common = {'ignore_errors': True}
        return [
            {'name': f'{label}: publish a file', 'shakenfist.storage.sf_image_publish': {
                'name': name, 'src': str(self.workdir / 'small.img'), 'checksum_cache': False, **tls},
             'register': f'{label}_publish', **common},
            {'name': f'{label}: show the artifact', 'shakenfist.storage.sf_artifact_info': {'ref': ref, **tls},
             'register': f'{label}_info', **common},
            {'name': f'{label}: resolve it with the lookup', 'vars': lookup_vars, 'ansible.builtin.set_fact': {
                f'{label}_found': f"{{{{ lookup('shakenfist.storage.sf_artifact', '{ref}') }}}}"},
             'register': f'{label}_lookup', **common},
            {'name': f'{label}: publish a download made on the controller', 'shakenfist.storage.sf_image_publish': {
                'name': f'{name}-dl', 'url': f'{self.www_url}/small.img', 'fetch': 'controller',
                'checksum_cache': False, **tls},
             'register': f'{label}_download', **common},
        ]


@dataclass
class Ran:
    results: dict[str, Any]
    output: str
    sha512: str

    def worked(self, label: str) -> None:
        """Every kind of request with the setting `label` worked, and the bytes arrived as they were."""
        for kind in KINDS:
            result = self.results[f'{label}_{kind}']
            assert not result.get('failed'), (label, kind, result)
        assert self.results[f'{label}_publish']['version']['size'] == 64 * 1024
        info = self.results[f'{label}_info']
        found = self.results[f'{label}_lookup']['ansible_facts'][f'{label}_found']
        assert found['sha512'] == self.results[f'{label}_publish']['version']['sha512'] == self.sha512
        assert [a['uuid'] for a in info['artifacts']] == [found['uuid']]
        assert found['uuid'] == self.results[f'{label}_publish']['artifact']['uuid']
        assert self.results[f'{label}_download']['version']['sha512'] == found['sha512']

    def failed(self, label: str, kind: str) -> dict[str, Any]:
        """A failed task's result, after checking it failed as the collection means to: a message, no traceback."""
        result: dict[str, Any] = self.results[f'{label}_{kind}']
        assert result.get('failed'), (label, kind, result)
        assert 'Traceback' not in json.dumps(result)
        # ansible-core 2.19 adds exception='(traceback unavailable)' to every failure that carries no traceback.
        assert result.get('exception', '(traceback unavailable)') == '(traceback unavailable)', result
        assert 'module_stderr' not in result, result
        return result

    def warnings(self) -> list[str]:
        """The warnings a user sees (ansible-core shows each distinct one once)."""
        return re.findall(r'\[WARNING\]: (.*)', self.output)


def https_file_server(root: Path, cert: Path, key: Path) -> http.server.ThreadingHTTPServer:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(cert), str(key))
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), functools.partial(QuietHandler, directory=str(root)))
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    return server


@pytest.fixture(scope='module')
def https(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Https]:
    workdir = tmp_path_factory.mktemp('tls')
    ca, cert, key = make_test_ca(workdir / 'ca')
    (workdir / 'www').mkdir()
    data = os.urandom(64 * 1024)
    (workdir / 'small.img').write_bytes(data)
    (workdir / 'www' / 'small.img').write_bytes(data)
    www = https_file_server(workdir / 'www', cert, key)
    emulator = EmulatorProcess(workdir / 'emulator', tls_cert=cert, tls_key=key, tls_ca=ca,
                               extra_args=EMULATOR_TEST_ARGS)
    try:
        emulator.start()
        with requests.Session() as session:
            session.verify, session.trust_env = str(ca), False
            token = session.post(emulator.url + '/auth', json={'namespace': 'system', 'key': emulator.system_key})
            namespace, secret = f'tls-{secrets.token_hex(4)}', secrets.token_urlsafe(16)
            made = session.post(emulator.url + '/auth/namespaces', json={
                'namespace': namespace, 'key_name': 'test', 'key': secret},
                headers={'Authorization': f'Bearer {token.json()["access_token"]}'})
            assert made.status_code == 200, made.text
        yield Https(emulator, ca, namespace, secret, f'https://127.0.0.1:{www.server_address[1]}', workdir,
                    f'tls{secrets.token_hex(3)}', hashlib.sha512(data).hexdigest())
    finally:
        emulator.stop()  # by the PID it started
        www.shutdown()
        www.server_close()


@pytest.fixture(scope='module')
def runs(https: Https) -> dict[str, Ran]:
    """The three playbooks, run at the same time (they share only the emulator), each with its CA variables."""
    plans: dict[str, tuple[Any, ...]] = {
        # No CA bundle variables at all: what the settings alone do.
        'clean': ({}, {'ca_path': {'ca_path': str(https.ca)}, 'insecure': {'validate_certs': False}},
                  {'default': {}, 'missing': {'ca_path': str(https.workdir / 'no-such-ca.pem')}}),
        # REQUESTS_CA_BUNDLE and CURL_CA_BUNDLE name a bundle without the test CA, as in many execution environments.
        'unrelated': ({name: certifi.where() for name in CA_VARIABLES},
                      {'ca_path': {'ca_path': str(https.ca)}, 'insecure': {'validate_certs': False}}, {'default': {}}),
        # REQUESTS_CA_BUNDLE names the test CA: honoured when the task says nothing, never over an explicit ca_path.
        'named': ({'REQUESTS_CA_BUNDLE': str(https.ca)}, {'default': {}}, {'other_ca': {'ca_path': certifi.where()}}),
    }
    with ThreadPoolExecutor(len(plans)) as pool:
        started = {name: pool.submit(https.playbook, name, *plan) for name, plan in plans.items()}
        return {name: future.result() for name, future in started.items()}


@pytest.fixture
def clean_environment(runs: dict[str, Ran]) -> Ran:
    return runs['clean']


@pytest.fixture
def unrelated_bundle(runs: dict[str, Ran]) -> Ran:
    return runs['unrelated']


@pytest.fixture
def bundle_names_the_ca(runs: dict[str, Ran]) -> Ran:
    return runs['named']


def assert_tls_failure(ran: Ran, label: str, kind: str, url: str, checked_against: str) -> None:
    """A clean failure that says which server's certificate was refused, what it was checked against, and the fix."""
    result = ran.failed(label, kind)
    found = TLS_FAILURE.search(result['msg'])
    assert found and found.group(1).startswith(url), result['msg']
    assert found.group(2) == checked_against, result['msg']
    if kind != 'lookup':
        assert result['error']['type'] == 'transport_error'
        assert result['error']['hint'].startswith('set ca_path to ')
    else:  # a lookup's error has no structure: the hint is in the message
        assert '(set ca_path to ' in result['msg']


def test_an_unknown_ca_is_a_clean_failure_that_names_the_fix(https: Https, clean_environment: Ran) -> None:
    for kind in ('publish', 'lookup'):
        assert_tls_failure(clean_environment, 'default', kind, https.emulator.url, DEFAULT_BUNDLE)
    # The download is the first thing a controller fetch does: it fails on the file server's certificate.
    assert_tls_failure(clean_environment, 'default', 'download', https.www_url, DEFAULT_BUNDLE)


def test_ca_path_verifies_every_kind_of_request(clean_environment: Ran) -> None:
    clean_environment.worked('ca_path')
    for kind in ('publish', 'info', 'download'):
        assert clean_environment.results[f'ca_path_{kind}'].get('warnings', []) == []


def test_ca_path_wins_over_an_unrelated_bundle_in_the_environment(https: Https, unrelated_bundle: Ran) -> None:
    unrelated_bundle.worked('ca_path')
    # The environment is read when the task gives nothing, and that bundle does not know the test CA.
    used = f'REQUESTS_CA_BUNDLE={certifi.where()} from the environment'
    for kind in ('publish', 'lookup'):
        assert_tls_failure(unrelated_bundle, 'default', kind, https.emulator.url, used)
    assert_tls_failure(unrelated_bundle, 'default', 'download', https.www_url, used)


def test_requests_ca_bundle_is_used_when_the_task_sets_nothing(https: Https, bundle_names_the_ca: Ran) -> None:
    bundle_names_the_ca.worked('default')
    # An explicit ca_path is still the only bundle used: one without the test CA fails, whatever the environment says.
    for kind in ('publish', 'lookup'):
        assert_tls_failure(bundle_names_the_ca, 'other_ca', kind, https.emulator.url, f'ca_path {certifi.where()}')
    assert_tls_failure(bundle_names_the_ca, 'other_ca', 'download', https.www_url, f'ca_path {certifi.where()}')


@pytest.mark.parametrize('environment', ['clean_environment', 'unrelated_bundle'])
def test_validate_certs_false_works_and_warns(environment: str, request: pytest.FixtureRequest) -> None:
    ran: Ran = request.getfixturevalue(environment)
    ran.worked('insecure')
    # Each module task warns in its result; the lookup warns on the controller. Nothing else reaches the screen.
    for kind in ('publish', 'info', 'download'):
        assert INSECURE_WARNING in ran.results[f'insecure_{kind}']['warnings']
    shown = ran.warnings()
    assert INSECURE_WARNING in shown, shown
    assert f'shakenfist.storage.sf_artifact: {INSECURE_WARNING}' in shown, shown
    assert 'InsecureRequestWarning' not in ran.output and 'errantly sent data' not in ran.output


def test_a_ca_path_that_does_not_exist_is_a_clean_invalid_input(https: Https, clean_environment: Ran) -> None:
    missing = str(https.workdir / 'no-such-ca.pem')
    for kind in FAILING_KINDS:
        result = clean_environment.failed('missing', kind)
        assert f'failed: ca_path {missing} does not exist' in result['msg'], result['msg']
        if kind != 'lookup':
            assert result['error']['type'] == 'invalid_input'
            assert 'PEM file' in result['error']['hint']
