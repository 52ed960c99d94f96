"""Download benchmark: sf_artifact_download against the official client and curl + sha512sum, in one run.

    .venv/bin/python bench/download.py [--size-mib 1024] [--rounds 3] [--json FILE] [--backend emulator|real]

One freshly started emulator (or the real 0.7.2 server, --backend real); one image of random bytes is published
once, then every contender downloads it to a file that does not exist yet (the median of --rounds rounds is
reported). The files land in one directory on the same filesystem, and are removed between contenders; the order
of the contenders rotates from round to round.

Contenders:
  curl            one `curl -o FILE` of /blobs/<uuid>/data: the transfer alone (no verification, nothing else).
  sha512sum       `sha512sum FILE` of the file curl just wrote (from the page cache): the hash alone.
  curl+sha512sum  the two above, one after the other (their sum in each round): the baseline a script would be.
  sf-client       `sf-client artifact download` (shakenfist-client 0.8.3 from .venv-sfclient).
  download        sf_artifact_download run directly as `python sf_artifact_download.py args.json`: resolve, stream,
                  sha512 while writing, fsync, rename.
  ansible         the same module as one task of an `ansible-playbook` run on localhost, the way users run it
                  (Ansible start-up included).
  again           the module when the file is already right: hashes it, downloads nothing.

Goals (issue 21): on 2 CPUs, ansible <= 0.9x curl+sha512sum and faster than sf-client; on a machine with cores to
spare, download within 1.1x of max(curl, sha512sum). Wall time, CPU seconds and peak RSS are each process's own
(os.wait4 on that child).
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable, Dict, List

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / 'bench'))

from publish import (  # noqa: E402
    COLLECTIONS,
    MIB,
    PYTHON,
    SFCLIENT,
    Run,
    machine,
    make_file,
    module_env,
    running_backend,
    timed,
)

PUBLISH = ROOT / 'plugins' / 'modules' / 'sf_image_publish.py'
DOWNLOAD = ROOT / 'plugins' / 'modules' / 'sf_artifact_download.py'
PLAYBOOK = ('---\n- name: Download\n  hosts: localhost\n  gather_facts: false\n  tasks:\n'
            '    - name: Download\n      shakenfist.storage.sf_artifact_download: "{{ download_args }}"\n')
GOALS = {'ansible_vs_curl_then_sha512sum': 0.9, 'ansible_vs_sfclient': 1.0, 'download_vs_max_curl_sha512sum': 1.1}


def module(path: Path, args: dict[str, Any], workdir: Path, label: str) -> tuple[Run, dict[str, Any]]:
    args_file = workdir / f'args-{secrets.token_hex(3)}.json'
    args_file.write_text(json.dumps({'ANSIBLE_MODULE_ARGS': args}))
    run, output = timed(label, [str(PYTHON), str(path), str(args_file)], env=module_env())
    args_file.unlink()
    result = json.loads(output[output.index('{'):])
    if result.get('failed'):
        raise SystemExit(f'{label} failed: {result.get("msg")}')
    return run, result


def playbook(args: dict[str, Any], workdir: Path) -> tuple[Run, dict[str, Any]]:
    """One ad-hoc ansible-playbook run with the one task; its result is read from the -v output."""
    play = workdir / 'download.yml'
    play.write_text(PLAYBOOK)
    variables = workdir / 'vars.json'
    variables.write_text(json.dumps({'download_args': args}))
    env = module_env()
    env.update(ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS), ANSIBLE_PYTHON_INTERPRETER=str(PYTHON),
               ANSIBLE_NOCOLOR='1', ANSIBLE_CALLBACK_RESULT_FORMAT='json')
    run, output = timed('ansible', [str(ROOT / '.venv' / 'bin' / 'ansible-playbook'), '-v', '-i', 'localhost,',
                                    '-c', 'local', '-e', f'@{variables}', str(play)], env=env)
    result, _end = json.JSONDecoder().raw_decode(output[output.index('=> {') + 3:])
    return run, result


def median(runs: List[Run]) -> Run:
    middle = statistics.median(r.seconds for r in runs)
    return min(runs, key=lambda r: abs(r.seconds - middle))


def load() -> str:
    return subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()


def ratios(picked: Dict[str, Run]) -> Dict[str, float]:
    seconds = {name: run.seconds for name, run in picked.items()}
    return {
        'ansible_vs_curl_then_sha512sum': seconds['ansible'] / seconds['curl+sha512sum'],
        'ansible_vs_sfclient': seconds['ansible'] / seconds['sf-client'],
        'download_vs_max_curl_sha512sum': seconds['download'] / max(seconds['curl'], seconds['sha512sum']),
        'download_vs_curl_then_sha512sum': seconds['download'] / seconds['curl+sha512sum'],
        'download_vs_sfclient': seconds['download'] / seconds['sf-client'],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--size-mib', type=int, default=1024)
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--json', type=Path, help='write every figure (and the machine) to this file')
    parser.add_argument('--backend', choices=('emulator', 'real'), default='emulator',
                        help='a fresh emulator (0.7.2 profile; default) or the real 0.7.2 server (tests/real_server)')
    options = parser.parse_args()
    size = options.size_mib * MIB
    started_at = datetime.datetime.now(datetime.timezone.utc)
    load_before = load()
    with tempfile.TemporaryDirectory(prefix='sf-bench-dl-') as tmp:
        workdir = Path(tmp)
        with running_backend(workdir / 'backend', options.backend) as backend:
            namespace, key = backend.new_namespace('bench')
            connection = {'api_url': backend.url, 'namespace': namespace, 'key': key}
            src = workdir / 'image.img'
            make_file(src, size)
            with open(src, 'rb') as handle:  # in blocks: the children would inherit a big RSS as their peak
                expected = hashlib.file_digest(handle, 'sha512').hexdigest()
            _, published = module(PUBLISH, {**connection, 'name': 'bench', 'src': str(src),
                                            'checksum_cache': False}, workdir, 'publish')
            blob, artifact = published['version']['blob_uuid'], published['artifact']['uuid']
            src.unlink()  # the downloads must not find its pages in the cache as a file of theirs
            dest = workdir / 'out.img'
            download_args = {**connection, 'ref': f'sf://artifact/{artifact}', 'dest': str(dest)}
            token = backend._token(namespace, key)
            env = {k: v for k, v in os.environ.items() if not k.startswith('SHAKENFIST_')}
            env.update(HOME=str(workdir), SHAKENFIST_API_URL=backend.url, SHAKENFIST_NAMESPACE=namespace,
                       SHAKENFIST_KEY=key)

            def curl() -> Dict[str, Run]:
                fetched = timed('curl', ['curl', '-sS', '--fail', '-K', '-', '-o', str(dest),
                                         f'{backend.url}/blobs/{blob}/data'],
                                stdin=f'header = "Authorization: Bearer {token}"\n')[0]
                hashed, output = timed('sha512sum', ['sha512sum', str(dest)])
                if output.split()[0] != expected:
                    raise SystemExit("sha512sum of what curl wrote is not the version's")
                both = Run('curl+sha512sum', fetched.seconds + hashed.seconds,
                           max(fetched.peak_rss_mib, hashed.peak_rss_mib),
                           cpu_seconds=fetched.cpu_seconds + hashed.cpu_seconds)
                return {'curl': fetched, 'sha512sum': hashed, 'curl+sha512sum': both}

            def sfclient() -> Dict[str, Run]:
                return {'sf-client': timed('sf-client', [str(SFCLIENT), 'artifact', 'download', artifact,
                                                         str(dest)], env=env)[0]}

            def download() -> Dict[str, Run]:
                run, result = module(DOWNLOAD, download_args, workdir, 'download')
                if result['sha512'] != expected:
                    raise SystemExit('the module reported the wrong sha512')
                return {'download': run}

            def ansible() -> Dict[str, Run]:
                run, result = playbook(download_args, workdir)
                if result.get('failed') or result['sha512'] != expected:
                    raise SystemExit(f'the playbook failed or reported the wrong sha512: {result.get("msg")}')
                return {'ansible': run}

            contenders: List[Callable[[], Dict[str, Run]]] = [curl, sfclient, download, ansible]
            runs: Dict[str, List[Run]] = {}
            for round_index in range(options.rounds):
                # A rotating order: no contender always follows the same one (page cache, writeback, other load).
                shift = round_index % len(contenders)
                for contender in contenders[shift:] + contenders[:shift]:
                    dest.unlink(missing_ok=True)
                    for name, run in contender().items():
                        runs.setdefault(name, []).append(run)
                    if dest.stat().st_size != size:
                        raise SystemExit(f'{contender.__name__} wrote {dest.stat().st_size} bytes, not {size}')
            runs['again'] = [module(DOWNLOAD, download_args, workdir, 'again')[0] for _ in range(options.rounds)]
    load_after = load()
    picked = {name: median(found) for name, found in runs.items()}
    mb = size / 1e6
    print('| contender | seconds | MB/s | peak RSS MiB | CPU s |\n| --- | --- | --- | --- | --- |')
    for name, run in picked.items():
        print(f'| {name} | {run.seconds:.2f} | {mb / run.seconds:.0f} | {run.peak_rss_mib:.0f} | '
              f'{run.cpu_seconds:.2f} |')
    found = ratios(picked)
    for name, ratio in found.items():
        goal = GOALS.get(name)
        verdict = '' if goal is None else f' (goal {"<" if goal == 1.0 else "<="} {goal}: ' + (
            'met)' if (ratio < goal if goal == 1.0 else ratio <= goal) else 'missed)')
        print(f'{name}: {ratio:.2f}{verdict}')
    print(f'load before: {load_before}\nload after: {load_after}')
    if options.json:
        options.json.write_text(json.dumps({
            'started_at': started_at.isoformat(timespec='seconds'), 'size_mib': options.size_mib,
            'rounds': options.rounds, 'backend': options.backend,
            'command': ' '.join([Path(sys.executable).name, *sys.argv]),
            'machine': machine(), 'load_before': load_before, 'load_after': load_after,
            'medians': {name: asdict(run) for name, run in picked.items()},
            'runs': {name: [asdict(run) for run in found_runs] for name, found_runs in runs.items()},
            'ratios': found, 'goals': GOALS}, indent=2) + '\n')
        print(f'wrote {options.json}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
