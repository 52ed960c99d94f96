"""Cleanup benchmark: sf_namespace_cleanup against the official client's `namespace clean`, in one run.

    .venv/bin/python bench/cleanup.py [--instances 150] [--networks 15] [--artifacts 300] [--op-delay 0.5]
                                      [--rounds 1] [--json FILE] [--write-docs] [--notes FILE]
    .venv/bin/python bench/cleanup.py --docs-from FILE [FILE ...] [--notes FILE]

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
Each round's ratio is printed against the goals of issue 21: the module at most 1.0x sf-client's wall time at
150/15/300 and 0.8x at 600/60/1200 (four times that size, and above), the check-mode plan under 1.5 s at 150/15/300.
`--json FILE` keeps every figure with the machine (CPUs, model, load averages, `uptime`, date); `--docs-from` writes
the docs section from such files, one part per size.
"""

from __future__ import annotations

import argparse
import dataclasses
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
GOALS = {'module_vs_sfclient': 1.0, 'module_vs_sfclient_large': 0.8, 'plan_seconds': 1.5}
BASE_SIZE = (150, 15, 300)
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


def bench(options: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """Run the rounds; everything measured, as the JSON record that --json writes and render() reads."""
    started_at = datetime.datetime.now(datetime.timezone.utc)
    load_before = os.getloadavg()
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
            measured: dict[str, Any] = {'load_at_start': os.getloadavg()}
            measured['plan'], plan = run_plan(backend, pair['B'], workdir)
            measured['plan_playbook'], _ = run_playbook(backend, pair['B'], workdir, check=True)
            order = ['sfclient', 'module'] if index % 2 == 0 else ['module', 'sfclient']
            ended: dict[str, float] = {}
            for contender in order:
                print(f'round {index + 1}: {contender} ...', flush=True)
                if contender == 'sfclient':
                    measured['sfclient'] = run_sfclient(backend, pair['A'], workdir)
                else:
                    measured['module'], result = run_playbook(backend, pair['B'], workdir, check=False)
                    if result.get('failed'):
                        raise SystemExit(f'the cleanup failed: {result.get("msg")}')
                    measured['timings'] = result['timings']
                ended[contender] = time.monotonic()
            # sf-client does not wait for the networks on 0.7.2 (its bulk delete answers before they go), so a
            # namespace may still be emptying when the later contender ends: give the server time, and say how long.
            measured['clean_after'] = {}  # seconds from a contender's end until its namespace was seen empty
            for side, name in pair.items():
                settled, looks = time.monotonic(), 0
                while any((left := left_in(backend, name)).values()) and time.monotonic() - settled < 60:
                    looks += 1
                    time.sleep(0.1)
                if any(left.values()):
                    raise SystemExit(f'namespace {side} ({name}) is not clean a minute after its cleanup: {left}')
                contender = 'sfclient' if side == 'A' else 'module'
                measured['clean_after'][contender] = round(time.monotonic() - ended[contender], 2) if looks else 0.0
            measured['planned'] = {kind: len(plan['deleted'][kind]) for kind in plan['deleted']}
            measured['order'] = order
            measured['ratio'] = measured['module'].seconds / measured['sfclient'].seconds
            for key in ('plan', 'plan_playbook', 'sfclient', 'module'):
                measured[key] = dataclasses.asdict(measured[key])
            print(f"round {index + 1}: ratio {measured['ratio']:.2f} (goal <= {ratio_goal(options):.2f}), plan "
                  f"{measured['plan']['seconds']:.2f} s (goal < {GOALS['plan_seconds']} s)", flush=True)
            rounds.append(measured)
    return {'size': {'instances': options.instances, 'networks': options.networks, 'artifacts': options.artifacts},
            'op_delay': options.op_delay, 'rounds_asked': options.rounds,
            'started_at': started_at.isoformat(timespec='seconds'),
            'finished_at': datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds'),
            'machine': {**machine(), 'load_before': load_before, 'load_after': os.getloadavg(),
                        'uptime': subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()},
            'goals': {'module_vs_sfclient': ratio_goal(options), 'plan_seconds': GOALS['plan_seconds']},
            'rounds': rounds}


def ratio_goal(options: Any) -> float:
    """Issue 21: at most 1.0x sf-client at the default size, 0.8x at four times it (600/60/1200) and above."""
    return GOALS['module_vs_sfclient_large'] if options.instances >= 600 else GOALS['module_vs_sfclient']


def verdicts(record: dict[str, Any]) -> list[tuple[str, str, str, bool]]:
    """(goal, measured, target, met) for the median round, as render() and the console print them."""
    rounds, goals = record['rounds'], record['goals']
    ratios = [r['ratio'] for r in rounds]
    # The median round; with an even number of rounds, the worse of the two middle ones.
    ratio = sorted(ratios)[len(ratios) // 2]
    plan_seconds = sorted(r['plan']['seconds'] for r in rounds)[len(rounds) // 2]
    size = record['size']
    at_base = (size['instances'], size['networks'], size['artifacts']) == BASE_SIZE
    result = [('module wall time / sf-client wall time', f'{ratio:.2f}', f"<= {goals['module_vs_sfclient']:.2f}",
               ratio <= goals['module_vs_sfclient'])]
    plan_goal = f"< {goals['plan_seconds']} s" + ('' if at_base else ' (stated for 150/15/300)')
    result.append(('check-mode plan of the namespace (module alone)', f'{plan_seconds:.2f} s', plan_goal,
                   plan_seconds < goals['plan_seconds']))
    return result


def render(record: dict[str, Any]) -> str:
    rounds, size, info = record['rounds'], record['size'], record['machine']
    ratios = [r['ratio'] for r in rounds]
    middle = sorted(range(len(rounds)), key=lambda i: ratios[i])[len(rounds) // 2]
    picked = rounds[middle]
    command = (f".venv/bin/python bench/cleanup.py --instances {size['instances']} --networks {size['networks']} "
               f"--artifacts {size['artifacts']} --op-delay {record['op_delay']} --rounds {len(rounds)}")
    planned = picked['planned']
    loads = ', '.join(f'{load[0]:.1f}' for load in
                      [info['load_before'], *[r['load_at_start'] for r in rounds], info['load_after']])

    def row(run: dict[str, Any]) -> str:
        return (f"| {run['label']} | {run['seconds']:.2f} | {run['cpu_seconds']:.2f} | {run['peak_rss_mib']:.0f} | "
                f"{run['note']} |")

    def verdict(ok: bool) -> str:
        return 'met' if ok else '**missed**'

    lines = [
        f"### {size['instances']} instances, {size['networks']} networks, {size['artifacts']} images",
        '',
        f"- Date: {record['started_at'][:16].replace('T', ' ')} UTC",
        f'- Command: `{command}`',
        f"- Machine: {info['nproc']} CPUs ({info['cpu']}), {info['memory']} RAM, Linux {info['kernel']}, "
        f"Python {info['python']}; shared with other work while it ran (one-minute load average {loads}: before, "
        'at the start of each round, after)',
        f"- Each namespace: {size['instances']} instances on {size['networks']} networks, {size['artifacts']} "
        f"uploaded images and a label on every tenth ({planned.get('artifacts', 0)} artifacts in all).",
        f'- Rounds: {len(rounds)}; the round with the median ratio is shown (the worse middle one for an even '
        'count).',
        '',
        '| Contender | Seconds | CPU seconds | Peak RSS (MiB) | What it does |',
        '| --- | ---: | ---: | ---: | --- |',
        row(picked['sfclient']),
        row(picked['module']),
        row(picked['plan']),
        row(picked['plan_playbook']),
        '',
        "The module's own split: " + ', '.join(f'{kind} {seconds:.2f}s' for kind, seconds in
                                                 picked['timings'].items()) + ' (deleting and waiting, per kind; '
        "the kinds overlap, so they need not add up). The rest of the playbook's "
        f"{picked['module']['seconds']:.2f} s is Ansible and Python start-up, authentication and the reads; the "
        'check-mode playbook row, which deletes nothing, shows that share alone.',
        '',
        '| Goal | Measured | Target | Result |',
        '| --- | ---: | ---: | --- |',
        *[f'| {goal} | {measured} | {target} | {verdict(ok)} |' for goal, measured, target, ok in verdicts(record)],
        '',
    ]
    if picked.get('clean_after', {}).get('sfclient', 0) > 0.05:
        lines += [f"sf-client's namespace was seen empty {picked['clean_after']['sfclient']:.2f} s after sf-client "
                  'ended (its networks were still going: on 0.7.2 it does not wait for them); the module returns '
                  'once everything is gone.', '']
    if len(rounds) > 1:
        lines += ['Ratios of every round: ' + ', '.join(f'{r:.2f}' for r in ratios) + '.', '']
    return '\n'.join(lines)


def section(records: list[dict[str, Any]], notes: str = '') -> str:
    """The whole cleanup section of docs/performance.md: the set-up once, then one part per size."""
    first = records[0]
    lines = [
        '## Cleaning a namespace (emulator)',
        '',
        '- sf-client (0.8.3) cleans namespace A with `sf-client namespace clean --confirm --namespace A` as system;'
        ' the module cleans the identical namespace B in an ad-hoc `ansible-playbook` run (one task, as system),'
        ' start-up included. Neither deletes the namespace itself. One fresh emulator per run; for the measured part'
        f" every queued background job waits {first['op_delay']} s before it runs (`op_delay`, as `sf-emulator "
        'serve --op-delay` sets it), and each instance or network delete takes 0.2 s. Add `--write-docs` to a run to'
        ' write its part here, `--json FILE` to keep every figure; `--docs-from FILE ...` writes this section from'
        ' such files.',
        '- Every contender is a process started from scratch, and the module run also starts `ansible-playbook`.'
        ' sf-client polls each instance, one request a second, and each network operation in turn; the module polls'
        ' all pending objects of a kind with one listing per round. On a machine shared with other work, start-up'
        ' and imports wait for a CPU: compare the CPU seconds column with the wall time, and re-run before drawing'
        ' conclusions from a small difference.',
        '',
    ]
    for record in records:
        lines += [render(record)]
    if notes:
        lines += [notes.rstrip(), '']
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
    parser.add_argument('--json', type=Path, metavar='FILE', help='also write every figure, and the machine, here')
    parser.add_argument('--docs-from', type=Path, nargs='+', metavar='FILE',
                        help=f'run nothing: write the section of {DOC.relative_to(ROOT)} from earlier --json files')
    parser.add_argument('--notes', type=Path, metavar='FILE', help='markdown to end the docs section with')
    options = parser.parse_args()
    notes = options.notes.read_text() if options.notes else ''
    if options.docs_from:
        write_docs(section([json.loads(path.read_text()) for path in options.docs_from], notes))
        print(f'wrote {DOC.relative_to(ROOT)}')
        return 0
    if not 1 <= options.networks <= 200 or options.instances < 0 or options.artifacts < 0 or options.rounds < 1:
        parser.error('networks must be 1 to 200; instances, artifacts >= 0; rounds >= 1')
    if not SFCLIENT.exists():
        subprocess.run(['make', '-s', '-C', str(ROOT), 'sfclient-venv'], check=True)
    (ROOT / '.tmp').mkdir(exist_ok=True)
    subprocess.run(['make', '-s', '-C', str(ROOT), 'collection-link'], check=True)
    with tempfile.TemporaryDirectory(prefix='bench-cleanup-', dir=ROOT / '.tmp') as scratch:
        record = bench(options, Path(scratch))
    if options.json:
        options.json.write_text(json.dumps(record, indent=1) + '\n')
        print(f'wrote {options.json}')
    print(render(record))
    for goal, measured, target, ok in verdicts(record):
        print(f"{'met' if ok else 'MISSED'}: {goal}: {measured} (goal {target})")
    if options.write_docs:
        write_docs(section([record], notes))
        print(f'wrote {DOC.relative_to(ROOT)}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
