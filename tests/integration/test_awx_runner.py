"""The AWX credential type (extensions/awx/credential_type.yml) drives a real playbook run through ansible-runner, the
engine AWX runs jobs with.

The connection reaches the playbook only through the environment the credential type's injectors define, rendered
the way AWX renders them (sandboxed Jinja, unset booleans false, file injectors written to private files), so the
test proves the file itself: a wrong variable name or template fails it. The key must appear in no job event and
not in the job's stdout.
"""

from __future__ import annotations

import json
import os
import secrets
import stat
import tempfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import ansible_runner
import pytest
import yaml
from jinja2 import StrictUndefined
from jinja2.sandbox import ImmutableSandboxedEnvironment

from tools.sfsupport.backend import Backend

ROOT = Path(__file__).resolve().parents[2]
CREDENTIAL_TYPE = ROOT / 'extensions' / 'awx' / 'credential_type.yml'
VENV_BIN = Path(os.environ.get('VIRTUAL_ENV', ROOT / '.venv')) / 'bin'
VENV_PYTHON = VENV_BIN / 'python'

PLAYBOOK = '''---
- name: Publish and list with the connection from the AWX credential only
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Publish the image
      shakenfist.storage.sf_image_publish:
        name: "{{ image_name }}"
        src: "{{ image_file }}"
      register: published

    - name: List it
      shakenfist.storage.sf_artifact_info:
        name: "{{ image_name }}"
      register: listed

    - name: Resolve it with the lookup
      ansible.builtin.set_fact:
        resolved: "{{ lookup('shakenfist.storage.sf_artifact', image_name) }}"

    - name: Report
      ansible.builtin.debug:
        msg: "published={{ published.changed }} listed={{ listed.artifacts | length }} version={{ resolved.version }}"
'''


def credential_type() -> dict[str, Any]:
    return dict(yaml.safe_load(CREDENTIAL_TYPE.read_text()))


def validate_like_awx(ctype: dict[str, Any]) -> None:
    """The checks AWX makes when the type is saved: every template renders with only the defined fields (and
    tower.filename.<name> for each file injector), and no ANSIBLE_* variable is set."""
    fields = {field['id'] for field in ctype['inputs']['fields']}
    assert set(ctype['inputs'].get('required', [])) <= fields
    files = ctype['injectors'].get('file', {})
    tower = SimpleNamespace(filename=SimpleNamespace(**{label.split('.', 1)[1]: 'EXAMPLE_FILENAME' for label in files}))
    namespace = {**dict.fromkeys(fields, 'EXAMPLE'), 'tower': tower}
    sandbox = ImmutableSandboxedEnvironment(undefined=StrictUndefined)
    for kind, templates in ctype['injectors'].items():
        assert kind in ('env', 'file', 'extra_vars')
        for name, template in templates.items():
            assert kind != 'env' or not name.startswith('ANSIBLE_')
            sandbox.from_string(template).render(namespace)


def inject(ctype: dict[str, Any], inputs: dict[str, Any], private_data_dir: Path) -> dict[str, str]:
    """The environment AWX gives a job for a credential with these inputs (its inject_credential, for env and
    file injectors): empty inputs are left out, unset booleans are false, each file is private to the job."""
    namespace: dict[str, Any] = {name: value for name, value in inputs.items() if value not in (None, '')}
    for field in ctype['inputs']['fields']:
        if field.get('type') == 'boolean' and field['id'] not in inputs:
            namespace[field['id']] = False
    sandbox = ImmutableSandboxedEnvironment()
    (private_data_dir / 'env').mkdir(parents=True, exist_ok=True)
    files = {}
    for label, template in ctype['injectors'].get('file', {}).items():
        handle, path = tempfile.mkstemp(dir=private_data_dir / 'env')
        with os.fdopen(handle, 'w') as out:
            out.write(sandbox.from_string(template).render(**namespace))
        os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)
        files[label.split('.', 1)[1]] = path
    namespace['tower'] = SimpleNamespace(filename=SimpleNamespace(**files))
    return {name: sandbox.from_string(template).render(**namespace)
            for name, template in ctype['injectors'].get('env', {}).items()}


def run_job(tmp_path: Path, injected: dict[str, str], image_name: str) -> tuple[Any, str, list[dict[str, Any]]]:
    """Run the playbook as AWX does (ansible-runner, a private data dir), the environment holding only what the
    credential injected: no SHAKENFIST_* from the test's own environment and a HOME without ~/.shakenfist."""
    private = tmp_path / 'job'
    (private / 'project').mkdir(parents=True)
    (private / 'project' / 'play.yml').write_text(PLAYBOOK)
    # Raw random bytes: a fake qcow2 header would be refused by the real server's qemu-img (it reads the header).
    image = tmp_path / 'image.img'
    image.write_bytes(secrets.token_bytes(64 * 1024))
    home = tmp_path / 'home'
    home.mkdir()
    envvars = {
        **injected,
        'HOME': str(home),
        'PATH': f'{VENV_BIN}{os.pathsep}{os.environ.get("PATH", "")}',
        'ANSIBLE_COLLECTIONS_PATH': str(ROOT / '.tmp' / 'collections'),
        'ANSIBLE_NOCOLOR': '1',
    }
    runner = ansible_runner.run(
        private_data_dir=str(private), playbook='play.yml', envvars=envvars, quiet=True,
        inventory=f'localhost ansible_connection=local ansible_python_interpreter={VENV_PYTHON}',
        extravars={'image_name': image_name, 'image_file': str(image)}, timeout=600)
    stdout = runner.stdout.read()
    return runner, stdout, list(runner.events)


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith('SHAKENFIST_'):
            monkeypatch.delenv(name)


def report(events: list[dict[str, Any]]) -> str:
    messages = [e['event_data']['res'].get('msg', '') for e in events
                if e['event'] == 'runner_on_ok' and e['event_data'].get('task') == 'Report']
    assert len(messages) == 1, [e['event'] for e in events]
    return str(messages[0])


def test_credential_type_is_what_awx_accepts() -> None:
    ctype = credential_type()
    validate_like_awx(ctype)
    key = next(field for field in ctype['inputs']['fields'] if field['id'] == 'key')
    assert key.get('secret') is True


def test_a_job_publishes_and_lists_with_only_the_injected_credential(
        backend: Backend, tmp_path: Path, clean_environment: None) -> None:
    namespace, key = backend.new_namespace('awx')
    ctype = credential_type()
    injected = inject(ctype, {'api_url': backend.url, 'namespace': namespace, 'key': key}, tmp_path / 'job')
    assert injected['SHAKENFIST_KEY'] == key and injected['SHAKENFIST_VALIDATE_CERTS'] == 'true'
    assert injected['SHAKENFIST_CA_PATH'] == ''  # no CA given: no file named, public CAs apply
    name = f'awx-{secrets.token_hex(3)}'

    runner, stdout, events = run_job(tmp_path, injected, name)

    assert runner.status == 'successful' and runner.rc == 0, stdout[-6000:]
    assert report(events) == 'published=True listed=1 version=1'
    owned = backend.call('GET', '/artifacts', namespace=namespace, key=key)
    assert [a['source_url'] for a in owned if a['namespace'] == namespace] == [f'sf://upload/{namespace}/{name}']
    assert key not in stdout
    assert key not in json.dumps(events)


def test_the_ca_certificate_field_reaches_modules_and_lookup(tmp_path: Path, clean_environment: None) -> None:
    """An HTTPS emulator signed by a private CA: the CA's PEM, pasted into the credential, is all the job needs."""
    from sf_emulator.testing import EmulatorProcess, make_test_ca

    ca, cert, tls_key = make_test_ca(tmp_path / 'tls')
    with EmulatorProcess(tmp_path / 'sf', tls_cert=cert, tls_key=tls_key, tls_ca=ca) as emulator:
        key = emulator.system_key
        inputs = {'api_url': emulator.url, 'namespace': 'system', 'key': key, 'ca_cert': Path(ca).read_text()}
        injected = inject(credential_type(), inputs, tmp_path / 'job')
        ca_file = Path(injected['SHAKENFIST_CA_PATH'])
        assert ca_file.read_text() == Path(ca).read_text() and stat.S_IMODE(ca_file.stat().st_mode) == 0o600

        runner, stdout, events = run_job(tmp_path, injected, 'tls-image')

        assert runner.status == 'successful' and runner.rc == 0, stdout[-6000:]
        assert report(events) == 'published=True listed=1 version=1'
        assert 'validate_certs is false' not in stdout
        assert key not in stdout and key not in json.dumps(events)
