"""`make demo`: the shakenfist.storage story against a private Shaken Fist emulator, then a summary.

Starts an emulator on a free 127.0.0.1 port with a temporary data directory (its system key passed in the
environment, never on the command line), runs tools/demo/demo.yml against it, prints what happened, the words
used and how to point the same at a real cluster, and stops the emulator by its PID, also when something fails.
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from pathlib import Path
from typing import Any

from sf_emulator.testing import EmulatorProcess

ROOT = Path(__file__).resolve().parents[1]
PLAYBOOK = ROOT / 'tools' / 'demo' / 'demo.yml'
NAMESPACE = 'demo'
MIB = 1024 * 1024
WIDTH = 104

GLOSSARY = (
    ('blob', 'stored bytes of an image or snapshot, kept once however many names point at them'),
    ('artifact', 'a named image, label or snapshot in a namespace, with a list of versions'),
    ('version', 'one entry of an artifact, pointing at one blob; new bytes make a new version'),
    ('label', "a movable name (such as web) whose versions point at other artifacts' blobs"),
    ('disk base', 'what an instance disk boots from; sf://blob/<uuid> means exactly those bytes'),
    ('sf://upload/...', 'the explicit name of a published image: sf://upload/<namespace>/<name>'),
    ('upstream shorthand', 'a bare name such as centos:7 that the server expands to its image mirror'),
    ('snapshot set', 'the disks of one instance snapshotted by one task, found again by its name'),
    ('namespace', 'a tenant: what you authenticate as; it owns artifacts, instances and networks'),
)

CLUSTER = '''\
Now point it at your cluster
  Modules and the lookup read the same three environment variables (or ~/.shakenfist, as sf-client does):
    export SHAKENFIST_API_URL=https://sf.example.com/api
    export SHAKENFIST_NAMESPACE=<your namespace>
    export SHAKENFIST_KEY=<its key>
  Or set the connection in the play, once for every module of the collection:
    module_defaults:
      group/shakenfist.storage.sf:
        api_url: https://sf.example.com/api
        namespace: <your namespace>
        key: "{{ vault_sf_key }}"
  (the lookup takes the variables shakenfist_api_url, shakenfist_namespace and shakenfist_key instead.)
  Then run your own playbook with the tasks above; ansible-doc shakenfist.storage.<module> shows every option.'''


def api(url: str, path: str, body: Any, token: str | None = None) -> Any:
    headers = {'Content-Type': 'application/json'}
    if token:
        headers['Authorization'] = f'Bearer {token}'
    request = urllib.request.Request(url + path, data=json.dumps(body).encode(), headers=headers, method='POST')
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read() or b'null')


def make_tenant(emulator: EmulatorProcess) -> str:
    """Create the namespace the story runs in, as the operator would; return its key."""
    token = api(emulator.url, '/auth', {'namespace': 'system', 'key': emulator.system_key})['access_token']
    key = secrets.token_urlsafe(16)
    api(emulator.url, '/auth/namespaces', {'namespace': NAMESPACE, 'key_name': 'demo', 'key': key}, token)
    return key


def run_playbook(emulator: EmulatorProcess, key: str, work: Path) -> int:
    env = {
        **os.environ,
        'ANSIBLE_COLLECTIONS_PATH': str(ROOT / '.tmp' / 'collections'),
        'ANSIBLE_PYTHON_INTERPRETER': sys.executable,
        # The default callback, results as YAML, skipped tasks hidden: output a newcomer can read.
        'ANSIBLE_STDOUT_CALLBACK': 'default',
        'ANSIBLE_CALLBACK_RESULT_FORMAT': 'yaml',
        'ANSIBLE_DISPLAY_SKIPPED_HOSTS': 'false',
        'ANSIBLE_DISPLAY_OK_HOSTS': 'true',
        'ANSIBLE_LOCALHOST_WARNING': 'false',
        'ANSIBLE_INVENTORY_UNPARSED_WARNING': 'false',
        'ANSIBLE_RETRY_FILES_ENABLED': 'false',
        'ANSIBLE_PIPELINING': 'true',  # one process per task, no temporary files to copy
        'ANSIBLE_LOCAL_TEMP': str(work / 'ansible-tmp'),
        'SHAKENFIST_API_URL': emulator.url,
        'SHAKENFIST_NAMESPACE': NAMESPACE,
        'SHAKENFIST_KEY': key,
        'DEMO_SYSTEM_KEY': emulator.system_key,
        'DEMO_DIR': str(work),
    }
    command = [str(Path(sys.executable).parent / 'ansible-playbook'), '-i', 'localhost,', '-c', 'local',
               str(PLAYBOOK)]
    return subprocess.call(command, env=env, cwd=work)


def flag(value: Any) -> str:
    """A boolean as the playbook output shows it (false, not False)."""
    return json.dumps(value) if isinstance(value, bool) else str(value)


def count(number: int, noun: str) -> str:
    """A count and its noun in the right number: "1 instance", "6 artifacts"."""
    return f'{number} {noun if number == 1 else noun + "s"}'


def summary(results: dict[str, Any], requests: int, seconds: float) -> str:
    first, again, golden = results['first_publish'], results['second_publish'], results['golden']
    deleted = results['deleted']
    steps = [
        f'Published the file web-v1.qcow2 as {first["ref"]}: {int(first["uploaded_bytes"]):,} bytes sent.',
        f'Published it again: changed {flag(again["changed"])}, uploaded_bytes {again["uploaded_bytes"]}.',
        f'The same bytes as web-golden: reused_blob {flag(golden["reused_blob"])}, '
        f'uploaded_bytes {golden["uploaded_bytes"]}.',
        f'Pointed the label {results["label"]} at web-2026-11.',
        f'A bare centos:7 was refused, not guessed: it meant {" or ".join(results["ambiguous"])}. '
        f'Named explicitly, the label base points at {results["base"]}.',
        f'Booted {results["instance"]} from label:web, pinned to its version {results["pinned"]["version"]} '
        f'(disk base {results["pinned"]["disk_base"]}).',
        f'Snapshotted {results["instance"]} as the set {results["snapshot_set"]} and labelled it '
        f'{results["snapshot_label"]}.',
        f'Showed the cleanup plan ({count(len(results["plan"]), "step")}), then deleted '
        f'{count(len(deleted["instances"]), "instance")} and {count(len(deleted["artifacts"]), "artifact")} of '
        f'namespace {NAMESPACE}, in that order.',
    ]
    lines = ['What happened']
    for number, step in enumerate(steps, 1):
        lines += textwrap.wrap(step, WIDTH, initial_indent=f'  {number}. ', subsequent_indent='     ',
                               break_on_hyphens=False)  # never inside a UUID
    lines += [f'  ({requests} API requests in {seconds:.0f} s.)', '', 'Words used']
    width = max(len(term) for term, _ in GLOSSARY)
    for term, meaning in GLOSSARY:
        lines += textwrap.wrap(meaning, WIDTH, initial_indent=f'  {term.ljust(width)}  ',
                               subsequent_indent=' ' * (width + 4))
    return '\n'.join(lines + ['', CLUSTER])


def stop_on_sigterm(signum: int, frame: Any) -> None:
    """SIGTERM ends the demo like Ctrl-C does: through the cleanup below, so the emulator never outlives it."""
    raise SystemExit(128 + signum)


def main() -> int:
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix='sf-demo-'))
    # SF_EMULATOR_ARGS (for example '--op-delay 2') makes the private emulator a slow, busy cluster.
    emulator = EmulatorProcess(work / 'emulator', extra_args=shlex.split(os.environ.get('SF_EMULATOR_ARGS', '')))
    try:
        (work / 'web-v1.qcow2').write_bytes(os.urandom(8 * MIB))
        (work / 'centos-7-hardened.qcow2').write_bytes(os.urandom(4 * MIB))
        emulator.start()
        print(f'A private Shaken Fist emulator is running at {emulator.url} (PID {emulator.pid}, data in '
              f'{emulator.data_dir}); the story runs in its namespace {NAMESPACE!r}.', flush=True)
        code = run_playbook(emulator, make_tenant(emulator), work)
        if code != 0:
            print(f'\nThe demo playbook failed (exit {code}). Emulator log, last lines:\n{emulator.log_tail(20)}')
            return code
        requests = len(emulator.request_log())
        results = json.loads((work / 'results.json').read_text())
        print('\n' + summary(results, requests, time.monotonic() - started))
        return 0
    finally:
        pid = emulator.pid
        emulator.stop()
        shutil.rmtree(work, ignore_errors=True)
        if pid is not None:
            print(f'\nEmulator (PID {pid}) stopped and its data removed.')


if __name__ == '__main__':
    sys.exit(main())
