"""Download benchmark: sf_artifact_download against the official client and one raw curl of the blob, in one run.

    .venv/bin/python bench/download.py [--size-mib 1024] [--rounds 3]

One freshly started emulator; one image of random bytes is published once, then every contender downloads it to a
file that does not exist yet (the median of --rounds rounds is reported). The files land in one directory on the
same filesystem, and are removed between rounds.

Contenders:
  curl         one `curl -o FILE` of /blobs/<uuid>/data: the floor (no verification, nothing else).
  sf-client    `sf-client artifact download` (shakenfist-client 0.8.3 from .venv-sfclient).
  download     sf_artifact_download run directly as `python sf_artifact_download.py args.json`: resolve, stream,
               sha512 while writing, fsync, rename.
  again        the same module when the file is already right: hashes it, downloads nothing.

Wall time and peak RSS are each process's own (os.wait4 on that child).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import secrets
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, List

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / 'bench'))

from publish import MIB, PYTHON, SFCLIENT, Run, make_file, module_env, running_backend, timed  # noqa: E402

PUBLISH = ROOT / 'plugins' / 'modules' / 'sf_image_publish.py'
DOWNLOAD = ROOT / 'plugins' / 'modules' / 'sf_artifact_download.py'


def module(path: Path, args: dict[str, Any], workdir: Path, label: str) -> tuple[Run, dict[str, Any]]:
    args_file = workdir / f'args-{secrets.token_hex(3)}.json'
    args_file.write_text(json.dumps({'ANSIBLE_MODULE_ARGS': args}))
    run, output = timed(label, [str(PYTHON), str(path), str(args_file)], env=module_env())
    args_file.unlink()
    result = json.loads(output[output.index('{'):])
    if result.get('failed'):
        raise SystemExit(f'{label} failed: {result.get("msg")}')
    return run, result


def median(runs: List[Run]) -> Run:
    middle = statistics.median(r.seconds for r in runs)
    return min(runs, key=lambda r: abs(r.seconds - middle))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--size-mib', type=int, default=1024)
    parser.add_argument('--rounds', type=int, default=3)
    options = parser.parse_args()
    size = options.size_mib * MIB
    with tempfile.TemporaryDirectory(prefix='sf-bench-dl-') as tmp:
        workdir = Path(tmp)
        with running_backend(workdir / 'backend') as backend:
            namespace, key = backend.new_namespace('bench')
            connection = {'api_url': backend.url, 'namespace': namespace, 'key': key}
            src = workdir / 'image.img'
            make_file(src, size)
            expected = hashlib.sha512(src.read_bytes()).hexdigest() if size <= 256 * MIB else None
            _, published = module(PUBLISH, {**connection, 'name': 'bench', 'src': str(src),
                                            'checksum_cache': False}, workdir, 'publish')
            blob, artifact = published['version']['blob_uuid'], published['artifact']['uuid']
            src.unlink()  # the downloads must not find its pages in the cache as a file of theirs
            dest = workdir / 'out.img'
            token = backend._token(namespace, key)
            env = {k: v for k, v in os.environ.items() if not k.startswith('SHAKENFIST_')}
            env.update(HOME=str(workdir), SHAKENFIST_API_URL=backend.url, SHAKENFIST_NAMESPACE=namespace,
                       SHAKENFIST_KEY=key)

            def curl() -> Run:
                return timed('curl', ['curl', '-sS', '--fail', '-K', '-', '-o', str(dest),
                                      f'{backend.url}/blobs/{blob}/data'],
                             stdin=f'header = "Authorization: Bearer {token}"\n')[0]

            def sfclient() -> Run:
                return timed('sf-client', [str(SFCLIENT), 'artifact', 'download', artifact, str(dest)], env=env)[0]

            def download() -> Run:
                run, result = module(DOWNLOAD, {**connection, 'ref': f'sf://artifact/{artifact}',
                                                'dest': str(dest)}, workdir, 'download')
                if expected and result['sha512'] != expected:
                    raise SystemExit('the module reported the wrong sha512')
                return run

            contenders: dict[str, Callable[[], Run]] = {'curl': curl, 'sf-client': sfclient, 'download': download}
            runs: dict[str, List[Run]] = {name: [] for name in contenders}
            for _ in range(options.rounds):
                for name, contender in contenders.items():
                    dest.unlink(missing_ok=True)
                    runs[name].append(contender())
                    if dest.stat().st_size != size:
                        raise SystemExit(f'{name} wrote {dest.stat().st_size} bytes, not {size}')
            again = [module(DOWNLOAD, {**connection, 'ref': f'sf://artifact/{artifact}', 'dest': str(dest)},
                            workdir, 'again')[0] for _ in range(options.rounds)]
    picked = {name: median(found) for name, found in runs.items()}
    picked['again'] = median(again)
    mb = size / 1e6
    print('| contender | seconds | MB/s | peak RSS MiB | CPU s |\n| --- | --- | --- | --- | --- |')
    for name, run in picked.items():
        print(f'| {name} | {run.seconds:.2f} | {mb / run.seconds:.0f} | {run.peak_rss_mib:.0f} | '
              f'{run.cpu_seconds:.2f} |')
    print(f"download / curl: {picked['download'].seconds / picked['curl'].seconds:.2f}; "
          f"download / sf-client: {picked['download'].seconds / picked['sf-client'].seconds:.2f}")
    return 0


if __name__ == '__main__':
    sys.exit(main())
