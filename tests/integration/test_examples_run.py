"""Every plugin's EXAMPLES runs, as written, against a fresh emulator and succeeds.

For each module (and the sf_artifact lookup) the test builds the world its examples assume (examples/world.yml),
rewrites the examples' placeholders to this machine (REWRITES), runs them for real as the tasks of one play and checks
that every task ran and none failed. A broken example fails the test named after its plugin.
"""

from __future__ import annotations

import ast
import copy
import hashlib
import json
import os
import re
import secrets
import subprocess
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import pytest
import yaml

from tests.support.return_docs import undocumented_report
from tools.sfsupport.backend import Backend, backend_kind, emulator_args

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent / 'examples'
CALLBACKS = Path(__file__).resolve().parent / 'callback_plugins'  # sf_results: every task's status and result
WORLD = HERE / 'world.yml'
VENV_BIN = Path(os.environ.get('VIRTUAL_ENV', ROOT / '.venv')) / 'bin'
LOOKUP = 'lookup_sf_artifact'
PLUGINS = {**{path.stem: path for path in sorted((ROOT / 'plugins' / 'modules').glob('*.py'))},
           LOOKUP: ROOT / 'plugins' / 'lookup' / 'sf_artifact.py'}
# Where the examples' placeholders point on this machine: {api} is the emulator, {www} the local file server (one
# directory per example host), {root} a temporary directory standing for the host's file system.
REWRITES = {
    'https://sf.example.com/api': '{api}',
    'https://images.example.com/': '{www}/images.example.com/',
    'https://intranet.example.com/': '{www}/intranet.example.com/',
    '/srv': '{root}/srv',
    '/var/tmp': '{root}/var/tmp',
}
# A path is rewritten where it starts and ends (/srv/images, not /srv2 nor a URL's /srv).
_REWRITE = re.compile('|'.join(
    f'(?<![\\w/.:-]){re.escape(key)}(?![\\w.-])' if key.startswith('/') else re.escape(key)
    for key in sorted(REWRITES, key=len, reverse=True)))
WAIT = 180.0  # seconds for the emulator's background work; generous, for a busy machine

pytestmark = pytest.mark.skipif(backend_kind() == 'real', reason=(
    'the examples boot instances (the real 0.7.2 tier has no hypervisor) and use fixed namespace names (ci, '
    'old-tenant) that a real server cannot reuse, so they run on a fresh emulator each'))


def examples(plugin: str) -> list[dict[str, Any]]:
    for node in ast.parse(PLUGINS[plugin].read_text(encoding='utf-8')).body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == 'EXAMPLES' for t in node.targets):
            return yaml.safe_load(ast.literal_eval(node.value))
    raise AssertionError(f'{plugin} has no EXAMPLES')


def leaf_tasks(tasks: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """The tasks that run when nothing fails, in order (a rescue runs only after a failure)."""
    for task in tasks:
        if 'block' in task:
            yield from leaf_tasks(task['block'])
            yield from leaf_tasks(task.get('always') or [])
        else:
            yield task


def for_plugin(entries: list[dict[str, Any]], plugin: str) -> list[dict[str, Any]]:
    """The world's entries this plugin's examples need (all without `for`), without the `for` key."""
    return [{k: v for k, v in entry.items() if k != 'for'} for entry in entries if plugin in entry.get('for', [plugin])]


def rewrite(value: Any, places: dict[str, str]) -> Any:
    """The value with every placeholder of REWRITES replaced, in strings at any depth."""
    if isinstance(value, str):
        return _REWRITE.sub(lambda match: REWRITES[match.group(0)].format(**places), value)
    if isinstance(value, list):
        return [rewrite(item, places) for item in value]
    if isinstance(value, dict):
        return {key: rewrite(item, places) for key, item in value.items()}
    return value


def render(value: Any, variables: dict[str, Any]) -> Any:
    """Jinja in the world's raw entries (such as a namespace ci-{{ pipeline_id }}), as Ansible would render it."""
    if isinstance(value, str) and '{{' in value:
        return jinja2.Environment(undefined=jinja2.StrictUndefined).from_string(value).render(variables)
    if isinstance(value, list):
        return [render(item, variables) for item in value]
    if isinstance(value, dict):
        return {key: render(item, variables) for key, item in value.items()}
    return value


def wait_for(what: str, check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f'the world was not built: {what} after {WAIT:.0f} s')
        time.sleep(0.2)


@dataclass
class Place:
    """Where the examples' placeholders point for one test."""

    api: str
    www: str
    www_dir: Path
    root: Path

    def strings(self) -> dict[str, str]:
        return {'api': self.api, 'www': self.www, 'root': str(self.root)}

    def file(self, name: str) -> Path:
        """The local file that a path or an example URL of the world stands for."""
        local = rewrite(name, self.strings())
        if local.startswith(self.www + '/'):
            return self.www_dir / local[len(self.www) + 1:]
        return Path(local)


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[Backend]:
    """A fresh emulator for each plugin: the examples use fixed names (ci, system's centos:7) and change them."""
    from sf_emulator.testing import EmulatorProcess

    with EmulatorProcess(tmp_path / 'emulator', extra_args=emulator_args()) as process:
        yield Backend('emulator', process.url, process.system_key, emulator=process)


class World:
    """Builds the part of examples/world.yml that one plugin needs, and says what its examples' play gets."""

    def __init__(self, plugin: str, backend: Backend, place: Place) -> None:
        self.plugin = plugin
        self.backend = backend
        self.place = place
        self.data = yaml.safe_load(WORLD.read_text(encoding='utf-8'))
        self.ci_key = secrets.token_urlsafe(16)

    def variables(self) -> dict[str, Any]:
        """The examples' variables: the keys, the world's vars (sha512s computed), the lookup's connection."""
        found: dict[str, Any] = {'vault_sf_key': self.ci_key, 'vault_sf_system_key': self.backend.system_key}
        for name, value in self.data['vars'].items():
            if isinstance(value, dict) and 'sha512_of' in value:
                value = hashlib.sha512(self.content(value['sha512_of'])).hexdigest()
            found[name] = value
        return found

    def content(self, name: str) -> bytes:
        text = self.data['files'].get(name)
        assert text is not None, f'world.yml: {name} is not in files'
        return f'{text}\n'.encode()

    def build(self) -> None:
        variables = self.variables()
        for name in self.data['files']:
            self.write(self.place.file(name), self.content(name))
        for name in self.data['directories']:
            self.place.file(name).mkdir(parents=True, exist_ok=True)
        for namespace in render(self.data['namespaces'], variables):
            key = self.ci_key if namespace == 'ci' else secrets.token_urlsafe(16)
            self.backend.call('POST', '/auth/namespaces', {'namespace': namespace, 'key_name': 'examples', 'key': key})
        self.backend.emulator.set_config(**rewrite(self.data['emulator_config'], self.place.strings()))
        for upstream in for_plugin(self.data['upstream_images'], self.plugin):
            self.fetch_upstream(upstream['shorthand'], upstream['contents'])
        for instance in render(for_plugin(self.data['instances'], self.plugin), variables):
            self.create_instance(instance['name'], instance['namespace'], instance['disks'])

    @staticmethod
    def write(path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    def fetch_upstream(self, shorthand: str, contents: list[str]) -> None:
        """System's cluster fetches the shorthand from the image mirror and shares it, once per content."""
        # Where the emulator fetches a shorthand from (its image_base_url, set from emulator_config above).
        mirror = self.place.file(f'{self.data["emulator_config"]["image_base_url"]}{shorthand}/latest.qcow2')
        for count, text in enumerate(contents, start=1):
            self.write(mirror, f'{text}\n'.encode())
            artifact = self.backend.call('POST', '/artifacts', {'url': shorthand, 'shared': True})

            def fetched(uuid: str = artifact['uuid'], count: int = count) -> bool:
                state = self.backend.call('GET', f'/artifacts/{uuid}')['state']
                assert state != 'error', f'the emulator could not fetch {shorthand} from the local image mirror'
                return len(self.backend.call('GET', f'/artifacts/{uuid}/versions')) == count

            wait_for(f'{shorthand} has no version {count}', fetched)

    def create_instance(self, name: str, namespace: str, disks: list[str | None]) -> None:
        spec = [{'size': 8, 'base': base, 'bus': None, 'type': 'disk'} for base in disks]
        created = self.backend.call('POST', '/instances', {
            'name': name, 'namespace': namespace, 'cpus': 1, 'memory': 1024, 'network': [], 'disk': spec})

        def ready() -> bool:
            state = self.backend.call('GET', f'/instances/{created["uuid"]}')['state']
            assert 'error' not in state, f'instance {name} failed: {state}'
            return state == 'created'

        wait_for(f'instance {name} is not created', ready)

    def tasks(self) -> list[dict[str, Any]]:
        return rewrite(for_plugin(self.data['tasks'], self.plugin), self.place.strings())

    def skips(self) -> dict[str, str]:
        return dict((self.data.get('skip') or {}).get(self.plugin) or {})


def playbook(plugin: str, world: World) -> list[dict[str, Any]]:
    """Two plays: the world's tasks, then the examples with the connection set once for the play, as users do.

    A task's own module_defaults, namespace and key still apply over the play's; only their URLs are rewritten. The
    lookup takes its connection from variables (play variables, so a task's own vars win)."""
    strings = world.place.strings()
    variables = {**world.variables(), 'shakenfist_api_url': world.place.api, 'shakenfist_namespace': 'ci',
                 'shakenfist_key': '{{ vault_sf_key }}'}
    play = {'hosts': 'localhost', 'gather_facts': False, 'vars': variables,
            'module_defaults': {'group/shakenfist.storage.sf': {
                'api_url': world.place.api, 'namespace': 'ci', 'key': '{{ vault_sf_key }}'}}}
    tasks = rewrite(examples(plugin), strings)
    skips = world.skips()
    for task in leaf_tasks(tasks):
        if task.get('name') in skips:
            task['when'] = False
    return [{'name': f'The world of the {plugin} examples', **play, 'tasks': world.tasks()},
            {'name': f'The {plugin} examples', **copy.deepcopy(play), 'tasks': tasks}]


@dataclass
class Run:
    rc: int
    output: str
    records: list[dict[str, Any]]
    module_results: list[dict[str, Any]]


def run_playbook(plays: list[dict[str, Any]], workdir: Path) -> Run:
    path = workdir / 'examples.yml'
    path.write_text(yaml.safe_dump(plays, sort_keys=False, width=1000))
    results = workdir / 'results.json'
    env = {
        **os.environ,
        'ANSIBLE_COLLECTIONS_PATH': str(ROOT / '.tmp' / 'collections'),
        'ANSIBLE_CALLBACK_PLUGINS': str(CALLBACKS),
        'ANSIBLE_CALLBACKS_ENABLED': 'sf_results',
        'ANSIBLE_NOCOLOR': '1',
        'ANSIBLE_RETRY_FILES_ENABLED': 'false',
        'ANSIBLE_PYTHON_INTERPRETER': str(VENV_BIN / 'python'),
        'SF_RESULTS_FILE': str(results),
    }
    for name in ('SHAKENFIST_API_URL', 'SHAKENFIST_NAMESPACE', 'SHAKENFIST_KEY', 'SHAKENFIST_CA_PATH',
                 'SHAKENFIST_VALIDATE_CERTS'):
        env.pop(name, None)
    process = subprocess.run([str(VENV_BIN / 'ansible-playbook'), '-i', 'localhost,', '-c', 'local', str(path)],
                             env=env, capture_output=True, text=True, timeout=900, check=False, cwd=workdir)
    recorded = json.loads(results.read_text()) if results.exists() else {}
    output = process.stdout + process.stderr
    (workdir / 'output.txt').write_text(output)  # the whole run, beside examples.yml, for a failure's details
    return Run(process.returncode, output, recorded.get('tasks', []), recorded.get('module_results', []))


@pytest.mark.parametrize('plugin', sorted(PLUGINS))
def test_examples_run(plugin: str, emulator: Backend, file_server: tuple[str, Path], tmp_path: Path) -> None:
    url, www = file_server
    # The file server is the worker's; each test serves its own directory of it.
    place = Place(api=emulator.url, www=f'{url}/{tmp_path.name}', www_dir=www / tmp_path.name, root=tmp_path / 'host')
    world = World(plugin, emulator, place)
    world.build()
    plays = playbook(plugin, world)
    leaked = sorted(set(re.findall(r'://([\w.-]+\.example\.com)', json.dumps(plays))))
    assert not leaked, f'{plugin}: the examples name {leaked}: add a place for them to REWRITES'
    run = run_playbook(plays, tmp_path)
    world_play, examples_play = plays[0]['name'], plays[1]['name']

    failed = [r for r in run.records if r['status'] in ('failed', 'ignored')]
    where = 'building its world' if failed and failed[0]['play'] == world_play else (
        'running its examples (fix the example; if it needs something the world lacks, add that to '
        f'{WORLD.relative_to(ROOT)})')
    assert run.rc == 0 and not failed, (
        f'{plugin}: failed {where}: '
        + (f'task {failed[0]["name"]!r} ({failed[0]["action"]}): {failed[0]["msg"]} {failed[0]["error"] or ""}\n'
           if failed else f'ansible-playbook exited {run.rc}\n')
        + run.output[-8000:])

    expected = [task['name'] for task in leaf_tasks(plays[1]['tasks'])]
    ran = [r for r in run.records if r['play'] == examples_play]
    assert [r['name'] for r in ran] == expected, f'{plugin}: the examples did not all run:\n{run.output[-8000:]}'
    skips = world.skips()
    assert set(skips) <= set(expected), f'world.yml skips tasks {plugin} has no longer: {set(skips) - set(expected)}'
    for name, status in ((r['name'], r['status']) for r in ran):
        if name in skips:
            assert status == 'skipped'
            warnings.warn(f'{plugin}: example {name!r} was not run: {skips[name]}', stacklevel=1)
        else:
            assert status in ('ok', 'changed'), f'{plugin}: example {name!r} was {status}:\n{run.output[-8000:]}'
    # What the examples' modules returned is what their RETURN documents.
    assert undocumented_report(run.module_results) == []
