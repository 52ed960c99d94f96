"""Publish benchmark: sf_image_publish against the official client and the raw floor, in one run.

    .venv/bin/python bench/publish.py [--size-mib 1024] [--backend emulator|real] [--write-docs]

One backend for the whole run (a freshly started emulator by default). Every contender gets its own file of the
same size with different random bytes, so no contender can reuse another's blob and every one really uploads.
Files are written just before the run, so every contender reads them from the page cache.

Contenders:
  sf-client    `sf-client artifact upload` (shakenfist-client 0.8.3 from .venv-sfclient): hashes, asks the
               checksum route, uploads in its own chunks, converts.
  floor        `sha512sum FILE` plus one `curl --data-binary @FILE` to /upload/<uuid> (upload created first).
  publish      sf_image_publish run directly as `python sf_image_publish.py args.json` (no Ansible around it),
               on a new file: the single-read path (hashed while it uploads). A new artifact name each round.
  hash first   the same module on new content of the same size as the artifact's newest version, which it
               hashes before uploading (the content might be unchanged): the old two-pass path, for comparison.
  re-publish   the same module on the unchanged file: checksum cache off, then on (no upload either way).
  ansible      ansible-playbook with one unchanged re-publish task (cache on), for the Ansible overhead.

Wall time and peak RSS are each process's own (os.wait4 on that child).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import secrets
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / 'emulator'))

from tools.sfsupport.backend import Backend, real_harness, running_backend  # noqa: E402

MIB = 1024 * 1024
PYTHON = ROOT / '.venv' / 'bin' / 'python'
SFCLIENT = ROOT / '.venv-sfclient' / 'bin' / 'sf-client'
MODULE = ROOT / 'plugins' / 'modules' / 'sf_image_publish.py'
COLLECTIONS = ROOT / '.tmp' / 'collections'
DOC = ROOT / 'docs' / 'performance.md'
# The goals of the publishing issue, per backend: ratios against sf-client and the floor measured in the same run.
GOALS = {
    'emulator': {'publish_vs_sfclient': 0.7, 'publish_vs_floor': 0.8, 'peak_rss_mib': 100.0,
                 'republish_vs_publish': 0.35},
    'real': {'publish_vs_sfclient': 0.5, 'publish_vs_floor': 0.55, 'peak_rss_mib': 100.0,
             'republish_vs_publish': 0.35},
}


@dataclass
class Run:
    label: str
    seconds: float
    peak_rss_mib: float
    note: str = ''
    cpu_seconds: float = 0.0


def timed(label: str, command: list[str], env: dict[str, str] | None = None, note: str = '',
          stdin: str | None = None) -> tuple[Run, str]:
    """Run one process; its own wall time and peak RSS (from wait4 on exactly that child)."""
    started = time.monotonic()
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL)
    output_bytes, _ = _communicate_then_wait(process, stdin)
    _pid, status, usage = os.wait4(process.pid, 0)
    seconds = time.monotonic() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    output = output_bytes.decode(errors='replace')
    if process.returncode != 0:
        raise SystemExit(f'{label}: {shlex.join(command)} failed ({process.returncode}):\n{output[-4000:]}')
    return Run(label, seconds, usage.ru_maxrss / 1024, note, usage.ru_utime + usage.ru_stime), output


def _communicate_then_wait(process: subprocess.Popen[bytes], stdin: str | None) -> tuple[bytes, None]:
    # Read everything without reaping the child, so wait4 can still collect its resource usage.
    if stdin is not None and process.stdin:
        process.stdin.write(stdin.encode())
        process.stdin.close()
    assert process.stdout is not None
    output = process.stdout.read()
    process.stdout.close()
    return output, None


def make_file(path: Path, size: int) -> None:
    block = 16 * MIB
    with open(path, 'wb') as handle:
        left = size
        while left:
            count = min(block, left)
            handle.write(os.urandom(count))
            left -= count


def run_sfclient(backend: Backend, namespace: str, key: str, path: Path, home: Path) -> Run:
    if not SFCLIENT.exists():
        subprocess.run(['make', '-C', str(ROOT), 'sfclient-venv'], check=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith('SHAKENFIST_')}
    env.update(HOME=str(home), SHAKENFIST_API_URL=backend.url, SHAKENFIST_NAMESPACE=namespace, SHAKENFIST_KEY=key)
    run, output = timed('sf-client artifact upload', [str(SFCLIENT), 'artifact', 'upload', f'client-{path.stem}',
                                                      str(path)], env=env)
    if 'Uploading new blob' not in output and 'Created artifact' not in output:
        print(output[-2000:], file=sys.stderr)
    return run


def run_floor(backend: Backend, namespace: str, key: str, path: Path) -> tuple[Run, Run]:
    hashed, _ = timed('sha512sum', ['sha512sum', str(path)])
    token = backend._token(namespace, key)
    upload = backend.call('POST', '/upload', namespace=namespace, key=key)
    # The token goes through a curl config on stdin, not the command line.
    config = f'header = "Authorization: Bearer {token}"\n'
    # `--data-binary @file` loads the file into memory, and this curl refuses files of 1 GiB and more ("out of
    # memory"); `-X POST -T file` sends the same raw body, streamed (no Expect: 100-continue round trip).
    if path.stat().st_size < 1024 * MIB:
        label, body = 'curl --data-binary @file', ['--data-binary', f'@{path}']
    else:
        label, body = 'curl -X POST -T file', ['-X', 'POST', '-T', str(path), '-H', 'Expect:']
    sent, output = timed(label, [
        'curl', '-sS', '--fail', '-K', '-', '-H', 'Content-Type: application/octet-stream', *body,
        f"{backend.url}/upload/{upload['uuid']}"], stdin=config)
    size = int(output.strip().splitlines()[-1])
    if size != path.stat().st_size:
        raise SystemExit(f'curl upload stored {size} bytes, not {path.stat().st_size}')
    return hashed, sent


def module_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith('SHAKENFIST_')}
    env['PYTHONPATH'] = str(COLLECTIONS)
    return env


def run_module(label: str, args: dict[str, Any], workdir: Path, note: str = '') -> tuple[Run, dict[str, Any]]:
    args_file = workdir / f'args-{secrets.token_hex(3)}.json'
    args_file.write_text(json.dumps({'ANSIBLE_MODULE_ARGS': args}))
    run, output = timed(label, [str(PYTHON), str(MODULE), str(args_file)], env=module_env(), note=note)
    args_file.unlink()
    result = json.loads(output[output.index('{'):])
    if result.get('failed'):
        raise SystemExit(f'{label} failed: {result.get("msg")}')
    return run, result


def run_playbook(args: dict[str, Any], workdir: Path) -> Run:
    playbook = workdir / 'play.yml'
    playbook.write_text('---\n- hosts: localhost\n  gather_facts: false\n  tasks:\n'
                        '    - shakenfist.storage.sf_image_publish: "{{ publish_args }}"\n')
    variables = workdir / 'vars.json'
    variables.write_text(json.dumps({'publish_args': args}))
    env = module_env()
    env.update(ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS), ANSIBLE_PYTHON_INTERPRETER=str(PYTHON), ANSIBLE_NOCOLOR='1')
    run, _ = timed('ansible-playbook, one re-publish task (cache on)', [
        str(ROOT / '.venv' / 'bin' / 'ansible-playbook'), '-i', 'localhost,', '-c', 'local', '-e', f'@{variables}',
        str(playbook)], env=env, note='end to end, for context: Ansible start-up plus the task')
    return run


def machine() -> dict[str, str]:
    model = 'unknown'
    try:
        for line in Path('/proc/cpuinfo').read_text().splitlines():
            if line.startswith('model name'):
                model = line.split(':', 1)[1].strip()
                break
    except OSError:
        pass
    try:
        memory = next(line.split()[1] for line in Path('/proc/meminfo').read_text().splitlines()
                      if line.startswith('MemTotal'))
        memory = f'{int(memory) // 1024} MiB'
    except (OSError, StopIteration):
        memory = 'unknown'
    return {'nproc': str(os.cpu_count()), 'cpu': model, 'memory': memory, 'kernel': platform.release(),
            'python': platform.python_version()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--size-mib', type=int, default=1024, help='size of each generated file (default 1024)')
    parser.add_argument('--backend', choices=('emulator', 'real'), default='emulator',
                        help='a fresh emulator (default) or the real 0.7.2 server from tests/real_server')
    parser.add_argument('--chunk-mib', type=int, default=None, help='sf_image_publish chunk_size (module default)')
    parser.add_argument('--write-docs', action='store_true', help=f'write the results to {DOC.relative_to(ROOT)}')
    parser.add_argument('--rounds', type=int, default=3,
                        help='fresh uploads per contender, in rotating order; the median is reported (default 3)')
    parser.add_argument('--refresh-notes', action='store_true',
                        help='only rewrite the header and notes of the doc, keeping the measured sections')
    parser.add_argument('--workdir', type=Path, default=None, help='scratch space (default: a temporary dir in .tmp)')
    options = parser.parse_args()
    if options.refresh_notes:
        write_docs(None, options.backend)
        return 0
    (ROOT / '.tmp').mkdir(exist_ok=True)
    subprocess.run(['make', '-s', '-C', str(ROOT), 'collection-link'], check=True)
    started_real = options.backend == 'real' and not real_server_running()
    try:
        with tempfile.TemporaryDirectory(prefix='bench-', dir=options.workdir or ROOT / '.tmp') as scratch:
            report = bench(options, Path(scratch))
    finally:
        if started_real:  # Stop the real server only when this run started it (by the harness's own PIDs).
            real_harness().stop()
    print(report)
    if options.write_docs:
        write_docs(report, options.backend)
        print(f'wrote {DOC.relative_to(ROOT)}')
    return 0


def real_server_running() -> bool:
    return any(real_harness().status()['components'].values())


def bench(options: argparse.Namespace, workdir: Path) -> str:
    size = options.size_mib * MIB
    started_at = datetime.datetime.now(datetime.timezone.utc)
    print(f'generating three files of {options.size_mib} MiB with different random bytes ...', flush=True)
    files = {name: workdir / f'{name}.img' for name in ('client', 'floor', 'publish')}
    for path in files.values():
        make_file(path, size)
    runs: dict[str, Run] = {}
    with running_backend(workdir / 'backend', options.backend) as backend:
        namespace, key = backend.new_namespace('bench')
        print(f'{options.backend} at {backend.url}, namespace {namespace}', flush=True)

        cache_dir = workdir / 'cache'
        args: dict[str, Any] = {'api_url': backend.url, 'namespace': namespace, 'key': key,
                                'name': 'bench-publish', 'src': str(files['publish']),
                                'checksum_cache_dir': str(cache_dir)}
        if options.chunk_mib:
            args['chunk_size'] = options.chunk_mib

        def client() -> tuple[Run, ...]:
            return (run_sfclient(backend, namespace, key, files['client'], workdir),)

        def floor() -> tuple[Run, ...]:
            return run_floor(backend, namespace, key, files['floor'])

        def publish() -> tuple[Run, ...]:
            # A new artifact each round: a file the size of the newest version would be hashed first.
            name = f'bench-publish-{len(measured["publish"])}'
            run, result = run_module('sf_image_publish, new file', {**args, 'name': name, '_ansible_verbosity': 3},
                                     workdir, note='one read: hashed while uploading; convert, verify')
            if result['uploaded_bytes'] != size or result['reused_blob'] or 'hashed while sending' not in \
                    ' '.join(result['actions']):
                raise SystemExit(f'the publish did not take the single-read path: {result}')
            args['name'] = name
            results[run.seconds] = result
            return (run,)

        results: dict[float, dict[str, Any]] = {}
        contenders = {'client': client, 'floor': floor, 'publish': publish}
        measured: dict[str, list[tuple[Run, ...]]] = {name: [] for name in contenders}
        for round_index in range(options.rounds):
            # Rotate the order each round: on a shared machine, load drifts during a run.
            names = list(contenders)
            names = names[round_index % 3:] + names[:round_index % 3]
            for name in names:
                if round_index:
                    new_content(files[name])
                print(f'round {round_index + 1}/{options.rounds}: {name} ...', flush=True)
                measured[name].append(contenders[name]())
        picked = {name: median_of(rounds) for name, rounds in measured.items()}
        runs['sfclient'] = picked['client'][0]
        runs['sha512sum'], runs['curl'] = picked['floor']
        runs['publish'] = picked['publish'][0]
        fresh = results[runs['publish'].seconds]
        phases = module_phases(fresh, runs['publish'].seconds)
        # Each contender only changes its own file: the publish file is now unchanged and in the cache.

        print('(c) new content of the same size as the newest version: hashed first ...', flush=True)
        new_content(files['publish'])
        runs['hash_first'], two_pass = run_module('sf_image_publish, same size as newest', args, workdir,
                                                  note='two reads: hash first (it might be unchanged), then upload')
        if two_pass['uploaded_bytes'] != size:
            raise SystemExit(f'the hash-first publish did not upload the whole file: {two_pass}')

        print('(d) unchanged re-publish, checksum cache off and on ...', flush=True)
        runs['republish_nocache'], again = run_module('sf_image_publish, unchanged, cache off',
                                                      {**args, 'checksum_cache': False}, workdir,
                                                      note='hash the file again, read state, no write')
        runs['republish_cache'], cached = run_module('sf_image_publish, unchanged, cache on', args, workdir,
                                                     note='cached sha512, read state, no write')
        for result in (again, cached):
            if result['changed'] or result['uploaded_bytes'] or result['api_requests']['writes']:
                raise SystemExit(f'an unchanged re-publish wrote something: {result}')
        runs['ansible'] = run_playbook(args, workdir)
        throughput = fresh.get('throughput', 0) / 1e6
    return render(options, runs, size, started_at, throughput, phases)


def new_content(path: Path) -> None:
    """Different bytes, same size: overwrite the first 64 bytes (the file stays in the page cache)."""
    with open(path, 'r+b') as handle:
        handle.write(os.urandom(64))


def median_of(rounds: list[tuple[Run, ...]]) -> tuple[Run, ...]:
    ordered = sorted(rounds, key=lambda runs: sum(run.seconds for run in runs))
    return ordered[(len(ordered) - 1) // 2]


def module_phases(result: dict[str, Any], total: float) -> dict[str, float]:
    """Where the fresh publish spent its time, from its -vvv log: hashing, uploading, converting, the rest."""
    phases = {'hash': 0.0, 'upload': 0.0, 'convert': 0.0}
    for line in result.get('log', []):
        if match := re.match(r'sha512 of .*\((\d+\.\d+)s\)$', line):
            phases['hash'] += float(match.group(1))
        elif match := re.match(r'POST /artifacts/upload/\S+ -> \d+ in (\d+\.\d+)s$', line):
            phases['convert'] += float(match.group(1))
    for action in result.get('actions', []):
        if match := re.match(r'uploaded .+? in (\d+\.\d+)s', action):
            phases['upload'] += float(match.group(1))
    phases['start-up, state reads, verify'] = max(0.0, total - sum(phases.values()))
    return phases


def render(options: argparse.Namespace, runs: dict[str, Run], size: int, started_at: datetime.datetime,
           upload_mbps: float, phases: dict[str, float]) -> str:
    floor = runs['sha512sum'].seconds + runs['curl'].seconds
    publish = runs['publish'].seconds
    ratios = {
        'publish_vs_sfclient': publish / runs['sfclient'].seconds,
        'publish_vs_floor': publish / floor,
        'peak_rss_mib': max(runs[k].peak_rss_mib for k in ('publish', 'hash_first', 'republish_nocache',
                                                          'republish_cache')),
        'republish_vs_publish': runs['republish_nocache'].seconds / publish,
    }
    goals = GOALS[options.backend]
    single_read = publish / runs['hash_first'].seconds
    cache_ratio = runs['republish_cache'].seconds / publish
    met = {name: ratios[name] <= goals[name] if name != 'peak_rss_mib' else ratios[name] < goals[name]
           for name in goals}
    info = machine()
    command = '.venv/bin/python bench/publish.py ' + ' '.join(
        a for a in (f'--size-mib {options.size_mib}', f'--backend {options.backend}',
                    f'--chunk-mib {options.chunk_mib}' if options.chunk_mib else '', f'--rounds {options.rounds}',
                    '--write-docs') if a)
    mb = size / 1e6
    make = 'make bench' + (" BENCH_ARGS='--backend real'" if options.backend == 'real' else '')

    def row(key: str, extra: str = '') -> str:
        run = runs[key]
        speed = f'{mb / run.seconds:.0f} MB/s' if key in ('sfclient', 'sha512sum', 'curl', 'publish', 'hash_first') \
            else ''
        return (f'| {run.label} | {run.seconds:.2f} | {run.cpu_seconds:.2f} | {speed} | {run.peak_rss_mib:.0f} | '
                f'{run.note or extra} |')

    def verdict(name: str) -> str:
        return 'met' if met[name] else '**missed**'

    lines = [
        f'## Backend: {options.backend}',
        '',
        f'- Date: {started_at:%Y-%m-%d %H:%M} UTC',
        f'- Command: `{command}` (or `{make}`)',
        f"- Machine: {info['nproc']} CPUs ({info['cpu']}), {info['memory']} RAM, Linux {info['kernel']}, "
        f"Python {info['python']}",
        f'- Backend: {"a freshly started emulator (sf_emulator), data on the local disk" if options.backend == "emulator" else "the real Shaken Fist 0.7.2 server (tests/real_server)"}',  # noqa: E501
        f'- File size: {options.size_mib} MiB per contender. Each contender has its own file of that size with '
        "different random bytes, so nobody can reuse another contender's blob and every one really uploads "
        '(the module and sf-client both skip the upload when a blob with the same sha512 exists). The files are '
        'written just before the run, so all contenders read from the page cache.',
        f'- Rounds: {options.rounds} fresh uploads per contender (new bytes each round: the first 64 bytes are '
        'rewritten), in rotating order; each row is the median round.',
        "- Times are wall-clock seconds of each process; CPU seconds (user + system) and peak RSS are that "
        "process's own (`os.wait4`), not the server's. The module "
        'runs as `python sf_image_publish.py args.json` (no Ansible around it); the ansible-playbook row shows '
        'what Ansible adds.',
        '',
        '| Contender | Seconds | CPU seconds | Throughput | Peak RSS (MiB) | What it does |',
        '| --- | ---: | ---: | ---: | ---: | --- |',
        row('sfclient', 'hash, checksum lookup, chunked upload, convert'),
        row('sha512sum', 'floor, part 1: hash the file'),
        row('curl', 'floor, part 2: one raw upload of the whole file'),
        f'| floor (sha512sum + curl) | {floor:.2f} | | {mb / floor:.0f} MB/s | | the least any client can do |',
        row('publish'),
        row('hash_first'),
        row('republish_nocache'),
        row('republish_cache'),
        row('ansible'),
        '',
        f"The module's own upload phase ran at {upload_mbps:.0f} MB/s. Where the fresh publish spent its time: "
        + ', '.join(f'{name} {seconds:.2f}s' for name, seconds in phases.items()) + '. The floor has no '
        'conversion step (the emulator moves the upload into a blob; the real server copies it).',
        '',
        '| Goal | Measured | Target | Result |',
        '| --- | ---: | ---: | --- |',
        f"| publish time / sf-client time | {ratios['publish_vs_sfclient']:.2f} "
        f"({1 / ratios['publish_vs_sfclient']:.1f}x faster) | <= {goals['publish_vs_sfclient']:.2f} | "
        f"{verdict('publish_vs_sfclient')} |",
        f"| publish time / floor time | {ratios['publish_vs_floor']:.2f} | <= {goals['publish_vs_floor']:.2f} | "
        f"{verdict('publish_vs_floor')} |",
        f'| single-read publish / hash-first publish (same module, same size) | {single_read:.2f} | < 1 | '
        f"{'met' if single_read < 1 else '**missed**'} |",
        f"| module peak RSS | {ratios['peak_rss_mib']:.0f} MiB | < 100 MiB | {verdict('peak_rss_mib')} |",
        f"| unchanged re-publish / fresh publish, cache off | {ratios['republish_vs_publish']:.2f} | < 0.35 | "
        f"{verdict('republish_vs_publish')} |",
        f'| unchanged re-publish / fresh publish, cache on | {cache_ratio:.3f} | < 0.10 ("much less") | '
        f"{'met' if cache_ratio < 0.1 else '**missed**'} |",
        '',
    ]
    missed = [name for name, ok in met.items() if not ok]
    if missed:
        lines += [f"Goals missed in this run: {', '.join(missed)}. See the notes below.", '']
    else:
        lines += ['Every goal was met in this run.', '']
    return '\n'.join(lines)


def write_docs(section: str | None, backend: str) -> None:
    """Replace this backend's section of the doc, keep the other backend's, and rewrite the shared notes."""
    sections = {}
    others = []  # other benchmarks' marked sections (bench/cleanup.py): kept as they are, after the notes
    if DOC.exists():
        for name in ('emulator', 'real'):
            found = re.search(f'<!-- begin {name} -->\n(.*?)<!-- end {name} -->', DOC.read_text(), re.DOTALL)
            if found:
                sections[name] = found.group(1)
        others = [m.group(0) for m in re.finditer(r'<!-- begin (\S+) -->\n.*?<!-- end \1 -->\n', DOC.read_text(),
                                                  re.DOTALL) if m.group(1) not in ('emulator', 'real')]
    if section is not None:
        sections[backend] = section
    parts = [HEADER]
    for name in ('emulator', 'real'):
        if name in sections:
            parts += [f'<!-- begin {name} -->', sections[name].rstrip('\n') + '\n', f'<!-- end {name} -->', '']
    DOC.write_text('\n'.join(parts + NOTES) + ''.join('\n' + other for other in others))


HEADER = '''# Performance: publishing an image

Generated by `bench/publish.py` (`make bench`; do not edit by hand, run it again). Each backend section comes
from one run of the command shown in it; the issue 4 goals are checked in the same run.
'''

NOTES = [
    '## Notes',
    '',
    '- **Read once.** A new file is hashed while it uploads: each chunk is read into one of two reused buffers on a',
    '  helper thread, hashed on another while it is on the wire, and sent without a copy. The hash-first row is the',
    '  same module taking its other path (new content of the same size as the newest version, which might be',
    '  unchanged, so it is hashed first): the ratio of the two is what reading once buys in the same run.',
    '- **Why the 0.8x / 0.55x floor goals are missed on this machine.** The floor runs `sha512sum` and then one raw',
    '  upload, one after the other. Reading once overlaps the two, which saves the hash time only when a CPU is free',
    '  for it while the bytes travel. This machine has 2 CPUs, and during an upload both are already busy: on the',
    '  emulator with its own receive, write and sha512 (it hashes upload bytes as they arrive); on the real 0.7.2',
    '  server with gunicorn reading the request body, etcd and the eventlog daemon. The CPU seconds column shows the',
    "  module's own share. The client's sha512 then competes with the server for the same two cores, so the upload",
    '  phase slows by about what the hash costs. On the real server the conversion also copies and hashes the',
    '  whole file server-side, which the floor does not include. On a machine where the server does not share the',
    "  client's cores (any real cluster) the hash is hidden behind the transfer. Then the module's time is the",
    '  upload plus the conversion.',
    '- The module memory is bounded by the chunk size (default 16 MiB): two chunk buffers, reused, whatever the file',
    '  size (73 MiB peak for 512 MiB and for 1 GiB files). `curl --data-binary @file` reads the whole file into',
    "  memory first, so its RSS is the file size; that is the floor's cost, not a goal for it. From 1 GiB on this",
    '  curl refuses `--data-binary @file` ("out of memory"), so the floor then uses `curl -X POST -T file`: the',
    '  same raw body, streamed.',
    '- sf-client 0.8.3 hashes first (4 KiB reads), then uploads in chunks that grow to 2 MiB, one request each.',
    '- The module split (hash / upload / convert / rest) is read from its own -vvv log in the same run. "rest" is',
    '  Python start-up (about 0.3 s), authentication and the state reads; on the real 0.7.2 server a listing of a',
    '  cluster that earlier test runs filled takes up to a second, so a publish lists once and reads by UUID after.',
    '- The checksum cache is keyed by device, inode, size, mtime and ctime, so it is safe on by default; with it',
    '  an unchanged re-publish costs start-up plus a few state reads, whatever the file size.',
    '- This machine is shared with other work (its `sha512sum` speed alone varied from 320 to 680 MB/s between',
    '  runs on different days): compare ratios from one run, and re-run before drawing conclusions from a small',
    '  difference.',
    '',
]


if __name__ == '__main__':
    sys.exit(main())
