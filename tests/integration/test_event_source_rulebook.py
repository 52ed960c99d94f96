"""End to end with ansible-rulebook: a rulebook whose source is shakenfist.storage.sf_artifact_events (found in the
collection as ansible-rulebook finds any, through ansible-galaxy) and whose rule on the `web` label runs a playbook.
Moving `web` runs it once; moving another label runs nothing; the key (given in the environment, as SHAKENFIST_KEY)
appears in no output. ansible-rulebook lives in .venv-eda (`make eda-venv`, which `make integration` runs); without
it or Java the test is skipped, except in CI (CI set), where that is a failure."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.integration.test_event_source import Tenant
from tests.integration.test_inventory import Cluster, boot, publish, wait_created
from tools.sfsupport.backend import Backend

ROOT = Path(__file__).resolve().parents[2]
EDA_BIN = ROOT / '.venv-eda' / 'bin'
WAIT = 120.0  # a JVM start and a playbook run on a busy machine

RULEBOOK = '''---
- name: Roll out web when its label moves
  hosts: all
  sources:
    - shakenfist.storage.sf_artifact_events:
        interval: 0.5
        types: [label]
        state_file: "{{ state_file }}"
  rules:
    - name: The web label moved
      condition: event.type == "label_moved" and event.label == "web"
      action:
        run_playbook:
          name: rollout.yml
          extra_vars:
            out_file: "{{ out_file }}"
'''

ROLLOUT = '''---
- name: Roll out the new web image
  hosts: all
  gather_facts: false
  tasks:
    - name: Record the move the rule saw
      ansible.builtin.lineinfile:
        path: "{{ out_file }}"
        create: true
        mode: "0644"
        line: >-
          {{ ansible_eda.event.label }} {{ ansible_eda.event.from_version }} -> {{ ansible_eda.event.to_version }}
          {{ ansible_eda.event.to_image.name }}@{{ ansible_eda.event.to_image.version }}
'''


def missing_tools() -> str | None:
    if not (EDA_BIN / 'ansible-rulebook').exists():
        return f'ansible-rulebook is not installed in {EDA_BIN.parent} (make eda-venv)'
    if not shutil.which('java') and not os.environ.get('JAVA_HOME'):
        return 'no Java runtime (ansible-rulebook needs Java 17 or newer)'
    return None


@pytest.fixture
def rulebook_tools() -> Path:
    reason = missing_tools()
    if reason and os.environ.get('CI'):
        pytest.fail(f'{reason}: CI must run the ansible-rulebook test')
    if reason:
        pytest.skip(reason)
    return EDA_BIN


def wait_for(check: object, what: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + WAIT
    while not check():  # type: ignore[operator]
        if process.poll() is not None:
            pytest.fail(f'ansible-rulebook exited ({process.returncode}) before {what}:\n{log.read_text()[-6000:]}')
        if time.monotonic() > deadline:
            pytest.fail(f'{what} did not happen within {WAIT}s:\n{log.read_text()[-6000:]}')
        time.sleep(0.2)


def stop(process: subprocess.Popen[bytes]) -> None:
    """ansible-rulebook stops on SIGINT; killed if it has not within 30 s. Only the process this test started."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)


def test_moving_the_web_label_runs_the_rollout_playbook_once(backend: Backend, rulebook_tools: Path,
                                                             tmp_path: Path) -> None:
    tenant = Tenant(backend)
    v1 = tenant.publish('web-image')
    v2 = tenant.publish('web-image')
    other = tenant.publish('db-image')
    tenant.label('web', v1['blob_uuid'])
    state, out, log = tmp_path / 'seen.json', tmp_path / 'rollouts.txt', tmp_path / 'rulebook.log'
    (tmp_path / 'rulebook.yml').write_text(RULEBOOK)
    (tmp_path / 'rollout.yml').write_text(ROLLOUT)
    (tmp_path / 'inventory.ini').write_text(
        f'localhost ansible_connection=local ansible_python_interpreter={rulebook_tools / "python"}\n')
    (tmp_path / 'vars.yml').write_text(f'state_file: {state}\nout_file: {out}\n')
    env = {**os.environ, 'PATH': f'{rulebook_tools}{os.pathsep}{os.environ.get("PATH", "")}',
           'ANSIBLE_COLLECTIONS_PATH': str(ROOT / '.tmp' / 'collections'), 'ANSIBLE_NOCOLOR': '1',
           'SHAKENFIST_API_URL': backend.url, 'SHAKENFIST_NAMESPACE': tenant.namespace,
           'SHAKENFIST_KEY': tenant.key}
    env.pop('PYTHONPATH', None)  # as a user runs it: the source finds the collection's code on its own
    env.pop('VIRTUAL_ENV', None)
    with log.open('wb') as sink:
        process = subprocess.Popen(
            [str(rulebook_tools / 'ansible-rulebook'), '--rulebook', 'rulebook.yml', '-i', 'inventory.ini',
             '--vars', 'vars.yml', '--print-events'],
            cwd=tmp_path, env=env, stdout=sink, stderr=subprocess.STDOUT)
    try:
        wait_for(state.exists, 'the baseline poll', process, log)
        tenant.label('db', other['blob_uuid'])  # another label: no rule fires
        tenant.label('web', v2['blob_uuid'])
        wait_for(out.exists, 'the rollout playbook', process, log)
        time.sleep(3)  # several more polls: nothing runs twice
        assert out.read_text().splitlines() == ['web 1 -> 2 web-image@2']
    finally:
        stop(process)
    output = log.read_text()
    assert "'label': 'db'" in output or '"label": "db"' in output, output[-4000:]  # the event came, no rule
    assert tenant.key not in output


ROLLOUT_OUTDATED = '''---
- name: Rebuild what runs an outdated web image (here, record it)
  hosts: sf_outdated_web
  serial: 1
  gather_facts: false
  connection: local
  vars:
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
  tasks:
    - name: Record the host, the instance and the move that made it outdated
      ansible.builtin.lineinfile:
        path: "{{ out_file }}"
        create: true
        mode: "0644"
        line: "{{ inventory_hostname }} {{ sf_uuid }} {{ ansible_eda.event.to_version }}"
'''


@pytest.mark.skipif(os.environ.get('SF_TEST_BACKEND', 'emulator') == 'real',
                    reason='the real tier has no hypervisor: instances run on the emulator only')
def test_the_documented_rollout_runs_once_over_the_instances_the_moved_label_left_behind(
        backend: Backend, rulebook_tools: Path, tmp_path: Path) -> None:
    """docs/events.md's rulebook with docs/inventory.md's inventory: the web label moves, and the rollout runs once,
    over exactly the instances booted from the old version (sf_outdated_web), not the one booted from the image."""
    tenant = Tenant(backend)
    who = (tenant.namespace, tenant.key)
    old = publish(backend, who, 'web-image')
    tenant.label('web', old)
    cluster = Cluster(tenant.namespace, tenant.key, '', {})
    for name in ('web1', 'web2'):
        cluster.instances[name] = boot(backend, cluster, name, 'label:web', network=False)
    cluster.instances['db1'] = boot(backend, cluster, 'db1', f'sf://upload/{tenant.namespace}/web-image',
                                    network=False)
    wait_created(backend, cluster)
    state, out, log = tmp_path / 'seen.json', tmp_path / 'rollouts.txt', tmp_path / 'rulebook.log'
    (tmp_path / 'rulebook.yml').write_text(RULEBOOK)
    (tmp_path / 'rollout.yml').write_text(ROLLOUT_OUTDATED)
    (tmp_path / 'prod.sf_instances.yml').write_text('plugin: shakenfist.storage.sf_instances\n')
    (tmp_path / 'vars.yml').write_text(f'state_file: {state}\nout_file: {out}\n')
    env = {**os.environ, 'PATH': f'{rulebook_tools}{os.pathsep}{os.environ.get("PATH", "")}',
           'ANSIBLE_COLLECTIONS_PATH': str(ROOT / '.tmp' / 'collections'), 'ANSIBLE_NOCOLOR': '1',
           'ANSIBLE_INVENTORY_UNPARSED_FAILED': 'true', 'SHAKENFIST_API_URL': backend.url,
           'SHAKENFIST_NAMESPACE': tenant.namespace, 'SHAKENFIST_KEY': tenant.key}
    env.pop('PYTHONPATH', None)
    env.pop('VIRTUAL_ENV', None)
    with log.open('wb') as sink:
        process = subprocess.Popen(
            [str(rulebook_tools / 'ansible-rulebook'), '--rulebook', 'rulebook.yml', '-i', 'prod.sf_instances.yml',
             '--vars', 'vars.yml'],
            cwd=tmp_path, env=env, stdout=sink, stderr=subprocess.STDOUT)
    try:
        wait_for(state.exists, 'the baseline poll', process, log)
        new = publish(backend, who, 'web-image')
        tenant.label('web', new)
        wait_for(lambda: out.exists() and len(out.read_text().splitlines()) >= 2, 'the rollout over both web hosts',
                 process, log)
        time.sleep(3)  # several more polls: nothing runs twice
    finally:
        stop(process)
    assert sorted(out.read_text().splitlines()) == [f'web1 {cluster.instances["web1"]} 2',
                                                    f'web2 {cluster.instances["web2"]} 2'], log.read_text()[-4000:]
    assert tenant.key not in log.read_text()
