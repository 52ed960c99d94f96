"""The fault matrix's machinery; its rows (faults) and columns (operations) live in test_fault_matrix.py.

A cell sets up the world its operation starts from (through the API), runs the operation's task through
ansible-playbook as users run it while the emulator injects one fault, and judges the run: recovered, or a clean
typed error. Then it checks what the cluster holds through the API (never through the code under test), runs the
task again until it converges, and checks once more. Nothing here knows a particular row or column.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sf_emulator.testing import EmulatorProcess
from tests.integration.conftest import ROOT, VENV_BIN
from tests.integration.processes import kill_tree
from tools.sfsupport.backend import Backend

MIB = 1024 * 1024
# Every task's `timeout`. The collection waits up to this long for an outcome it could not read (a convert that
# answered 500, say), so a short one keeps the matrix fast without changing what is tested.
TIMEOUT = 4.0
# The second and third runs are healthy runs: a generous timeout keeps a loaded machine from failing them.
RERUN_TIMEOUT = 30.0
SETTLE_SECONDS = 10.0
EMPTY_SHA512 = hashlib.sha512(b'').hexdigest()


class MatrixEmulator(EmulatorProcess):
    """EmulatorProcess plus what the matrix needs and testing.py lacks: the list of pending faults, to see when the
    task's request has taken a fault (faults are consumed when a request arrives, before it is handled)."""

    def faults(self) -> list[dict[str, Any]]:
        return list(self._call('GET', '/_emulator/faults'))


@dataclass(frozen=True)
class Route:
    """A request the emulator can fault: a method and a regex searched in the decoded path (as faults match)."""

    method: str
    path: str

    def matches(self, entry: dict[str, Any]) -> bool:
        return entry['method'] == self.method and re.search(self.path, entry['path']) is not None

    def fault(self, **spec: Any) -> dict[str, Any]:
        return {'method': self.method, 'path': self.path, **spec}


@dataclass
class Cell:
    """One case's world: a fresh namespace, a work directory, and what the set-up made (facts)."""

    backend: Backend
    namespace: str
    key: str
    workdir: Path
    www_url: str
    www_dir: Path
    facts: dict[str, Any] = field(default_factory=dict)
    _blob_sha512: dict[str, str] = field(default_factory=dict)

    @property
    def emulator(self) -> MatrixEmulator:
        return self.backend.emulator

    @property
    def state_dir(self) -> Path:
        return self.workdir / 'state'

    def connection(self) -> dict[str, Any]:
        return {'api_url': self.backend.url, 'namespace': self.namespace, 'key': self.key}

    def call(self, method: str, path: str, body: Any = None) -> Any:
        return self.backend.call(method, path, body, namespace=self.namespace, key=self.key)

    # Set-up, through the API
    def publish(self, name: str, content: bytes) -> dict[str, str]:
        """Upload `content` as image `name`; returns its artifact and blob UUIDs and sha512."""
        upload = self.call('POST', '/upload')
        self.backend.send_bytes(f'/upload/{upload["uuid"]}', content, namespace=self.namespace, key=self.key)
        artifact = self.call('POST', f'/artifacts/upload/{name}',
                             {'upload_uuid': upload['uuid'], 'namespace': self.namespace})
        return {'artifact': artifact['uuid'], 'blob': artifact['blob_uuid'],
                'sha512': hashlib.sha512(content).hexdigest()}

    def point_label(self, name: str, blob: str) -> None:
        self.call('POST', f'/label/{name}', {'blob_uuid': blob})

    # What the cluster holds, through the API
    def artifacts(self) -> list[dict[str, Any]]:
        return [a for a in self.call('GET', '/artifacts') or [] if a['state'] != 'deleted']

    def with_source(self, source_url: str) -> list[dict[str, Any]]:
        return [a for a in self.artifacts() if a['source_url'] == source_url]

    def versions(self, uuid: str) -> list[dict[str, Any]]:
        return sorted(self.call('GET', f'/artifacts/{uuid}/versions') or [], key=lambda v: v['index'])

    def contents(self, source_url: str) -> list[str] | None:
        """The sha512 of each version, oldest first, of the one artifact with this source URL (None: none)."""
        found = self.with_source(source_url)
        assert len(found) <= 1, f'{len(found)} artifacts for {source_url}: {found}'
        return [v['sha512'] for v in self.versions(found[0]['uuid'])] if found else None

    def describe(self, held: list[str] | None) -> str:
        """Versions' sha512s in words, for assertion messages."""
        if held is None:
            return 'no artifact'
        names = {self.facts.get('sha512'): 'the content', EMPTY_SHA512: 'nothing (0 bytes)'}
        return 'versions holding ' + ', '.join(names.get(sha, f'sha512 {sha[:16]}...') for sha in held)

    def label_blobs(self, name: str) -> list[str] | None:
        """The blob of each version of label `name`, oldest first (None: no label)."""
        found = self.with_source(f'sf://label/{self.namespace}/{name}')
        assert len(found) <= 1, f'{len(found)} labels called {name}: {found}'
        if not found:
            return None
        return [ref['uuid'] for _index, ref in sorted(found[0]['blobs'].items(), key=lambda item: int(item[0]))]

    def content_sha512(self, blob: str) -> str:
        """The sha512 of a blob's bytes as downloaded (blobs never change, so each is read once)."""
        if blob not in self._blob_sha512:
            digest = hashlib.sha512()
            for block in self.backend.download(f'/blobs/{blob}/data'):
                digest.update(block)
            self._blob_sha512[blob] = digest.hexdigest()
        return self._blob_sha512[blob]

    def upload_files(self) -> dict[str, int]:
        """Bytes held by each upload on the emulator (there is no API to list uploads)."""
        folder = self.emulator.data_dir / 'uploads'
        sizes = {}
        for path in folder.iterdir() if folder.exists() else []:
            with contextlib.suppress(FileNotFoundError):
                sizes[path.name] = path.stat().st_size
        return sizes


# Running tasks through ansible-playbook. One play per cell: the first run; a gate where the test checks the cluster
# and hands over the next runs' options; the second run; a gate where the test says whether a third run is needed
# (not when the second changed nothing: it is the fixed point already); the third run. The hand-overs use the pipe
# lookup (a shell on the controller), not modules, which cost most of a second each: this keeps the matrix fast.
def hand_over(value: str, name: str, then_wait: bool) -> str:
    """A pipe lookup writing the Jinja expression `value` as JSON to file `name` (atomically), then optionally
    reading the gate (a FIFO: blocks until the test writes to it)."""
    path = f'(files.{name} | quote)'
    command = f"'printf %s ' ~ ({value} | to_json | quote) ~ ' > ' ~ {path} ~ '.tmp && mv ' ~ {path} ~ '.tmp ' ~ {path}"
    if then_wait:
        command += " ~ ' && cat ' ~ (files.gate | quote)"
    return f"lookup('ansible.builtin.pipe', {command})"


# MODULE is replaced by the module's name.
PLAY = f'''---
- name: Fault matrix cell
  hosts: localhost
  gather_facts: false
  tasks:
    - name: First run, under the fault
      MODULE: "{{{{ first }}}}"
      register: run0
      ignore_errors: true
      when: first is not none
    - name: Hand the first result over and wait for the next runs' options
      ansible.builtin.set_fact:
        again: "{{{{ {hand_over('run0', 'first', True)} | from_json }}}}"
    - name: Second run
      MODULE: "{{{{ again[0] }}}}"
      register: run1
      ignore_errors: true
    - name: Hand the second result over and learn whether a third run is needed
      ansible.builtin.set_fact:
        third: "{{{{ {hand_over('run1', 'second', True)} | from_json }}}}"
    - name: Third run
      MODULE: "{{{{ again[1] }}}}"
      register: run2
      ignore_errors: true
      when: third
    - name: Hand the third result over
      ansible.builtin.set_fact:
        handed: "{{{{ {hand_over('run2', 'third', False)} }}}}"
'''


class Playbook:
    """The runs of one cell, as tasks of one play (see PLAY); `first=None` skips the first run (after a kill)."""

    def __init__(self, cell: Cell, module: str, first: dict[str, Any] | None, label: str) -> None:
        self.files = {name: cell.workdir / f'{label}-{name}.json' for name in ('first', 'second', 'third')}
        self.gate = cell.workdir / f'{label}-gate'
        for path in (*self.files.values(), self.gate):
            path.unlink(missing_ok=True)
        os.mkfifo(self.gate)
        variables = cell.workdir / f'{label}-vars.json'
        variables.write_text(json.dumps({'first': first, 'files': {'gate': str(self.gate), **{
            name: str(path) for name, path in self.files.items()}}}))
        playbook = cell.workdir / f'{label}.yml'
        playbook.write_text(PLAY.replace('MODULE', module))
        env = {**os.environ, 'ANSIBLE_COLLECTIONS_PATH': str(ROOT / '.tmp' / 'collections'), 'ANSIBLE_NOCOLOR': '1',
               'ANSIBLE_PYTHON_INTERPRETER': str(VENV_BIN / 'python'), 'ANSIBLE_RETRY_FILES_ENABLED': 'false',
               # Modules fed to Python on stdin: no temporary files, fewer forks per task.
               'ANSIBLE_PIPELINING': 'true'}
        for name in ('SHAKENFIST_API_URL', 'SHAKENFIST_NAMESPACE', 'SHAKENFIST_KEY'):
            env.pop(name, None)
        # Output goes to a file: a play waiting at a gate must never block on a full pipe.
        self.log = cell.workdir / f'{label}.log'
        with open(self.log, 'w') as log:
            self.process = subprocess.Popen(
                [str(VENV_BIN / 'ansible-playbook'), '-i', 'localhost,', '-c', 'local', '-e', f'@{variables}',
                 str(playbook)], env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.killed = False

    def running(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL the playbook and the module process below it, as an AWX job timeout or a lost controller does."""
        kill_tree(self.process.pid)
        self.killed = True
        self.process.wait(timeout=30)

    def _wait_for(self, name: str) -> Any:
        path, deadline = self.files[name], time.monotonic() + 300
        while not path.exists():
            if not self.running() or time.monotonic() > deadline:
                self.stop()
                output = self.log.read_text(errors='replace')
                raise AssertionError(f'the play ended without handing over its {name} result:\n{output[-8000:]}')
            time.sleep(0.02)
        result = json.loads(path.read_text())
        return None if result.get('skipped') else dict(result)

    def _open_gate(self, value: Any) -> None:
        with open(self.gate, 'w') as gate:
            gate.write(json.dumps(value))

    def first(self) -> dict[str, Any] | None:
        """The first run's registered result (None when killed or skipped)."""
        return None if self.killed else self._wait_for('first')

    def second(self, second: dict[str, Any], third: dict[str, Any]) -> dict[str, Any]:
        """Let the play go on with the second run (and these options for a third), and return its result."""
        self._open_gate([second, third])
        return dict(self._wait_for('second'))

    def third(self, needed: bool) -> dict[str, Any] | None:
        """Let the play run the third run, or skip it; returns its result (None when skipped)."""
        self._open_gate(needed)
        result = self._wait_for('third')
        self.process.wait(timeout=60)
        return result

    def stop(self) -> None:
        """End a play still running (a failed check left it waiting at the gate)."""
        if self.running():
            self.kill()


# Judging a run
def clean_failure(result: dict[str, Any]) -> str:
    """Assert a failed run failed cleanly (a message, no traceback, a typed `error`); returns the error type."""
    assert result.get('failed') is True, result
    assert 'Traceback' not in json.dumps(result) and 'module_stderr' not in result, result
    # ansible-core 2.19 adds exception='(traceback unavailable)' to every failure that carries no traceback.
    assert result.get('exception', '(traceback unavailable)') == '(traceback unavailable)', result
    assert isinstance(result.get('msg'), str) and result['msg'].strip(), result
    error = result.get('error')
    assert isinstance(error, dict) and isinstance(error.get('type'), str) and error['type'], result
    return str(error['type'])


def succeeded(result: dict[str, Any]) -> None:
    assert not result.get('failed'), f'the run failed: {result.get("msg")!r} error={result.get("error")}'
    assert 'Traceback' not in json.dumps(result), result


def judge(result: dict[str, Any] | None) -> str:
    """What the faulty run ended with, in the words of the reliability table."""
    if result is None:
        return 'killed'
    if not result.get('failed'):
        succeeded(result)
        return 'recovered'
    return f'error `{clean_failure(result)}`'


# Faults at a point in the middle of a run
def hold(cell: Cell, route: Route, after: int, mark: int, play: Playbook, seconds: float) -> int:
    """Hold the run's next `route` request in the emulator for `seconds`, once `after` of them were answered
    (counting from request log `mark`). Returns when the held request has arrived: the run is then mid-operation.
    The return value counts the `route` requests answered at that moment."""
    emulator = cell.emulator
    deadline = time.monotonic() + 120
    while after and sum(1 for r in emulator.request_log(since=mark) if route.matches(r) and r['status'] == 200) < after:
        assert play.running(), 'the run ended before the fault could strike'
        assert time.monotonic() < deadline, f'no {route.method} {route.path} requests seen'
        time.sleep(0.02)
    held = emulator.add_fault(**route.fault(kind='latency', seconds=seconds, count=1))
    while any(fault['id'] == held['id'] for fault in emulator.faults()):
        assert play.running(), 'the run ended before the fault could strike'
        assert time.monotonic() < deadline, f'the run sent no {route.method} {route.path}'
        time.sleep(0.02)
    return sum(1 for r in emulator.request_log(since=mark) if route.matches(r))


def wait_answered(cell: Cell, route: Route, mark: int, count: int, seconds: float) -> None:
    """Wait until the emulator finished more than `count` `route` requests since `mark` (a held one ended)."""
    deadline = time.monotonic() + seconds
    while sum(1 for r in cell.emulator.request_log(since=mark) if route.matches(r)) <= count:
        assert time.monotonic() < deadline, f'the held {route.method} {route.path} never ended'
        time.sleep(0.05)


def lingering(cell: Cell, route: Route, result: dict[str, Any] | None) -> bool:
    """Whether a `route` request the run gave up on may still be on the server: its fault was taken, or the run
    failed on that request (a busy machine can take longer to hand it to the server than the run waited)."""
    error = (result or {}).get('error') or {}
    if error.get('method') and error.get('path') and route.matches(error):
        return True
    return all((f['method'], f['path']) != (route.method, route.path) for f in cell.emulator.faults())


# What must hold afterwards, whatever the fault
def settle(cell: Cell) -> list[dict[str, Any]]:
    """The namespace's artifacts once background work (URL fetches) has finished."""
    deadline = time.monotonic() + SETTLE_SECONDS
    while True:
        artifacts = cell.artifacts()
        busy = [a for a in artifacts if a['state'] == 'initial']
        if not busy or time.monotonic() > deadline:
            return artifacts
        time.sleep(0.1)


def assert_nothing_half_made(cell: Cell, stray_uploads_before: dict[str, int] | None) -> None:
    """No version whose bytes differ from its recorded sha512, no artifact left in `initial` with no versions,
    and (when `stray_uploads_before` is given) no upload holding bytes that was not there before the case."""
    for artifact in settle(cell):
        assert artifact['state'] != 'initial' or artifact['blobs'], f'empty artifact left behind: {artifact}'
        for version in cell.versions(artifact['uuid']):
            assert version['sha512'] == cell.content_sha512(version['uuid']), \
                f'version {version["index"]} of {artifact["source_url"]} holds other bytes than its sha512 says'
    if stray_uploads_before is not None:
        stray = {uuid: size for uuid, size in cell.upload_files().items()
                 if size and uuid not in stray_uploads_before}
        assert not stray, f'uploads left holding bytes: {stray}'


Check = Callable[[Cell, bool], None]
Args = dict[str, Any]


@dataclass(frozen=True)
class Operation:
    """A column: one state-changing task, the world it starts from, and what the cluster may hold afterwards."""

    id: str
    title: str
    module: str
    setup: Callable[[Cell], None]
    args: Callable[[Cell], Args]
    # check(cell, settled): settled=False allows the world as it was before the task or as the task asked;
    # settled=True (after the task converged) only the latter, exactly.
    check: Check
    writes: tuple[Route, ...]  # every write route the task may send; the first is the commit
    midway: Route | None = None  # where mid-operation faults strike (default: the commit)
    midway_after: int = 0  # ... after this many of those requests were answered
    # The second and third runs' options, given the first run's result (None: killed); default: the same task.
    rerun: Callable[[Cell, dict[str, Any] | None], tuple[Args, Args]] | None = None

    @property
    def commit(self) -> Route:
        return self.writes[0]

    @property
    def strike_at(self) -> Route:
        return self.midway or self.commit


@dataclass(frozen=True)
class Fault:
    """A row: faults in place before the run starts (inject), or an action taken mid-operation (strike), while
    the operation's midway request is held in the emulator for `hold` seconds."""

    id: str
    title: str
    inject: Callable[[Cell, Operation], None] | None = None
    strike: Callable[[Cell, Playbook], None] | None = None
    hold: float = 1.0
    timeout: float = TIMEOUT
    # The run gives up on its commit while the server still works on it: judge the world once the server is done.
    lingers: bool = False


def run_cell(cell: Cell, operation: Operation, fault: Fault) -> str:
    """Run one cell and return how the faulty run ended ('recovered', 'error `<type>`' or 'killed')."""
    operation.setup(cell)
    uploads_before = cell.upload_files()
    args = {**cell.connection(), 'timeout': fault.timeout, **operation.args(cell)}
    emulator = cell.emulator
    mark = cell.backend.request_mark()
    if fault.inject:
        fault.inject(cell, operation)
    if fault.strike and operation.midway_after:
        # Pace the midway requests so that the strike lands after `midway_after` of them, not after all.
        emulator.add_fault(**operation.strike_at.fault(kind='latency', seconds=0.1, count=None))
    play = Playbook(cell, operation.module, args, 'cell')
    try:
        if fault.strike:
            answered = hold(cell, operation.strike_at, operation.midway_after, mark, play, fault.hold)
            fault.strike(cell, play)
            if play.killed:
                # The server still finishes what the killed run had sent: judge the world after that.
                wait_answered(cell, operation.strike_at, mark, answered, fault.hold + 10)
        first = play.first()
        if fault.lingers and lingering(cell, operation.commit, first):
            wait_answered(cell, operation.commit, mark, 0, 30)
        emulator.clear_faults()
        if play.killed:
            play = Playbook(cell, operation.module, None, 'rerun')
            play.first()
        outcome = judge(first)
        assert_nothing_half_made(cell, None)
        operation.check(cell, False)
        second, third = operation.rerun(cell, first) if operation.rerun else (operation.args(cell),) * 2
        rerun_args = [{**cell.connection(), 'timeout': RERUN_TIMEOUT, **extra} for extra in (second, third)]
        second_run = play.second(*rerun_args)
        succeeded(second_run)
        third_run = play.third(bool(second_run['changed']))
    finally:
        play.stop()
    if third_run is not None:
        succeeded(third_run)
        assert third_run['changed'] is False, \
            f'the second run did not converge: a third run changed something: {third_run.get("actions")}'
    assert_nothing_half_made(cell, uploads_before)
    operation.check(cell, True)
    return outcome


# The record the reliability table is generated from (tools/fault_matrix_table.py)
RESULTS = Path(os.environ.get('SF_FAULT_MATRIX_RESULTS', ROOT / '.tmp' / 'fault-matrix.json'))


def record(rows: list[Fault], columns: list[Operation], fault: Fault, operation: Operation, **entry: Any) -> None:
    """Add one cell's result to RESULTS, keeping the other cells' (so a single cell can be re-run)."""
    try:
        data = json.loads(RESULTS.read_text())
    except (OSError, ValueError):
        data = {}
    cells = data.get('cells', {})
    cells[f'{fault.id}/{operation.id}'] = {**entry, 'when': time.strftime('%Y-%m-%d %H:%M:%S')}
    data = {'rows': [[f.id, f.title] for f in rows], 'columns': [[o.id, o.title] for o in columns], 'cells': cells}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    temporary = RESULTS.with_suffix('.tmp')
    temporary.write_text(json.dumps(data, indent=1, sort_keys=True))
    temporary.replace(RESULTS)
