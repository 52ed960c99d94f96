"""Soak benchmark: a thousand mixed tasks across 16 forks against one emulator, with faults injected at a steady rate.

    .venv/bin/python bench/soak.py [--tasks 1000] [--forks 16] [--fault-rate 1.0] [--seed N] [--write-docs]
    make soak SOAK_ARGS='--tasks 200'

One freshly started emulator, one namespace. A setup play (no faults) publishes the stable images `soak-base-*`
and creates the shared labels `soak-label-*`. Then one ansible-playbook run with `forks` forks over as many local
inventory hosts plays the mix, while a background thread injects faults through `/_emulator/faults` (drops, 5xx,
406, latency, some past the task timeout, token expiry) on random read and write routes.

The mix, drawn from --seed:
  publish_new      a new small random file (a few are multi-chunk), under the host's own names or a name every
                   host publishes to (same name, different content); some set max_versions, some a label
  publish_common   bytes every host has (each its own copy) under a common name, or under the host's own name
  republish        a file this host published before, unchanged; or a host's copy of a stable image
  artifact_absent  state absent of a volatile artifact (whole, or one version)
  label_move       sf_label of a shared label name at a stable image (or, sometimes, a volatile one)
  label_rollback   sf_label rollback
  label_version    sf_label_info of a label, then state absent of its oldest or newest version (two tasks)
  artifact_info    sf_artifact_info by pattern or reference
  label_info       sf_label_info listing or one label
  lookup           the sf_artifact lookup in a set_fact

Each host plays its ops in rounds; a round is one task per module looping over the host's ops for it. The play
uses the free strategy by default, so hosts drift apart and different kinds of tasks run at the same time.

The report: tasks run, success rate, failures by error type (the result's `error.type`; lookups carry none, so
theirs is read from the message) and by module, run time, and a consistency check read through the API directly
(see soak_check.py). Any inconsistency, or any failure without a typed error (a crash, a traceback), is printed
loudly and makes the exit status 1.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import datetime
import hashlib
import json
import math
import os
import random
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / 'emulator'))

from soak_check import Consistency, check_cluster, resumable_uploads  # noqa: E402

from tools.sfsupport.backend import Backend, running_backend  # noqa: E402

VENV_BIN = ROOT / '.venv' / 'bin'
COLLECTIONS = ROOT / '.tmp' / 'collections'
CALLBACKS = Path(__file__).resolve().parent / 'soak_callback'
DOC = ROOT / 'docs' / 'reliability.md'
BEGIN, END = '<!-- begin soak -->', '<!-- end soak -->'
KIB, MIB = 1024, 1024 * 1024

BASE = [f'soak-base-{i}' for i in range(4)]
SHARED = [f'soak-shared-{i}' for i in range(6)]
COMMON = [f'soak-common-{i}' for i in range(4)]
LABELS = [f'soak-label-{i}' for i in range(4)]
# Labels are created with different version policies, so trimming and rollback limits both happen.
LABEL_MAX_VERSIONS = {'soak-label-0': None, 'soak-label-1': 5, 'soak-label-2': 2, 'soak-label-3': 4}
MIX = {'publish_new': 24, 'publish_common': 10, 'republish': 12, 'artifact_absent': 5, 'label_move': 14,
       'label_rollback': 5, 'label_version': 4, 'artifact_info': 8, 'label_info': 8, 'lookup': 8}
ROUND_OPS = 8
# Which play task runs an op, and the module it counts for.
SLOTS = {'publish': 'sf_image_publish', 'label': 'sf_label', 'label_version': 'sf_label_info + sf_label',
         'artifact_info': 'sf_artifact_info', 'label_info': 'sf_label_info', 'lookup': 'sf_artifact lookup'}


@dataclass
class Op:
    id: int
    host: str
    kind: str
    slot: str
    params: dict[str, Any]
    sha512: str | None = None  # the file's, for publishes of a file
    expect: tuple[str, ...] = ()  # error types the mix alone can cause (a target that may be gone)

    def item(self) -> dict[str, Any]:
        return {'soak_id': self.id, **self.params}


@dataclass
class Plan:
    hosts: list[str]
    setup: list[Op]
    ops: list[Op]
    files: dict[str, bytes] = field(default_factory=dict)  # path -> content, written before the run

    @property
    def tasks(self) -> int:
        return sum(2 if op.kind == 'label_version' else 1 for op in self.ops)


def random_bytes(rng: random.Random, size: int) -> bytes:
    return rng.randbytes(size)


def small_size(rng: random.Random) -> int:
    """1 KiB to 256 KiB, log-uniform: mostly small, some larger."""
    return int(math.exp(rng.uniform(math.log(KIB), math.log(256 * KIB))))


def make_plan(tasks: int, hosts: list[str], seed: int, files_dir: Path) -> Plan:
    rng = random.Random(seed)
    plan = Plan(hosts=hosts, setup=[], ops=[])
    ids = iter(range(1, 1 << 30))

    def add_file(path: Path, content: bytes) -> str:
        plan.files[str(path)] = content
        return hashlib.sha512(content).hexdigest()

    base_content = {name: random_bytes(rng, small_size(rng)) for name in BASE}
    common_content = {name: random_bytes(rng, small_size(rng)) for name in COMMON}
    for name, content in base_content.items():
        path = files_dir / 'setup' / f'{name}.img'
        plan.setup.append(Op(next(ids), 'setup', 'publish_base', 'publish', {'name': name, 'src': str(path)},
                             add_file(path, content)))
    for index, label in enumerate(LABELS):
        params: dict[str, Any] = {'name': label, 'target': BASE[index % len(BASE)]}
        if LABEL_MAX_VERSIONS[label]:
            params['max_versions'] = LABEL_MAX_VERSIONS[label]
        plan.setup.append(Op(next(ids), 'setup', 'label_move', 'label', params))

    published: dict[str, list[tuple[str, str, str]]] = {host: [] for host in hosts}  # (name, src, sha512)
    kinds, weights = list(MIX), list(MIX.values())
    budget = tasks
    turn = 0
    while budget > 0:
        host = hosts[turn % len(hosts)]
        turn += 1
        kind = rng.choices(kinds, weights)[0]
        if kind == 'label_version' and budget < 2:
            kind = 'label_info'
        if kind == 'republish' and not published[host]:
            kind = 'publish_common'
        op_id = next(ids)
        own = [f'soak-{host}-{i}' for i in range(3)]
        host_dir = files_dir / host
        params = {}
        sha512 = None
        expect: tuple[str, ...] = ()
        slot = 'publish'
        if kind == 'publish_new':
            name = rng.choice(own if rng.random() < 0.5 else SHARED)
            if rng.random() < 0.1:  # a few multi-chunk uploads, so chunk retries and truncation run too
                content = random_bytes(rng, rng.randint(MIB + 1, 3 * MIB))
                params['chunk_size'] = 1
            else:
                content = random_bytes(rng, small_size(rng))
            path = host_dir / f'op{op_id}.img'
            sha512 = add_file(path, content)
            params.update(name=name, src=str(path))
            if rng.random() < 0.3:
                params['max_versions'] = rng.choice([1, 2, 3, 5])
            if rng.random() < 0.15:
                params['label'] = rng.choice(LABELS)
            published[host].append((name, str(path), sha512))
        elif kind == 'publish_common':
            common = rng.choice(COMMON)
            path = host_dir / f'{common}.img'
            sha512 = add_file(path, common_content[common])
            name = common if rng.random() < 0.7 else rng.choice(own)
            params.update(name=name, src=str(path))
            published[host].append((name, str(path), sha512))
        elif kind == 'republish':
            if rng.random() < 0.3:
                name = rng.choice(BASE)
                path = host_dir / f'{name}.img'
                sha512 = add_file(path, base_content[name])
                params.update(name=name, src=str(path))
            else:
                name, src, sha512 = rng.choice(published[host])
                params.update(name=name, src=src)
        elif kind == 'artifact_absent':
            params.update(name=rng.choice(own + SHARED + COMMON), state='absent')
            if rng.random() < 0.3:
                params['version'] = rng.randint(1, 6)
        elif kind == 'label_move':
            slot = 'label'
            if rng.random() < 0.75:
                target = rng.choice(BASE)
            else:
                target = rng.choice(SHARED + COMMON)
                expect = ('not_found',)
            params.update(name=rng.choice(LABELS), target=target)
            if rng.random() < 0.1:
                params['max_versions'] = rng.choice([2, 3, 5])
        elif kind == 'label_rollback':
            slot = 'label'
            params.update(name=rng.choice(LABELS), rollback=rng.choice([1, 1, 1, 2]))
            expect = ('not_found',)  # history shorter than the rollback
        elif kind == 'label_version':
            slot = 'label_version'
            params.update(name=rng.choice(LABELS), which=rng.choice(['oldest', 'newest']))
        elif kind == 'artifact_info':
            slot = 'artifact_info'
            choice = rng.random()
            if choice < 0.4:
                params['pattern'] = rng.choice(['soak-*', 'soak-shared-*', f'soak-{host}-*'])
            elif choice < 0.7:
                params['ref'] = rng.choice(BASE + [f'label:{label}' for label in LABELS])
            else:
                params['ref'] = rng.choice(SHARED + COMMON)
                expect = ('not_found',)
        elif kind == 'label_info':
            slot = 'label_info'
            if rng.random() < 0.5:
                params.update(pattern='soak-label-*', history=rng.random() < 0.5)
            else:
                params['name'] = rng.choice(LABELS)
        elif kind == 'lookup':
            slot = 'lookup'
            if rng.random() < 0.6:
                params.update(ref=rng.choice([f'label:{label}' for label in LABELS] + BASE), on_missing='error')
            else:
                params.update(ref=rng.choice(SHARED + COMMON), on_missing='skip')
        plan.ops.append(Op(op_id, host, kind, slot, params, sha512, expect))
        budget -= 2 if kind == 'label_version' else 1
    return plan


# --- the play -----------------------------------------------------------------------------------------------------
PLAY_HEAD = '''---
- name: Soak
  hosts: all
  gather_facts: false
  strategy: {strategy}
  module_defaults:
    group/shakenfist.storage.sf:
      api_url: "{{{{ sf_api_url }}}}"
      namespace: "{{{{ sf_namespace }}}}"
      key: "{{{{ sf_key }}}}"
      timeout: "{{{{ sf_timeout }}}}"
  tasks:
'''

ROUND = '''
    - name: r{r} sf_image_publish
      shakenfist.storage.sf_image_publish:
        name: "{{{{ item.name }}}}"
        src: "{{{{ item.src | default(omit) }}}}"
        state: "{{{{ item.state | default(omit) }}}}"
        version: "{{{{ item.version | default(omit) }}}}"
        max_versions: "{{{{ item.max_versions | default(omit) }}}}"
        label: "{{{{ item.label | default(omit) }}}}"
        chunk_size: "{{{{ item.chunk_size | default(omit) }}}}"
        checksum_cache_dir: "{{{{ soak_state_dir }}}}"
      loop: "{{{{ soak_ops.r{r}.publish }}}}"
      loop_control: {{label: "{{{{ item.soak_id }}}}"}}
      ignore_errors: true

    - name: r{r} sf_label
      shakenfist.storage.sf_label:
        name: "{{{{ item.name }}}}"
        target: "{{{{ item.target | default(omit) }}}}"
        rollback: "{{{{ item.rollback | default(omit) }}}}"
        max_versions: "{{{{ item.max_versions | default(omit) }}}}"
      loop: "{{{{ soak_ops.r{r}.label }}}}"
      loop_control: {{label: "{{{{ item.soak_id }}}}"}}
      ignore_errors: true

    - name: r{r} sf_label_info before a version delete
      shakenfist.storage.sf_label_info:
        name: "{{{{ item.name }}}}"
      loop: "{{{{ soak_ops.r{r}.label_version }}}}"
      loop_control: {{label: "{{{{ item.soak_id }}}}"}}
      register: soak_version_info
      ignore_errors: true

    - name: r{r} sf_label version delete
      shakenfist.storage.sf_label:
        name: "{{{{ item.item.name }}}}"
        state: absent
        version: "{{{{ (item.labels[0].history | map(attribute='version') | list)[-1 if item.item.which == 'oldest'
                     else 0] }}}}"
      loop: "{{{{ soak_version_info.results | default([]) }}}}"
      loop_control: {{label: "{{{{ item.item.soak_id }}}}"}}
      when: item.labels | default([]) | length > 0 and item.labels[0].history | length > 1
      ignore_errors: true

    - name: r{r} sf_artifact_info
      shakenfist.storage.sf_artifact_info:
        name: "{{{{ item.pattern | default(omit) }}}}"
        ref: "{{{{ item.ref | default(omit) }}}}"
      loop: "{{{{ soak_ops.r{r}.artifact_info }}}}"
      loop_control: {{label: "{{{{ item.soak_id }}}}"}}
      ignore_errors: true

    - name: r{r} sf_label_info
      shakenfist.storage.sf_label_info:
        name: "{{{{ item.name | default(omit) }}}}"
        pattern: "{{{{ item.pattern | default(omit) }}}}"
        history: "{{{{ item.history | default(omit) }}}}"
      loop: "{{{{ soak_ops.r{r}.label_info }}}}"
      loop_control: {{label: "{{{{ item.soak_id }}}}"}}
      ignore_errors: true

    - name: r{r} sf_artifact lookup
      ansible.builtin.set_fact:
        soak_resolved: "{{{{ lookup('shakenfist.storage.sf_artifact', item.ref, on_missing=item.on_missing) }}}}"
      loop: "{{{{ soak_ops.r{r}.lookup }}}}"
      loop_control: {{label: "{{{{ item.soak_id }}}}"}}
      ignore_errors: true
'''


def host_rounds(ops: list[Op]) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """One host's ops in rounds of ROUND_OPS; each round lists its ops per play task, in the order drawn."""
    rounds: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for index in range(0, max(len(ops), 1), ROUND_OPS):
        slots: dict[str, list[dict[str, Any]]] = {slot: [] for slot in SLOTS}
        for op in ops[index:index + ROUND_OPS]:
            slots[op.slot].append(op.item())
        rounds[f'r{index // ROUND_OPS}'] = slots
    return rounds


@dataclass
class PlayRun:
    seconds: float
    returncode: int
    records: list[dict[str, Any]]
    log: Path


def run_play(name: str, workdir: Path, hosts: dict[str, list[Op]], state_dirs: dict[str, Path],
             connection: dict[str, Any], forks: int, strategy: str, timeout: float,
             progress: Any = None) -> PlayRun:
    """One ansible-playbook run over local inventory hosts; each task result is recorded by the soak callback."""
    playdir = workdir / name
    playdir.mkdir(parents=True)
    per_host = {host: host_rounds(ops) for host, ops in hosts.items()}
    rounds = max(len(r) for r in per_host.values())
    for host_ops in per_host.values():  # every host has every round, so the play's loops never see undefined
        for index in range(rounds):
            host_ops.setdefault(f'r{index}', {slot: [] for slot in SLOTS})
    inventory = {'all': {'hosts': {host: {'ansible_connection': 'local',
                                          'ansible_python_interpreter': str(VENV_BIN / 'python'),
                                          'soak_state_dir': str(state_dirs[host]), 'soak_ops': per_host[host]}
                                   for host in hosts}}}
    (playdir / 'inventory.json').write_text(json.dumps(inventory))
    (playdir / 'vars.json').write_text(json.dumps(connection))
    play = PLAY_HEAD.format(strategy=strategy) + ''.join(ROUND.format(r=index) for index in range(rounds))
    (playdir / 'play.yml').write_text(play)
    records_path = playdir / 'records.jsonl'
    log_path = playdir / 'ansible.log'
    env = {k: v for k, v in os.environ.items() if not k.startswith('SHAKENFIST_')}
    env.update(ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS), ANSIBLE_NOCOLOR='1', ANSIBLE_FORKS=str(forks),
               ANSIBLE_HOST_KEY_CHECKING='false', ANSIBLE_RETRY_FILES_ENABLED='false',
               ANSIBLE_CALLBACK_PLUGINS=str(CALLBACKS), ANSIBLE_CALLBACKS_ENABLED='soak_record',
               ANSIBLE_LOCAL_TEMP=str(workdir / 'ansible-local'), ANSIBLE_REMOTE_TMP=str(workdir / 'ansible-remote'),
               ANSIBLE_DEPRECATION_WARNINGS='false', SOAK_RECORD_FILE=str(records_path))
    command = [str(VENV_BIN / 'ansible-playbook'), '-i', str(playdir / 'inventory.json'),
               '-e', f'@{playdir / "vars.json"}', str(playdir / 'play.yml')]
    started = time.monotonic()
    with open(log_path, 'wb') as log:
        # Its own session, so a run past the deadline is stopped with all its workers, by this PID's group.
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True)
        try:
            while True:
                try:
                    process.wait(timeout=30)
                    break
                except subprocess.TimeoutExpired:
                    if progress:
                        progress(time.monotonic() - started, read_records(records_path))
                    if time.monotonic() - started > timeout:
                        raise SystemExit(
                            f'{name}: ansible-playbook still running after {timeout:.0f}s; see {log_path}') from None
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
    return PlayRun(time.monotonic() - started, process.returncode, read_records(records_path), log_path)


def read_records(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    records = []
    for line in path.read_text().splitlines():
        with contextlib.suppress(ValueError):  # a line being written right now
            records.append(json.loads(line))
    return records


# --- faults -------------------------------------------------------------------------------------------------------
# (method, path regex): the routes the collection reads and writes.
READ_ROUTES = [
    ('POST', r'^/auth$'), ('GET', r'^/artifacts$'), ('GET', r'^/artifacts/[^/]+$'),
    ('GET', r'^/artifacts/[^/]+/versions$'), ('GET', r'^/artifacts/[^/]+/metadata$'), ('GET', r'^/blob_checksums/'),
    ('GET', r'^/blobs/'), ('GET', r'^/auth/namespaces'),
]
WRITE_ROUTES = [
    ('POST', r'^/upload$'), ('POST', r'^/upload/[0-9a-f-]{36}$'), ('POST', r'^/upload/[^/]+/truncate/'),
    ('POST', r'^/artifacts/upload/'), ('POST', r'^/label/'), ('DELETE', r'^/artifacts/[^/]+$'),
    ('DELETE', r'^/artifacts/[^/]+/versions/'), ('POST', r'^/artifacts/[^/]+/versions$'),
    ('PUT', r'^/artifacts/[^/]+/metadata/'), ('DELETE', r'^/artifacts/[^/]+/metadata/'),
]
FAULT_KINDS = {'drop': 20, '5xx': 20, '406': 15, 'latency': 20, 'latency past timeout': 10, 'token expiry': 5}
# Faults for routes nobody used meanwhile are cleared after this long, so they do not pile up and fire in bursts.
FAULT_EXPIRY = 30.0


class FaultInjector(threading.Thread):
    """Adds one fault every 1/rate seconds: a random kind on a random read or write route, for one request."""

    def __init__(self, backend: Backend, rate: float, seed: int, task_timeout: float) -> None:
        super().__init__(name='faults', daemon=True)
        self.backend = backend
        self.rate = rate
        self.rng = random.Random(seed)
        self.task_timeout = task_timeout
        self.stopping = threading.Event()
        self.added: collections.Counter[str] = collections.Counter()
        self.expired = 0
        self.errors: list[str] = []

    def fault(self) -> tuple[str, dict[str, Any]]:
        kind = self.rng.choices(list(FAULT_KINDS), list(FAULT_KINDS.values()))[0]
        method, path = self.rng.choice(READ_ROUTES if self.rng.random() < 0.5 else WRITE_ROUTES)
        spec: dict[str, Any] = {'method': method, 'path': path, 'count': 1}
        if kind == 'drop':
            # Part way through a chunk, or before any byte. Never past the end of a body: the emulator then reads the
            # whole body without dropping and hands the handler an empty one (a 400 no client could cause).
            chunk = method == 'POST' and path.startswith(r'^/upload/[0-9a-f')
            spec.update(kind='drop', after_bytes=self.rng.choice([0, 512]) if chunk else 0)
        elif kind == '5xx':
            spec.update(kind='fail', status=self.rng.choice([500, 502, 503, 504]))
        elif kind == '406':
            spec.update(kind='not_ready')
        elif kind == 'latency':
            spec.update(kind='latency', seconds=round(self.rng.uniform(0.2, 3.0), 2))
        elif kind == 'latency past timeout':
            spec.update(kind='latency', seconds=round(self.task_timeout + self.rng.uniform(0.5, 3.0), 2))
        else:
            spec = {'kind': 'expire_tokens'}
        return kind, spec

    def run(self) -> None:
        emulator = self.backend.emulator
        next_fault = time.monotonic()
        next_expiry = time.monotonic() + FAULT_EXPIRY
        while not self.stopping.wait(max(0.0, next_fault - time.monotonic())):
            next_fault += 1 / self.rate
            try:
                if time.monotonic() >= next_expiry:
                    next_expiry += FAULT_EXPIRY
                    pending = len(emulator._call('GET', '/_emulator/faults'))
                    emulator.clear_faults()
                    self.expired += pending
                kind, spec = self.fault()
                emulator.add_fault(**spec)
                self.added[kind] += 1
            except (OSError, RuntimeError, ValueError) as exc:
                self.errors.append(str(exc)[:200])

    def stop(self) -> int:
        """Stop adding faults, clear the pending ones; how many were still pending."""
        self.stopping.set()
        self.join(timeout=30)
        pending = len(self.backend.emulator._call('GET', '/_emulator/faults'))
        self.backend.emulator.clear_faults()
        return pending


# --- outcomes -----------------------------------------------------------------------------------------------------
LOOKUP_TYPES = [
    (r'no answer from .* within', 'timeout'), (r'HTTP 401', 'unauthenticated'), (r'HTTP 403', 'forbidden'),
    (r'HTTP 404|not found|matches nothing|no artifact', 'not_found'), (r'HTTP 406', 'not_ready'),
    (r'HTTP 5\d\d', 'server_error'), (r'ambiguous', 'ambiguous_reference'),
    (r'connection|transport', 'transport_error'), (r'unexpected \w+', 'internal_error'),
]


def error_type(record: dict[str, Any]) -> str:
    """The failure's `error.type`; for a lookup (no structured error) one read from its message."""
    result = record['result']
    error = result.get('error')
    if isinstance(error, dict) and error.get('type'):
        return str(error['type'])
    message = str(result.get('msg', ''))
    if 'module_stderr' in result or 'Traceback' in message or result.get('exception', '').startswith('Traceback'):
        return 'crash (traceback)'
    if 'sf_artifact' in message or 'lookup' in record['task']:
        for pattern, kind in LOOKUP_TYPES:
            if re.search(pattern, message, re.IGNORECASE):
                return f'{kind} (from the lookup message)'
        return 'lookup error (untyped)'
    return 'untyped'


def task_module(task: str) -> str:
    name = task.split(' ', 1)[1] if task.startswith('r') and ' ' in task else task
    return 'sf_label_info' if name.startswith('sf_label_info') else 'sf_label' if name.startswith('sf_label') \
        else name


@dataclass
class Outcome:
    run: int = 0
    ok: int = 0
    skipped: int = 0
    failed: list[dict[str, Any]] = field(default_factory=list)
    by_module: dict[str, collections.Counter[str]] = field(default_factory=dict)

    @property
    def success_rate(self) -> float:
        return self.ok / self.run if self.run else 0.0


def outcomes(records: list[dict[str, Any]]) -> Outcome:
    outcome = Outcome()
    for record in records:
        module = task_module(record['task'])
        counts = outcome.by_module.setdefault(module, collections.Counter())
        if record['status'] == 'skipped':
            outcome.skipped += 1
            counts['skipped'] += 1
            continue
        outcome.run += 1
        counts['run'] += 1
        if record['status'] == 'ok':
            outcome.ok += 1
            counts['ok'] += 1
        else:
            outcome.failed.append(record)
            counts['failed'] += 1
    return outcome


def short(text: Any, limit: int = 240) -> str:
    text = ' '.join(str(text).split())
    return text if len(text) <= limit else text[:limit - 3] + '...'


# --- the run ------------------------------------------------------------------------------------------------------
@dataclass
class Soak:
    options: argparse.Namespace
    seed: int
    started_at: datetime.datetime
    plan: Plan
    setup: PlayRun
    play: PlayRun
    outcome: Outcome
    faults: dict[str, int]
    faults_expired: int
    faults_pending: int
    fault_errors: list[str]
    requests: collections.Counter[str]
    consistency: Consistency
    check_seconds: float
    total_seconds: float
    ops: dict[int, Op]


def soak(options: argparse.Namespace, workdir: Path) -> Soak:
    begun = time.monotonic()
    started_at = datetime.datetime.now(datetime.timezone.utc)
    seed = options.seed if options.seed is not None else random.SystemRandom().randrange(1 << 31)
    hosts = [f'h{index:02d}' for index in range(options.hosts)]
    plan = make_plan(options.tasks, hosts, seed, workdir / 'files')
    for path, content in plan.files.items():
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_bytes(content)
    # Even hosts share one state directory (forks on one machine: they coordinate through its locks); odd hosts
    # each have their own (separate machines: only the server's rules apply between them).
    state_dirs = {host: workdir / 'state' / ('shared' if index % 2 == 0 else host) for index, host in enumerate(hosts)}
    state_dirs['setup'] = workdir / 'state' / 'setup'
    ops = {op.id: op for op in plan.setup + plan.ops}
    print(f'seed {seed}: {plan.tasks} tasks ({len(plan.ops)} ops) on {len(hosts)} hosts, {options.forks} forks, '
          f'{options.fault_rate} faults/s; files: {len(plan.files)} ({sum(map(len, plan.files.values())) / MIB:.0f} '
          'MiB)', flush=True)
    with running_backend(workdir / 'backend', 'emulator') as backend:
        namespace, key = backend.new_namespace('soak')
        # The lookup's settings are given as plain values: a templated shakenfist_timeout fails (see NOTES).
        connection = {'sf_api_url': backend.url, 'sf_namespace': namespace, 'sf_key': key,
                      'sf_timeout': options.timeout, 'shakenfist_api_url': backend.url,
                      'shakenfist_namespace': namespace, 'shakenfist_key': key, 'shakenfist_timeout': options.timeout}
        print(f'emulator at {backend.url} (pid {backend.emulator.pid}), namespace {namespace}', flush=True)
        setup = run_play('setup', workdir, {'setup': plan.setup}, state_dirs, connection, 1, 'linear', 600)
        setup_outcome = outcomes(setup.records)
        if setup.returncode != 0 or setup_outcome.failed or setup_outcome.run != len(plan.setup):
            raise SystemExit(f'the setup play failed (no faults were injected yet): {setup_outcome.failed}\n'
                             f'see {setup.log}')
        mark = backend.request_mark()
        injector = FaultInjector(backend, options.fault_rate, seed, options.timeout) if options.fault_rate > 0 \
            else None
        if injector:
            injector.start()

        def progress(seconds: float, records: list[dict[str, Any]]) -> None:
            done = outcomes(records)
            print(f'  {seconds:5.0f}s: {done.run}/{plan.tasks} tasks run, {len(done.failed)} failed, '
                  f'{sum(injector.added.values()) if injector else 0} faults injected', flush=True)

        try:
            play = run_play('soak', workdir, {host: [op for op in plan.ops if op.host == host] for host in hosts},
                            state_dirs, connection, options.forks, options.strategy, options.deadline, progress)
        finally:
            pending = injector.stop() if injector else 0
        requests: collections.Counter[str] = collections.Counter()
        log = backend.emulator.request_log(since=mark)
        (workdir / 'requests.jsonl').write_text(''.join(json.dumps(entry) + '\n' for entry in log))  # for --keep
        for entry in log:
            requests['total'] += 1
            status = int(entry['status'])
            requests['dropped' if status == 0 else f'{status // 100}xx'] += 1
            if status >= 500:
                requests[f'{status}'] += 1
        time.sleep(2)  # the emulator's cleaner runs every second: let it finish what the run left it
        print('consistency check ...', flush=True)
        checked = time.monotonic()
        publishes = []
        for record in play.records:
            op = ops.get(record.get('id') or 0)
            if record['status'] == 'ok' and op and op.slot == 'publish' and op.sha512 and 'src' in op.params:
                publishes.append((op.id, record['host'], op.params['name'], record['result'], op.sha512))
        consistency = check_cluster(backend, namespace, backend.emulator.data_dir / 'uploads', publishes,
                                    frozenset(resumable_uploads(set(state_dirs.values()))))
        check_seconds = time.monotonic() - checked
    return Soak(options, seed, started_at, plan, setup, play, outcomes(play.records),
                dict(injector.added) if injector else {}, injector.expired if injector else 0, pending,
                injector.errors if injector else [], requests, consistency, check_seconds,
                time.monotonic() - begun, ops)


# --- the report ---------------------------------------------------------------------------------------------------
def command_line(options: argparse.Namespace, seed: int) -> str:
    parts = ['.venv/bin/python bench/soak.py', f'--tasks {options.tasks}', f'--forks {options.forks}',
             f'--fault-rate {options.fault_rate:g}', f'--seed {seed}']
    if options.hosts != options.forks:
        parts.append(f'--hosts {options.hosts}')
    if options.timeout != 5:
        parts.append(f'--timeout {options.timeout:g}')
    if options.strategy != 'free':
        parts.append(f'--strategy {options.strategy}')
    return ' '.join(parts)


def evidence(result: Soak, clue: tuple[Any, ...]) -> list[str]:
    """The task records behind a finding: the publishes of a file the size of a left-over upload, the tasks that
    made or deleted the label versions concerned, or the deletes of an artifact while a publish to it ran."""
    lines = []
    until = next((r['time'] for r in result.play.records if clue[0] == 'deleted' and r.get('id') == clue[2]), 0.0)
    for record in result.play.records:
        op = result.ops.get(record.get('id') or 0)
        data = record['result']
        steps = [step.get('action', '') for step in data.get('plan') or [] if isinstance(step, dict)]
        said = ' '.join(dict.fromkeys(map(str, [data.get('msg', ''), *(data.get('actions') or []), *steps])))
        if clue[0] == 'upload':
            src = op.params.get('src') if op else None
            if not src or len(result.plan.files.get(src, b'')) != clue[1]:
                continue
        elif clue[0] == 'label':
            if clue[1] not in said or not any(re.search(rf'version {v}\b', said) for v in clue[2]):
                continue
        elif clue[0] == 'deleted':
            # A delete of that name that finished shortly before the publish did.
            if not op or op.kind != 'artifact_absent' or op.params.get('name') != clue[1] or \
                    not until - 15 <= record['time'] <= until:
                continue
            said = f"{said} (finished {until - record['time']:.1f}s before op {clue[2]})"
        else:
            continue
        kind = error_type(record) if record['status'] == 'failed' else record['status']
        lines.append(f"op {record.get('id')} on {record['host']} ({record['task']}, {op.kind if op else '?'}): "
                     f"{kind}: {short(said, 400)}")
    return lines


def problems(result: Soak) -> list[tuple[str, list[str]]]:
    """What makes the soak fail, each with its evidence: inconsistencies, failures without a typed error, an
    ansible-playbook that did not finish."""
    found = []
    for check in result.consistency.checks:
        for finding in check.findings:
            found.append((f'{check.name}: {finding.text}', evidence(result, finding.clue) if finding.clue else []))
    for record in result.outcome.failed:
        kind = error_type(record)
        if kind.startswith('crash') or kind in ('untyped', 'internal_error', 'check_mode_write'):
            found.append((f"{kind}: op {record.get('id')} on {record['host']} ({record['task']}): "
                          f"{short(record['result'].get('msg'))}", []))
    if result.outcome.run + result.outcome.skipped < result.plan.tasks:
        found.append((f'only {result.outcome.run + result.outcome.skipped} of {result.plan.tasks} tasks reported a '
                      'result; see the ansible-playbook output', []))
    if result.play.returncode != 0:
        found.append((f'ansible-playbook exited with status {result.play.returncode}', []))
    return found


def render(result: Soak) -> str:
    options, outcome = result.options, result.outcome
    failed_by_type = collections.Counter(error_type(record) for record in outcome.failed)
    explained = sum(1 for record in outcome.failed
                    if error_type(record) in (result.ops[record['id']].expect if record.get('id') in result.ops
                                              else ()))
    examples: dict[str, list[str]] = collections.defaultdict(list)
    for record in outcome.failed:
        kind = error_type(record)
        text = short(record['result'].get('msg'), 200)
        if len(examples[kind]) < 2 and text not in examples[kind]:
            examples[kind].append(text)
    by_module_type: dict[tuple[str, str], int] = collections.Counter(
        (task_module(record['task']), error_type(record)) for record in outcome.failed)
    injected = sum(result.faults.values())
    hit = injected - result.faults_expired - result.faults_pending
    verdict = 'consistent' if result.consistency.ok else '**INCONSISTENT**'
    machine = f'{os.cpu_count()} CPUs, Python {sys.version.split()[0]}'
    command = command_line(options, result.seed)
    lines = [
        '## Soak',
        '',
        f'- Date: {result.started_at:%Y-%m-%d %H:%M} UTC; machine: {machine}',
        f"- Command: `{command} --write-docs` (or `make soak SOAK_ARGS='{command.split('soak.py ', 1)[1]}'`)",
        f'- Backend: one freshly started emulator; one namespace; {options.hosts} local inventory hosts, '
        f'forks={options.forks}, strategy {options.strategy}, task timeout {options.timeout:g}s, retries 5 '
        '(the default)',
        f'- Run time: the soak play {result.play.seconds:.0f}s ({result.play.seconds / 60:.1f} min); setup play '
        f'{result.setup.seconds:.0f}s, consistency check {result.check_seconds:.0f}s, whole script '
        f'{result.total_seconds:.0f}s',
        '',
        '| | |',
        '| --- | ---: |',
        f'| Tasks planned | {result.plan.tasks} |',
        f'| Tasks run | {outcome.run} |',
        f'| Skipped (a version delete of a label with one version left, or whose read failed) | {outcome.skipped} |',
        f'| Succeeded | {outcome.ok} |',
        f'| Failed | {len(outcome.failed)} |',
        f'| Success rate | {outcome.success_rate:.1%} |',
        f'| Failed with an error the mix itself causes (a target deleted meanwhile, a rollback past the history) '
        f'| {explained} |',
        f'| Success rate, those counted as expected | '
        f'{(outcome.ok + explained) / outcome.run if outcome.run else 0:.1%} |',
        f'| Faults injected ({options.fault_rate:g}/s) | {injected} |',
        f'| of which hit a request (not expired unused) | {hit} |',
        f"| API requests during the play | {result.requests.get('total', 0)} |",
        '',
        'Faults injected by kind: ' + ', '.join(f'{kind} {count}' for kind, count in sorted(result.faults.items()))
        + f'. Each is for one request on a random read or write route; one not used within {FAULT_EXPIRY:.0f}s '
        'is cleared (so faults do not pile up on rare routes). Answers seen by the emulator: '
        + ', '.join(f'{key} {value}' for key, value in sorted(result.requests.items()) if key != 'total') + '.'
        + (f' The fault thread failed to add {len(result.fault_errors)} faults (first: '
           f'{short(result.fault_errors[0])}).' if result.fault_errors else ''),
        '',
        'Tasks by module:',
        '',
        '| Module | Run | Succeeded | Failed | Skipped |',
        '| --- | ---: | ---: | ---: | ---: |',
    ]
    for module, counts in sorted(outcome.by_module.items()):
        lines.append(f"| {module} | {counts['run']} | {counts['ok']} | {counts['failed']} | {counts['skipped']} |")
    lines += ['', 'Failures by error type (`error.type` of the result):', '',
              '| Error type | Count | By module | Example messages |', '| --- | ---: | --- | --- |']
    for kind, count in failed_by_type.most_common():
        modules = ', '.join(f'{module} {number}' for (module, k), number in sorted(by_module_type.items()) if k == kind)
        shown = '<br>'.join(text.replace('|', '\\|') for text in examples[kind])
        lines.append(f'| {kind} | {count} | {modules} | {shown} |')
    if not failed_by_type:
        lines.append('| (none) | 0 | | |')
    counts = result.consistency.counts
    lines += ['', f'Consistency check (read through the API and the data directory, not the collection): {verdict}. '
              f"{counts['artifacts']} artifacts ({counts['labels']} labels) with {counts['versions']} versions, "
              f"{counts['blobs']} blobs ({counts['blob_bytes'] / MIB:.1f} MiB) hashed; "
              f"{counts.get('uploads_kept', 0)} uploads kept with their bytes for the next run of their file (a "
              'conversion that never answered).', '',
              '| Check | Checked | Result |', '| --- | ---: | --- |']
    for check in result.consistency.checks:
        state = 'ok' if not check.findings else f'**{len(check.findings)} found**'
        lines.append(f'| {check.name} | {check.checked} | {state} |')
    found = problems(result)
    if found:
        lines += ['', f'**Problems ({len(found)}):**', '']
        for text, clues in found[:40]:
            lines.append(f'- {short(text, 600)}')
            lines += [f'  - evidence: {short(clue, 600)}' for clue in clues[:12]]
        if len(found) > 40:
            lines.append(f'- ... and {len(found) - 40} more (run the command above to see them all)')
    lines.append('')
    return '\n'.join(lines)


NOTES_MARK = '<!-- soak notes -->'


def write_docs(section: str | None) -> None:
    """Replace the text between the soak markers, keep everything else; create the page when it is missing.
    `section` None keeps the measured part already there and only rewrites the notes."""
    text = DOC.read_text() if DOC.exists() else ''
    found = re.search(f'{re.escape(BEGIN)}\n(.*?){re.escape(END)}', text, re.DOTALL)
    if section is None:
        if not found:
            raise SystemExit(f'{DOC.relative_to(ROOT)} has no soak section to keep: run the soak with --write-docs')
        section = found.group(1).split(NOTES_MARK)[0]
    block = f'{BEGIN}\n{section.rstrip()}\n\n{NOTES_MARK}\n{NOTES.rstrip()}\n{END}'
    if found:
        text = text[:found.start()] + block + text[found.end():]
    elif text:
        text = text.rstrip('\n') + '\n\n' + block + '\n'
    else:
        text = ('# Reliability\n\nHow the collection behaves under faults: the standing fault matrix of `make test` '
                'and the soak benchmark of `make soak`.\n\n' + block + '\n')
    DOC.write_text(text)


# What a reader needs beside the numbers. Kept here because --write-docs rewrites the whole section; correct it and
# run with --refresh-notes to rewrite only this part.
NOTES = '''
### How to read it

- A failed task is not a defect by itself: with faults at this rate some tasks are expected to fail, and the
  collection's promise is that they fail with a typed `error` and leave nothing half made. Failures without a
  typed error, and any finding of the consistency check, are problems and make the soak exit non-zero.
- Faults land before the emulator runs the handler (a 5xx, a 406 or a drop means the request was not carried out),
  except latency: a request delayed past the task timeout is carried out after the client gave up, the case where
  a write's outcome is unknown.
- `not_found` failures of label moves, rollbacks and `sf_artifact_info` by reference are mostly the mix itself:
  targets under volatile names are deleted by other hosts, and a rollback may reach past the kept history.
- 500 is not among the statuses the collection repeats (502, 503, 504 are), so a 500 on any request fails the
  task; a 5xx or a drop on the conversion (`POST /artifacts/upload/<name>`, not idempotent) fails the publish
  after the module re-read the artifact and found no version from it. Both are typed `server_error` /
  `transport_error`, and the next run of the task publishes.

### Problems the soak found in the collection, and what became of them

The first runs (seed 1256620602 and seeds 1 to 4 with `--tasks 40` to `300`) found seven problems. All are fixed
on main, each with a unit or integration test, and the run above is the same seed after the fixes:

1. A label version deleted with `sf_label state: absent version: N` kept its history key
   (`shakenfist.storage.resolved_from.N`) until later moves pushed N out. The delete now removes its key, and a
   later move sweeps keys of versions the server no longer keeps.
2. The history key of a new label version was lost when its `PUT .../metadata/...` answered one 500, while the
   task still succeeded silently. Idempotent writes (metadata, `PUT`, `DELETE`) are now repeated after a 500,
   like 502 to 504; an entry that still cannot be written is a warning (the move stands, and a rollback to that
   version still works, by its blob).
3. `sf_image_publish` with `label` reported another run's label version (read after the run). It now reports the
   move it made itself.
4. A publish that failed on a read after its upload left the upload's bytes on the server. Any failure after the
   upload now empties it, except one: a conversion that never answered (see below).
5. A publish whose artifact another host deleted before the task ended reported `changed` with no `version`. It
   now returns the version it added and says the artifact has gone since.
6. The lookup failed on a templated `shakenfist_timeout` (Ansible type-checks numeric options before the plugin
   renders them). Numeric and boolean lookup settings may now be templates.
7. A 406 on `POST /auth` failed the task at once; it is now retried until the not-ready deadline like any 406.

**Uploads kept on purpose.** When the conversion (`POST /artifacts/upload/<name>`) gets no answer at all (a
dropped connection, a timeout), the server may still be converting the upload: emptying it then could make the
server store a version of nothing. The run keeps the upload and its record in the state directory, fails with
`timeout` ("it may still finish"), and the next run of the same file either finds the version or resumes and
converts the upload. The consistency check therefore accepts an upload with bytes only when a run's state
directory records it for resumption, and counts those above. The soak's files are unique per task, so no later
run picks these up; on a real cluster the server drops an abandoned upload after a day to a week.

No blob was ever corrupt or lost, no version pointed at a missing blob and no artifact was left in `initial`, in
any run. A default run took 7 to 9.5 minutes here (the machine is shared; the play's time varies with load).

'''


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--tasks', type=int, default=1000, help='module invocations to run (default 1000)')
    parser.add_argument('--forks', type=int, default=16, help='ansible-playbook forks (default 16)')
    parser.add_argument('--hosts', type=int, default=None, help='local inventory hosts (default: as many as forks)')
    parser.add_argument('--fault-rate', type=float, default=1.0, help='faults injected per second (default 1; 0: none)')
    parser.add_argument('--seed', type=int, default=None, help='seed of the mix and the faults (default: random)')
    parser.add_argument('--timeout', type=float, default=5.0,
                        help="the modules' and lookups' timeout in seconds; some latency faults exceed it (default 5)")
    parser.add_argument('--strategy', choices=('free', 'linear'), default='free', help='play strategy (default free)')
    parser.add_argument('--deadline', type=float, default=3600.0, help='stop the play after this many seconds')
    parser.add_argument('--write-docs', action='store_true', help=f'write the results to {DOC.relative_to(ROOT)}')
    parser.add_argument('--workdir', type=Path, default=None, help='scratch space (default: a temporary dir in .tmp)')
    parser.add_argument('--keep', action='store_true', help='keep the scratch space (play, records, logs, data)')
    parser.add_argument('--refresh-notes', action='store_true',
                        help='only rewrite the notes of the soak section, keeping the measured part')
    options = parser.parse_args()
    if options.refresh_notes:
        write_docs(None)
        return 0
    options.hosts = options.hosts or options.forks
    if options.tasks < 1 or options.forks < 1 or options.hosts < 1 or options.fault_rate < 0:
        parser.error('--tasks, --forks and --hosts must be positive and --fault-rate not negative')
    (ROOT / '.tmp').mkdir(exist_ok=True)
    subprocess.run(['make', '-s', '-C', str(ROOT), 'collection-link'], check=True)
    scratch = Path(tempfile.mkdtemp(prefix='soak-', dir=options.workdir or ROOT / '.tmp'))
    try:
        result = soak(options, scratch)
    finally:
        if options.keep:
            print(f'scratch space kept in {scratch}')
        else:
            subprocess.run(['rm', '-rf', str(scratch)], check=False)
    report = render(result)
    print(report)
    found = problems(result)
    if found:
        print(f'\n!!! THE SOAK FOUND {len(found)} PROBLEM(S) !!!', file=sys.stderr)
        for text, clues in found:
            print(f'  - {text}', file=sys.stderr)
            for clue in clues:
                print(f'      evidence: {clue}', file=sys.stderr)
    if options.write_docs:
        write_docs(report)
        print(f'wrote {DOC.relative_to(ROOT)}')
    print(f'command: {shlex.join(sys.argv)} (seed {result.seed})')
    return 1 if found else 0


if __name__ == '__main__':
    sys.exit(main())
