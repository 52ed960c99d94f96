"""Cleanup benchmark: sf_namespace_cleanup against the official client's `namespace clean`, in one run.

    .venv/bin/python bench/cleanup.py [--instances 150] [--networks 15] [--artifacts 300] [--op-delay 0.5]
                                      [--write-docs]

One freshly started emulator holds two identical namespaces, A and B: instances spread over networks, and
artifacts (uploaded images, every tenth of them with a label pointing at it). Seeding runs with fast emulator
timings; then every queued background job waits `--op-delay` seconds before it runs (the emulator's `op_delay`
setting, as `sf-emulator serve --op-delay` sets it), and instance and network deletes take their default time.

Contenders, timed as whole processes (start-up included):
  sf-client    `sf-client namespace clean --confirm --namespace A` (shakenfist-client 0.8.3 from .venv-sfclient, as
               system): bulk-delete the instances and poll each until gone, bulk-delete the networks with
               clean_wait and poll each operation, bulk-delete the artifacts. It does not delete the namespace.
  module       ansible-playbook with one sf_namespace_cleanup task on B (as system, delete_namespace false): an
               ad-hoc Ansible run, Ansible start-up included.
  plan         the same module on B in check mode before that, run directly as `python sf_namespace_cleanup.py`
               (reads everything, builds the plan, sends no write); also as an ansible-playbook run, for context.
Which of the two cleanups goes first alternates between rounds (`--rounds`, a fresh pair of namespaces each).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / 'emulator'))
sys.path.insert(0, str(ROOT / 'bench'))

from publish import PYTHON, SFCLIENT, Run, machine, module_env, timed  # noqa: E402

from sf_emulator.testing import EmulatorProcess  # noqa: E402
from tools.sfsupport.backend import Backend  # noqa: E402

MODULE = ROOT / 'plugins' / 'modules' / 'sf_namespace_cleanup.py'
COLLECTIONS = ROOT / '.tmp' / 'collections'
DOC = ROOT / 'docs' / 'performance.md'
GOALS = {'module_vs_sfclient': 1.25, 'plan_seconds': 1.5}
# Seeding goes fast; the measured part runs with --op-delay and the emulator's default delete timings.
SEED_ARGS = ['--op-delay', '0.01', '--instance-create-delay', '0.01', '--network-delay', '0.01',
             '--op-retention', '5']
MEASURE_CONFIG = {'instance_delete_delay': 0.2, 'network_delay': 0.2}


def seed(backend: Backend, namespace: str, options: argparse.Namespace) -> None:
    """Networks, instances spread over them, and artifacts (a label on every tenth), as system."""
    def network(index: int) -> str:
        made = backend.call('POST', '/networks', {'netblock': f'10.{index}.0.0/24', 'name': f'net-{index}',
                                                  'namespace': namespace})
        return str(made['uuid'])

    def instance(index: int) -> None:
        net = networks[index % len(networks)] if networks else None
        backend.call('POST', '/instances', {
            'name': f'vm-{index}', 'cpus': 1, 'memory': 1024, 'namespace': namespace, 'configdrive': None,
            'network': [{'network_uuid': net}] if net else [],
            'disk': [{'size': 8, 'base': None, 'bus': None, 'type': 'disk'}]})

    def artifact(index: int) -> None:
        upload = backend.call('POST', '/upload')
        backend.send_bytes(f'/upload/{upload["uuid"]}', f'{namespace}-{index}'.encode() + secrets.token_bytes(64))
        made = backend.call('POST', f'/artifacts/upload/image-{index}',
                            {'upload_uuid': upload['uuid'], 'namespace': namespace})
        if index % 10 == 0:
            backend.call('POST', f'/label/{namespace}/label-{index}', {'blob_uuid': made['blob_uuid']})

    with ThreadPoolExecutor(max_workers=8) as pool:
        networks = list(pool.map(network, range(options.networks)))
        wait_until(backend, '/networks', namespace, options.networks, 'created')
        list(pool.map(instance, range(options.instances)))
        list(pool.map(artifact, range(options.artifacts)))
    wait_until(backend, '/instances', namespace, options.instances, 'created')


def wait_until(backend: Backend, path: str, namespace: str, count: int, state: str, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while True:
        found = [x for x in backend.call('GET', path) if x['namespace'] == namespace and x['state'] == state]
        if len(found) >= count:
            return
        if time.monotonic() > deadline:
            raise SystemExit(f'seeding {namespace}: {len(found)} of {count} {path} reached {state}')
        time.sleep(0.5)


def left_in(backend: Backend, namespace: str) -> dict[str, int]:
    """What a cleanup left: live instances and networks, and artifacts the namespace owns."""
    live = {kind: sum(1 for x in backend.call('GET', f'/{kind}', {'all': True})
                      if x['namespace'] == namespace and x['state'] not in ('deleted', 'error'))
            for kind in ('instances', 'networks')}
    live['artifacts'] = sum(1 for a in backend.call('GET', '/artifacts') if a['namespace'] == namespace)
    return live


def run_sfclient(backend: Backend, namespace: str, home: Path) -> Run:
    env = {k: v for k, v in os.environ.items() if not k.startswith('SHAKENFIST_')}
    env.update(HOME=str(home), SHAKENFIST_API_URL=backend.url, SHAKENFIST_NAMESPACE='system',
               SHAKENFIST_KEY=backend.system_key)
    run, _ = timed('sf-client namespace clean --confirm', [str(SFCLIENT), 'namespace', 'clean', '--confirm',
                                                             '--namespace', namespace], env=env)
    return run


def module_args(backend: Backend, namespace: str) -> dict[str, Any]:
    return {'api_url': backend.url, 'namespace': 'system', 'key': backend.system_key, 'target_namespace': namespace}


def run_plan(backend: Backend, namespace: str, workdir: Path) -> tuple[Run, dict[str, Any]]:
    args_file = workdir / f'args-{secrets.token_hex(3)}.json'
    args_file.write_text(json.dumps({'ANSIBLE_MODULE_ARGS': {**module_args(backend, namespace),
                                                             '_ansible_check_mode': True}}))
    run, output = timed('sf_namespace_cleanup, check mode (module alone)', [str(PYTHON), str(MODULE),
                                                                             str(args_file)], env=module_env(),
                        note='read everything, plan, no write')
    result = json.loads(output[output.index('{'):])
    if result.get('failed') or not result.get('changed'):
        raise SystemExit(f'the check-mode plan failed or planned nothing: {result.get("msg")}')
    return run, result


def run_playbook(backend: Backend, namespace: str, workdir: Path, check: bool) -> tuple[Run, dict[str, Any]]:
    """One ad-hoc ansible-playbook run with the one task; its result is read from the -v output."""
    playbook = workdir / 'cleanup.yml'
    playbook.write_text('---\n- name: Clean a namespace\n  hosts: localhost\n  gather_facts: false\n  tasks:\n'
                        '    - name: Clean\n      shakenfist.storage.sf_namespace_cleanup: "{{ cleanup_args }}"\n')
    variables = workdir / 'vars.json'
    variables.write_text(json.dumps({'cleanup_args': module_args(backend, namespace)}))
    env = module_env()
    env.update(ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS), ANSIBLE_PYTHON_INTERPRETER=str(PYTHON),
               ANSIBLE_NOCOLOR='1', ANSIBLE_CALLBACK_RESULT_FORMAT='json')
    label = 'ansible-playbook, sf_namespace_cleanup' + (' --check' if check else '')
    run, output = timed(label, [str(ROOT / '.venv' / 'bin' / 'ansible-playbook'), '-v', '-i', 'localhost,', '-c',
                                'local', *(['--check'] if check else []), '-e', f'@{variables}', str(playbook)],
                        env=env, note='plan only, Ansible start-up included' if check else
                        'the cleanup, Ansible start-up included')
    result, _end = json.JSONDecoder().raw_decode(output[output.index('=> {') + 3:])
    return run, result


def bench(options: argparse.Namespace, workdir: Path) -> str:
    started_at = datetime.datetime.now(datetime.timezone.utc)
    rounds: list[dict[str, Any]] = []
    with EmulatorProcess(workdir / 'emulator', extra_args=SEED_ARGS) as emulator:
        backend = Backend('emulator', emulator.url, emulator.system_key, emulator=emulator)
        for index in range(options.rounds):
            pair = {'A': backend.new_namespace('clean-a')[0], 'B': backend.new_namespace('clean-b')[0]}
            emulator.set_config(op_delay=0.01, instance_create_delay=0.01, network_delay=0.01)
            for name in pair.values():
                print(f'round {index + 1}: seeding {name} ...', flush=True)
                seed(backend, name, options)
            emulator.set_config(op_delay=options.op_delay, **MEASURE_CONFIG)
            measured: dict[str, Any] = {}
            measured['plan'], plan = run_plan(backend, pair['B'], workdir)
            measured['plan_playbook'], _ = run_playbook(backend, pair['B'], workdir, check=True)
            order = ['sfclient', 'module'] if index % 2 == 0 else ['module', 'sfclient']
            for contender in order:
                print(f'round {index + 1}: {contender} ...', flush=True)
                if contender == 'sfclient':
                    measured['sfclient'] = run_sfclient(backend, pair['A'], workdir)
                else:
                    measured['module'], result = run_playbook(backend, pair['B'], workdir, check=False)
                    if result.get('failed'):
                        raise SystemExit(f'the cleanup failed: {result.get("msg")}')
                    measured['timings'] = result['timings']
            for side, name in pair.items():
                left = left_in(backend, name)
                if any(left.values()):
                    raise SystemExit(f'namespace {side} ({name}) is not clean after its cleanup: {left}')
            measured['planned'] = {kind: len(plan['deleted'][kind]) for kind in plan['deleted']}
            measured['order'] = order
            rounds.append(measured)
    return render(options, rounds, started_at)


def render(options: argparse.Namespace, rounds: list[dict[str, Any]], started_at: datetime.datetime) -> str:
    ratios = [r['module'].seconds / r['sfclient'].seconds for r in rounds]
    # The median round; with an even number of rounds, the worse of the two middle ones.
    middle = sorted(range(len(rounds)), key=lambda i: ratios[i])[len(rounds) // 2]
    picked, ratio = rounds[middle], ratios[middle]
    plan_seconds = sorted(r['plan'].seconds for r in rounds)[len(rounds) // 2]
    info = machine()
    command = (f'.venv/bin/python bench/cleanup.py --instances {options.instances} --networks {options.networks} '
               f'--artifacts {options.artifacts} --op-delay {options.op_delay} --rounds {options.rounds} '
               '--write-docs')
    planned = picked['planned']

    def row(run: Run) -> str:
        return f'| {run.label} | {run.seconds:.2f} | {run.cpu_seconds:.2f} | {run.peak_rss_mib:.0f} | {run.note} |'

    def verdict(ok: bool) -> str:
        return 'met' if ok else '**missed**'

    lines = [
        '## Cleaning a namespace (emulator)',
        '',
        f'- Date: {started_at:%Y-%m-%d %H:%M} UTC',
        f'- Command: `{command}` (or `make bench-cleanup`)',
        f"- Machine: {info['nproc']} CPUs ({info['cpu']}), {info['memory']} RAM, Linux {info['kernel']}, "
        f"Python {info['python']}; shared with other work while it ran",
        f'- Each namespace: {options.instances} instances on {options.networks} networks, {options.artifacts} '
        f'uploaded images and a label on every tenth ({planned.get("artifacts", 0)} artifacts in all). One fresh '
        f'emulator; for the measured part every queued background job waits {options.op_delay} s before it runs '
        '(`op_delay`, as `sf-emulator serve --op-delay` sets it), and each instance or network delete takes 0.2 s.',
        '- sf-client (0.8.3) cleans namespace A with `sf-client namespace clean --confirm --namespace A` as system;'
        ' the module cleans the identical namespace B in an ad-hoc `ansible-playbook` run (one task, as system),'
        ' start-up included. Neither deletes the namespace itself.',
        f'- Rounds: {options.rounds} (a fresh pair of namespaces each, the order of the two cleanups alternating); '
        'the round with the median ratio is shown (the worse middle one for an even count). Times are wall-clock'
        ' seconds of each process; CPU seconds and'
        " peak RSS are that process's own.",
        '',
        '| Contender | Seconds | CPU seconds | Peak RSS (MiB) | What it does |',
        '| --- | ---: | ---: | ---: | --- |',
        row(picked['sfclient']),
        row(picked['module']),
        row(picked['plan']),
        row(picked['plan_playbook']),
        '',
        "The module's own split: " + ', '.join(f'{kind} {seconds:.2f}s' for kind, seconds in
                                                 picked['timings'].items()) + ' (deleting and waiting, per kind). '
        f"The rest of the playbook's {picked['module'].seconds:.2f} s "
        f"({picked['module'].seconds - sum(picked['timings'].values()):.2f} s) is Ansible and Python start-up, "
        'authentication and the reads; the check-mode playbook row, which deletes nothing, shows that share alone.',
        '',
        '| Goal | Measured | Target | Result |',
        '| --- | ---: | ---: | --- |',
        f'| module wall time / sf-client wall time | {ratio:.2f} | <= {GOALS["module_vs_sfclient"]:.2f} | '
        f'{verdict(ratio <= GOALS["module_vs_sfclient"])} |',
        f'| check-mode plan of the namespace (module alone) | {plan_seconds:.2f} s | < {GOALS["plan_seconds"]} s | '
        f'{verdict(plan_seconds < GOALS["plan_seconds"])} |',
        '',
    ]
    lines += [
        '- Notes: every contender is a process started from scratch, and the module run also starts'
        ' `ansible-playbook`. sf-client polls each instance, one request a second, and each network operation in'
        ' turn; the module polls all pending objects of a kind with one listing per round (at most every half'
        ' second). On a machine shared with other work, start-up and imports wait for a CPU: compare the CPU'
        ' seconds column with the wall time, and re-run before drawing conclusions from a small difference.',
        '',
    ]
    work = sum(picked['timings'].values())
    if ratio > GOALS['module_vs_sfclient']:
        lines += [f"- Ratio goal missed: the module's deleting and waiting took {work:.2f} s against sf-client's "
                  f"{picked['sfclient'].seconds:.2f} s for everything, but the `ansible-playbook` run around it "
                  f"added {picked['module'].seconds - work:.2f} s (start-up, imports, authentication, the reads).", '']
    if plan_seconds >= GOALS['plan_seconds']:
        lines += [f"- Plan goal missed: the check-mode module used {picked['plan'].cpu_seconds:.2f} CPU seconds of "
                  f"its {picked['plan'].seconds:.2f} s; the rest was waiting for the server and for a CPU (Python "
                  'start-up and imports: pydantic, requests, Ansible module code).', '']
    if len(rounds) > 1:
        lines += ['Ratios of every round: ' + ', '.join(f'{r:.2f}' for r in ratios) + '.', '']
    return '\n'.join(lines)


def write_docs(section: str) -> None:
    """Replace (or append) this benchmark's own marked section; every other part of the file stays as it is."""
    text = DOC.read_text() if DOC.exists() else '# Performance\n'
    block = f'<!-- begin cleanup -->\n{section.rstrip()}\n<!-- end cleanup -->\n'
    pattern = re.compile(r'<!-- begin cleanup -->\n.*?<!-- end cleanup -->\n', re.DOTALL)
    text = pattern.sub(lambda _match: block, text) if pattern.search(text) else text.rstrip('\n') + '\n\n' + block
    DOC.write_text(text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--instances', type=int, default=150, help='instances per namespace (default 150)')
    parser.add_argument('--networks', type=int, default=15, help='networks per namespace (default 15)')
    parser.add_argument('--artifacts', type=int, default=300, help='uploaded images per namespace (default 300)')
    parser.add_argument('--op-delay', type=float, default=0.5,
                        help='seconds each queued background job waits before it runs (default 0.5)')
    parser.add_argument('--rounds', type=int, default=1, help='fresh pairs of namespaces to clean (default 1)')
    parser.add_argument('--write-docs', action='store_true', help=f'write the results to {DOC.relative_to(ROOT)}')
    options = parser.parse_args()
    if not 1 <= options.networks <= 200 or options.instances < 0 or options.artifacts < 0 or options.rounds < 1:
        parser.error('networks must be 1 to 200; instances, artifacts >= 0; rounds >= 1')
    if not SFCLIENT.exists():
        subprocess.run(['make', '-s', '-C', str(ROOT), 'sfclient-venv'], check=True)
    (ROOT / '.tmp').mkdir(exist_ok=True)
    subprocess.run(['make', '-s', '-C', str(ROOT), 'collection-link'], check=True)
    with tempfile.TemporaryDirectory(prefix='bench-cleanup-', dir=ROOT / '.tmp') as scratch:
        report = bench(options, Path(scratch))
    print(report)
    if options.write_docs:
        write_docs(report)
        print(f'wrote {DOC.relative_to(ROOT)}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
