"""The sf_artifact lookup as users run it: what one task costs in requests, and that no task sees stale data.

Lookups in one templating pass share one client (token, listing, resolutions); the next pass, task, loop item or
until retry starts afresh. Emulator only: the counts come from the emulator's request log.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import ROOT, VENV_BIN
from tools.sfsupport.backend import Backend, backend_kind, http_json

pytestmark = pytest.mark.skipif(backend_kind() != 'emulator', reason='request counts need the emulator request log')

# Requests sent by the collection (lookup and modules), not by uri tasks or the test itself.
COLLECTION_AGENT = 'shakenfist.storage/'
VERSIONS_PATH = re.compile(r'^/artifacts/[0-9a-f-]{36}/versions$')

CONNECTION = '''  module_defaults:
    group/shakenfist.storage.sf:
      api_url: "{{ sf_api_url }}"
      namespace: "{{ sf_namespace }}"
      key: "{{ sf_key }}"
  vars:
    shakenfist_api_url: "{{ sf_api_url }}"
    shakenfist_namespace: "{{ sf_namespace }}"
    shakenfist_key: "{{ sf_key }}"
    refs: ['label:web', "{{ sf_prefix }}-b", "sf://upload/{{ sf_namespace }}/{{ sf_prefix }}-c"]
'''

SETUP = '''---
- name: Three images, web pointing at the first
  hosts: localhost
  gather_facts: false
''' + CONNECTION + '''  tasks:
    - name: Publish three images, web pointing at the first
      shakenfist.storage.sf_image_publish:
        name: "{{ sf_prefix }}-{{ item }}"
        src: "{{ sf_workdir }}/{{ item }}.img"
        label: "{{ 'web' if item == 'a' else omit }}"
      loop: [a, b, c]
      register: published

    - name: Save the published versions
      ansible.builtin.copy:
        content: "{{ {'marks': [], 'published': published.results | map(attribute='version')} | to_json }}"
        dest: "{{ sf_results_file }}"
        mode: '0600'
'''

PLAYBOOK = '''---
- name: Lookups share a client within one pass and never across tasks
  hosts: localhost
  gather_facts: false
''' + CONNECTION + '''  tasks:
    - name: Start counting
      ansible.builtin.include_tasks: mark.yml

    - name: Three lookups and a query of the same three references
      ansible.builtin.set_fact:
        one: "{{ lookup('shakenfist.storage.sf_artifact', refs[0]) }}"
        two: "{{ lookup('shakenfist.storage.sf_artifact', refs[1]) }}"
        three: "{{ lookup('shakenfist.storage.sf_artifact', refs[2]) }}"
        all_three: "{{ query('shakenfist.storage.sf_artifact', refs[0], refs[1], refs[2]) }}"

    - name: Mark the end of the lookups
      ansible.builtin.include_tasks: mark.yml

    - name: Move web to the second image
      shakenfist.storage.sf_label:
        name: web
        target: "{{ sf_prefix }}-b"

    - name: Publish a new version of the third image
      shakenfist.storage.sf_image_publish:
        name: "{{ sf_prefix }}-c"
        src: "{{ sf_workdir }}/c2.img"
      register: republished

    - name: Mark the end of the changes
      ansible.builtin.include_tasks: mark.yml

    - name: Resolve again after the changes
      ansible.builtin.set_fact:
        web_after: "{{ lookup('shakenfist.storage.sf_artifact', refs[0]) }}"
        c_after: "{{ lookup('shakenfist.storage.sf_artifact', refs[2]) }}"

    - name: Mark the end of the second lookups
      ansible.builtin.include_tasks: mark.yml

    - name: In a loop, each item's failed_when sees the label move its own item just made
      shakenfist.storage.sf_label:
        name: web
        target: "{{ item }}"
      loop: ["{{ sf_prefix }}-c", "{{ sf_prefix }}-a"]
      failed_when: >-
        lookup('shakenfist.storage.sf_artifact', 'label:web').sha512
        != lookup('shakenfist.storage.sf_artifact', item).sha512

    - name: Each until retry sees what changed since the previous attempt
      ansible.builtin.command:
        argv: ["{{ ansible_playbook_python }}", "{{ sf_workdir }}/move_web.py"]
      environment:
        SF_KEY: "{{ sf_key }}"
      changed_when: true
      register: polled
      until: >-
        lookup('shakenfist.storage.sf_artifact', 'label:web').sha512
        == lookup('shakenfist.storage.sf_artifact', refs[2]).sha512
      retries: 2
      delay: 0

    - name: Save what the lookups returned
      ansible.builtin.copy:
        content: >-
          {{ {'marks': sf_marks, 'one': one, 'two': two, 'three': three, 'all_three': all_three,
              'web_after': web_after, 'c_after': c_after, 'republished': republished.version,
              'polled_attempts': polled.attempts} | to_json }}
        dest: "{{ sf_results_file }}"
        mode: '0600'
'''

MARK_TASKS = '''---
- name: Read the request log since the last mark
  ansible.builtin.uri:
    url: "{{ sf_api_url }}/_emulator/requests?since={{ (sf_marks | default([sf_mark0])) | last }}"
    headers:
      Authorization: "Bearer {{ sf_system_token }}"
  register: sf_log

- name: Remember where the log ends
  ansible.builtin.set_fact:
    sf_marks: >-
      {{ (sf_marks | default([sf_mark0]))
         + [(sf_log.json | map(attribute='id') | max) if sf_log.json else (sf_marks | default([sf_mark0])) | last] }}
'''

# The until task's command: the first attempt points web at image a, later ones at the newest version of c.
MOVE_WEB = '''
import json, os, urllib.request

api, namespace, prefix, state = {api!r}, {namespace!r}, {prefix!r}, {state!r}
attempt = int(open(state).read()) if os.path.exists(state) else 0
open(state, 'w').write(str(attempt + 1))


def call(method, path, body=None, token=None):
    headers = {{'Content-Type': 'application/json'}}
    if token:
        headers['Authorization'] = 'Bearer ' + token
    data = json.dumps(body).encode() if body is not None else None
    with urllib.request.urlopen(urllib.request.Request(api + path, data, headers, method=method)) as answer:
        return json.loads(answer.read() or b'null')


token = call('POST', '/auth', {{'namespace': namespace, 'key': os.environ['SF_KEY']}})['access_token']
url = 'sf://upload/{{}}/{{}}-{{}}'.format(namespace, prefix, 'a' if attempt == 0 else 'c')
artifact = [a for a in call('GET', '/artifacts', {{'node': None}}, token) if a['source_url'] == url][0]
newest = max(call('GET', '/artifacts/' + artifact['uuid'] + '/versions', None, token), key=lambda v: v['index'])
call('POST', '/label/' + namespace + '/web', {{'blob_uuid': newest['uuid']}}, token)
'''

MULTI_HOST_PLAYBOOK = '''---
- name: Start counting
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Mark
      ansible.builtin.include_tasks: mark.yml

- name: Every host resolves the label itself
  hosts: many
  gather_facts: false
''' + CONNECTION + '''  tasks:
    - name: One lookup per host
      ansible.builtin.set_fact:
        per_host: "{{ lookup('shakenfist.storage.sf_artifact', 'label:web') }}"

- name: Mark the end of the per-host lookups
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Mark
      ansible.builtin.include_tasks: mark.yml

- name: One lookup for the whole play
  hosts: many
  gather_facts: false
''' + CONNECTION + '''  tasks:
    - name: Resolve once, every host gets the fact
      ansible.builtin.set_fact:
        pinned: "{{ lookup('shakenfist.storage.sf_artifact', 'label:web') }}"
      run_once: true

- name: Mark the end of the run_once lookup and save what every host holds
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Mark
      ansible.builtin.include_tasks: mark.yml

    - name: Save
      ansible.builtin.copy:
        content: >-
          {{ {'marks': sf_marks,
              'pinned': dict(groups['many'] | zip(groups['many'] | map('extract', hostvars, 'pinned'))),
              'per_host': dict(groups['many'] | zip(groups['many'] | map('extract', hostvars, 'per_host')))}
             | to_json }}
        dest: "{{ sf_results_file }}"
        mode: '0600'
'''


@dataclass
class Run:
    backend: Backend
    namespace: str
    key: str
    workdir: Path
    prefix: str
    published: list[dict[str, Any]] = field(default_factory=list)

    def playbook(self, text: str, inventory: str = 'localhost,') -> dict[str, Any]:
        """Run a playbook as users do; return what it saved, with the collection's requests between its marks."""
        token = http_json('POST', self.backend.url + '/auth', {'namespace': 'system', 'key': self.backend.system_key})
        results_file = self.workdir / 'results.json'
        results_file.unlink(missing_ok=True)
        variables = {
            'sf_api_url': self.backend.url, 'sf_namespace': self.namespace, 'sf_key': self.key,
            'sf_prefix': self.prefix, 'sf_workdir': str(self.workdir), 'sf_results_file': str(results_file),
            'sf_system_token': token[1]['access_token'], 'sf_mark0': self.backend.request_mark(),
        }
        (self.workdir / 'vars.json').write_text(json.dumps(variables))
        (self.workdir / 'mark.yml').write_text(MARK_TASKS)
        (self.workdir / 'play.yml').write_text(text)
        env = {**os.environ, 'ANSIBLE_COLLECTIONS_PATH': str(ROOT / '.tmp' / 'collections'), 'ANSIBLE_NOCOLOR': '1',
               'ANSIBLE_PYTHON_INTERPRETER': str(VENV_BIN / 'python'), 'ANSIBLE_RETRY_FILES_ENABLED': 'false'}
        for name in ('SHAKENFIST_API_URL', 'SHAKENFIST_NAMESPACE', 'SHAKENFIST_KEY'):
            env.pop(name, None)
        process = subprocess.run(
            [str(VENV_BIN / 'ansible-playbook'), '-i', inventory, '-c', 'local', '-e', f'@{self.workdir / "vars.json"}',
             str(self.workdir / 'play.yml')], env=env, capture_output=True, text=True, timeout=600, check=False)
        output = process.stdout + process.stderr
        assert process.returncode == 0, output[-12000:]
        assert self.key not in output
        saved: dict[str, Any] = json.loads(results_file.read_text())
        log = [r for r in self.backend.emulator.request_log(since=variables['sf_mark0'])
               if (r.get('user_agent') or '').startswith(COLLECTION_AGENT)]
        marks = saved['marks'][1:]  # the first is sf_mark0, taken before the playbook started
        saved['phases'] = [[r for r in log if start < r['id'] <= end] for start, end in zip(marks, marks[1:])]
        return saved


def summary(requests: list[dict[str, Any]]) -> Counter[str]:
    """What a phase cost: POST /auth, GET /artifacts, one `versions <uuid>` per version read, anything else."""
    counted: Counter[str] = Counter()
    for request in requests:
        path = request['path']
        if VERSIONS_PATH.match(path):
            counted[f'versions {path.split("/")[2]}'] += 1
        else:
            counted[f'{request["method"]} {path}'] += 1
    return counted


@pytest.fixture
def run(backend: Backend, tmp_path: Path) -> Iterator[Run]:
    namespace, key = backend.new_namespace('lookup-share')
    for name in ('a', 'b', 'c', 'c2'):
        (tmp_path / f'{name}.img').write_bytes(os.urandom(64 * 1024))
    prefix = f'ls{os.urandom(3).hex()}'
    (tmp_path / 'move_web.py').write_text(MOVE_WEB.format(api=backend.url, namespace=namespace, prefix=prefix,
                                                          state=str(tmp_path / 'attempts')))
    live = Run(backend, namespace, key, tmp_path, prefix)
    live.published = live.playbook(SETUP)['published']
    yield live


def test_one_task_costs_one_auth_one_listing_and_one_version_read_per_reference(run: Run) -> None:
    saved = run.playbook(PLAYBOOK)
    first, second = summary(saved['phases'][0]), summary(saved['phases'][2])
    one, two, three = saved['one'], saved['two'], saved['three']
    uuids = {one['uuid'], two['uuid'], three['uuid']}
    assert len(uuids) == 3
    # Three lookups and a query of the same three references: one client, one resolution per reference.
    # label:web resolved before the listing is read by name, GET /artifacts/web (issue 21); the other two need
    # the listing, which answers label:web too once it is read.
    assert first['GET /artifacts/web'] <= 1 and second['GET /artifacts/web'] <= 1
    first, second = first - Counter({'GET /artifacts/web': 1}), second - Counter({'GET /artifacts/web': 1})
    assert first == Counter({'POST /auth': 1, 'GET /artifacts': 1, **{f'versions {u}': 1 for u in uuids}}), first
    assert saved['all_three'] == [one, two, three]
    assert one['ref'] == f'sf://label/{run.namespace}/web'
    assert one['blob_uuid'] == run.published[0]['blob_uuid']

    # Modules changed the world in between (a label move, a new version)...
    moves = [r for r in saved['phases'][1] if r['method'] == 'POST' and re.match(r'^/label/(.+/)?web$', r['path'])]
    assert moves, saved['phases'][1]
    assert saved['republished']['index'] == 2
    # ...and the next task sees it, with a client of its own: no token, listing or resolution survived.
    assert saved['web_after']['blob_uuid'] == run.published[1]['blob_uuid'] != one['blob_uuid']
    assert (three['version'], saved['c_after']['version']) == (1, 2)
    assert saved['c_after']['blob_uuid'] == saved['republished']['blob_uuid'] != three['blob_uuid']
    # The second task's references, label:web and sf://upload/<ns>/<prefix>-c, are both read by name: no listing.
    assert second == Counter({'POST /auth': 1, f'GET /artifacts/{run.prefix}-c': 1, f'versions {one["uuid"]}': 1,
                              f'versions {three["uuid"]}': 1}), second
    # The until task needed its second attempt, and that attempt saw the move its command had just made.
    assert saved['polled_attempts'] == 2


def test_run_once_resolves_once_for_every_host(run: Run) -> None:
    inventory = run.workdir / 'hosts.ini'
    inventory.write_text('[many]\nh1\nh2\nh3\n\n[all:vars]\nansible_connection=local\n')
    saved = run.playbook(MULTI_HOST_PLAYBOOK, inventory=str(inventory))
    per_host, once = (summary(phase) for phase in saved['phases'][:2])
    # Without run_once every host runs the lookup in its own worker process: one auth and label read each (the label
    # is read by name, without the listing: issue 21).
    assert (per_host['POST /auth'], per_host['GET /artifacts/web']) == (3, 3), per_host
    # With run_once the lookup runs once and set_fact gives its result to every host.
    assert (once['POST /auth'], once['GET /artifacts/web']) == (1, 1), once
    assert sorted(saved['pinned']) == ['h1', 'h2', 'h3']
    assert all(value == saved['per_host']['h1'] for value in saved['pinned'].values())
