"""Resolution benchmark (issue 21): three references resolved by the sf_artifact lookup in one call, in a namespace
of a few artifacts and in one of thousands; requests and seconds, and their ratio against the 1.2x goal.

    .venv/bin/python bench/resolve.py [--small 10] [--large 10000] [--rounds 5] [--json FILE] [--write-docs]
                                      [--collections DIR]

One freshly started emulator (server profile 0.7.2, the default) holds two tenant namespaces, seeded through the API
(one uploaded blob, then one `POST /artifacts/upload/<name>` with that blob per artifact, in parallel): each has the
label `web`, the label `db`, the uploaded image `img` and fillers up to its size. Each set of references is resolved
by one `lookup('shakenfist.storage.sf_artifact', ...)` call, in this process, with a new client each round (one
authentication, as every task has); the requests are the client's own -vvvv log lines. Sets:

  explicit   label:web, label:db, sf://artifact/<uuid of img>: forms the server can answer by name or UUID
  mixed      label:web, img, debian:12: a bare name and an upstream shorthand, which the rule needs the listing for

and one publish: `sf_image_publish` of `img` from a file with the bytes it already holds (so nothing changes), run
as its own process as Ansible runs it (`python sf_image_publish.py args.json`, start-up included); its requests are
read from the emulator's request log.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import statistics
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
# --collections DIR: resolve with another copy of the collection (for example main's, for a "before" figure).
COLLECTIONS = Path(sys.argv[sys.argv.index('--collections') + 1]).resolve() if '--collections' in sys.argv \
    else ROOT / '.tmp' / 'collections'
sys.path.insert(0, str(COLLECTIONS))

from publish import PYTHON, machine, module_env, timed  # noqa: E402

from tools.sfsupport.backend import Backend, running_backend  # noqa: E402

DOC = ROOT / 'docs' / 'performance.md'
GOAL = 1.2  # large/small, in seconds and in requests
REQUEST_LINE = re.compile(r'\b(GET|POST|PUT|DELETE) (/\S*) -> (\d{3}) in ')


def seed(backend: Backend, size: int, workdir: Path) -> dict[str, str]:
    """A tenant namespace with labels web and db, the image img and fillers: `size` artifacts in all."""
    namespace, key = backend.new_namespace('res')
    img_file = workdir / f'img-{size}.raw'
    img_file.write_bytes(os.urandom(4096))

    def uploaded(name: str, data: bytes) -> dict[str, Any]:
        upload = backend.call('POST', '/upload', namespace=namespace, key=key)
        backend.send_bytes(f'/upload/{upload["uuid"]}', data, namespace=namespace, key=key)
        return backend.call('POST', f'/artifacts/upload/{name}', {'upload_uuid': upload['uuid']},
                            namespace=namespace, key=key)
    img = uploaded('img', img_file.read_bytes())
    for label in ('web', 'db'):
        backend.call('POST', f'/label/{label}', {'blob_uuid': img['blob_uuid']}, namespace=namespace, key=key)
    # The fillers share one blob of their own: the measured versions reads see a blob with three references.
    spare = uploaded('filler-00000', os.urandom(4096))['blob_uuid']

    def filler(index: int) -> None:
        backend.call('POST', f'/artifacts/upload/filler-{index:05d}', {'blob_uuid': spare}, namespace=namespace,
                     key=key)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(filler, range(1, size - 3)))
    listed = backend.call('GET', '/artifacts', namespace=namespace, key=key)
    assert len(listed) == size, (len(listed), size)
    return {'namespace': namespace, 'key': key, 'img': img['uuid'], 'img_file': str(img_file)}


def resolve_once(url: str, tenant: dict[str, str], terms: list[str]) -> dict[str, Any]:
    from ansible.utils.collection_loader._collection_finder import _AnsibleCollectionFinder

    if not any(isinstance(f, _AnsibleCollectionFinder) for f in sys.meta_path):
        _AnsibleCollectionFinder(paths=[str(COLLECTIONS)])._install()
    from ansible.plugins.loader import lookup_loader

    from ansible_collections.shakenfist.storage.plugins.plugin_utils import _lookup

    lines: list[str] = []
    _lookup.display.vvvv = lambda message, host=None: lines.append(message)
    _lookup.shared_clients.clear()
    plugin = lookup_loader.get('shakenfist.storage.sf_artifact')
    variables = {'shakenfist_api_url': url, 'shakenfist_namespace': tenant['namespace'],
                 'shakenfist_key': tenant['key']}
    started = time.monotonic()
    results = plugin.run(terms, variables=variables)
    seconds = time.monotonic() - started
    requests = [f'{m.group(1)} {m.group(2)}' for m in map(REQUEST_LINE.search, lines) if m]
    return {'seconds': seconds, 'requests': len(requests), 'paths': requests,
            'refs': [r['ref'] for r in results]}


def measure(url: str, tenant: dict[str, str], terms: list[str], rounds: int) -> dict[str, Any]:
    resolve_once(url, tenant, terms)  # warm-up: imports and the first connection are not what is measured
    runs = [resolve_once(url, tenant, terms) for _ in range(rounds)]
    return {'terms': terms, 'seconds': statistics.median(r['seconds'] for r in runs),
            'all_seconds': [round(r['seconds'], 4) for r in runs], 'requests': runs[0]['requests'],
            'paths': runs[0]['paths'], 'refs': runs[0]['refs']}


def republish_once(backend: Backend, tenant: dict[str, str], workdir: Path) -> dict[str, Any]:
    args = {'api_url': backend.url, 'namespace': tenant['namespace'], 'key': tenant['key'], 'name': 'img',
            'src': tenant['img_file'], 'checksum_cache': False}
    args_file = workdir / 'republish.json'
    args_file.write_text(json.dumps({'ANSIBLE_MODULE_ARGS': args}))
    backend.emulator.clear_request_log()
    module = COLLECTIONS / 'ansible_collections/shakenfist/storage/plugins/modules/sf_image_publish.py'
    run, output = timed('republish', [str(PYTHON), str(module), str(args_file)],
                        env={**module_env(), 'PYTHONPATH': str(COLLECTIONS)})
    result = json.loads(output[output.index('{'):])
    if result.get('failed') or result.get('changed'):
        raise SystemExit(f'the re-publish failed or changed something: {result.get("msg")}')
    requests = [f'{r["method"]} {r["path"]}' for r in backend.emulator.request_log()]
    return {'seconds': run.seconds, 'requests': len(requests), 'paths': requests, 'refs': [result['artifact']['uuid']]}


def measure_republish(backend: Backend, tenant: dict[str, str], rounds: int, workdir: Path) -> dict[str, Any]:
    republish_once(backend, tenant, workdir)  # warm-up, as for the lookups
    runs = [republish_once(backend, tenant, workdir) for _ in range(rounds)]
    return {'terms': ['sf_image_publish name=img (unchanged)'],
            'seconds': statistics.median(r['seconds'] for r in runs),
            'all_seconds': [round(r['seconds'], 4) for r in runs], 'requests': runs[0]['requests'],
            'paths': runs[0]['paths'], 'refs': runs[0]['refs']}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--small', type=int, default=10)
    parser.add_argument('--large', type=int, default=10000)
    parser.add_argument('--rounds', type=int, default=5)
    parser.add_argument('--collections', type=Path, default=COLLECTIONS,
                        help='the ansible_collections parent to resolve with (default .tmp/collections)')
    parser.add_argument('--json', type=Path, help='write every figure and the machine to this file')
    parser.add_argument('--write-docs', action='store_true', help=f'write the results to {DOC.relative_to(ROOT)}')
    options = parser.parse_args()
    started_at = datetime.datetime.now(datetime.timezone.utc)
    figures: dict[str, Any] = {'machine': {**machine(), 'load': ' '.join(f'{x:.2f}' for x in os.getloadavg())},
                               'date': started_at.isoformat(timespec='seconds'), 'goal': GOAL,
                               'collections': str(options.collections),
                               'sizes': {'small': options.small, 'large': options.large}, 'sets': {}}
    with tempfile.TemporaryDirectory(prefix='sf-bench-resolve-') as workdir, \
            running_backend(Path(workdir), 'emulator') as backend:
        begun = time.monotonic()
        tenants = {'small': seed(backend, options.small, Path(workdir)),
                   'large': seed(backend, options.large, Path(workdir))}
        figures['seed_seconds'] = round(time.monotonic() - begun, 1)
        for name in ('explicit', 'mixed', 'publish'):
            row: dict[str, Any] = {}
            for size, tenant in tenants.items():
                if name == 'publish':
                    row[size] = measure_republish(backend, tenant, options.rounds, Path(workdir))
                    continue
                terms = (['label:web', 'label:db', f'sf://artifact/{tenant["img"]}'] if name == 'explicit'
                         else ['label:web', 'img', 'debian:12'])
                row[size] = measure(backend.url, tenant, terms, options.rounds)
            row['ratio_seconds'] = row['large']['seconds'] / row['small']['seconds']
            row['ratio_requests'] = row['large']['requests'] / row['small']['requests']
            row['goal_met'] = row['ratio_seconds'] <= GOAL and row['ratio_requests'] <= GOAL
            figures['sets'][name] = row
    figures['machine']['load_after'] = ' '.join(f'{x:.2f}' for x in os.getloadavg())
    print(render(figures, options))
    if options.json:
        options.json.write_text(json.dumps(figures, indent=2) + '\n')
    if options.write_docs:
        write_docs(render(figures, options))
    return 0


def render(figures: dict[str, Any], options: argparse.Namespace) -> str:
    small, large = figures['sizes']['small'], figures['sizes']['large']
    lines = [f'| Set | References | Requests ({small}) | Seconds ({small}) | Requests ({large}) | '
             f'Seconds ({large}) | Ratio {large}/{small} (s) | Goal <= {GOAL}x |',
             '| --- | --- | --- | --- | --- | --- | --- | --- |']
    for name, row in figures['sets'].items():
        terms = re.sub(r'[0-9a-f-]{36}', '<uuid>', ', '.join(f'`{t}`' for t in row['small']['terms']))
        lines.append(f'| {name} | {terms} | {row["small"]["requests"]} | {row["small"]["seconds"]:.3f} | '
                     f'{row["large"]["requests"]} | {row["large"]["seconds"]:.3f} | {row["ratio_seconds"]:.2f} | '
                     f'{"met" if row["goal_met"] else "not met"} |')
    m = figures['machine']
    lines += ['', f'Measured {figures["date"]} on {m["nproc"]} CPUs ({m["cpu"]}), {m["memory"]}, Python {m["python"]}, '
              f'load {m["load"]} before and {m["load_after"]} after; median of {options.rounds} rounds; seeding took '
              f'{figures["seed_seconds"]} s. Requests of one round:', '']
    for name, row in figures['sets'].items():
        for size in ('small', 'large'):
            paths = ', '.join(re.sub(r'[0-9a-f-]{36}', '<uuid>', p) for p in row[size]['paths'])
            lines.append(f'- {name}, {figures["sizes"][size]} artifacts: {paths}')
    return '\n'.join(lines)


def write_docs(section: str) -> None:
    text = DOC.read_text()
    begin, end = '<!-- begin resolve -->', '<!-- end resolve -->'
    start, stop = text.index(begin) + len(begin), text.index(end)
    DOC.write_text(text[:start] + '\n' + section + '\n' + text[stop:])


if __name__ == '__main__':
    sys.exit(main())
