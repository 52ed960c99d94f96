"""Generate the execution environment's build context and check it, without a container engine (make ee-context).

1. `ansible-builder create` on extensions/ee/execution-environment.yml: a Containerfile that installs the collection
   tarball the definition names, which must be the one `make dist` built for the version in galaxy.yml.
2. `ansible-builder introspect` on the built collection installed as the image build installs it: what the build
   stage reads from the collection's meta/execution-environment.yml must be every line of requirements.txt and
   bindep.txt (a wrong path there gives nothing, silently).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
DEFINITION = ROOT / 'extensions' / 'ee' / 'execution-environment.yml'
CONTEXT = ROOT / '.tmp' / 'ee-context'
INSTALLED = ROOT / '.tmp' / 'ee-collections'
COLLECTION = 'shakenfist.storage'


def requirement_lines(path: Path) -> list[str]:
    lines = (line.split('#', 1)[0].strip() for line in path.read_text().splitlines())
    return [line for line in lines if line]


def run(*command: str) -> str:
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f'{" ".join(command)} failed ({done.returncode}):\n{done.stdout}{done.stderr}')
    return done.stdout


def check_context(tarball: Path) -> list[str]:
    shutil.rmtree(CONTEXT, ignore_errors=True)
    run(str(BIN / 'ansible-builder'), 'create', '-f', str(DEFINITION), '-c', str(CONTEXT),
        '--output-filename', 'Containerfile')
    problems = []
    containerfile = CONTEXT / 'Containerfile'
    if not containerfile.is_file():
        return [f'no Containerfile in {CONTEXT}']
    text = containerfile.read_text()
    for needed in ('ansible-galaxy collection install', '-r requirements.yml', 'introspect', 'install-from-bindep'):
        if needed not in text:
            problems.append(f'Containerfile has no {needed!r} step')
    wanted = yaml.safe_load((CONTEXT / '_build' / 'requirements.yml').read_text())['collections']
    names = [Path(entry['name']).name for entry in wanted]
    if names != [tarball.name]:
        problems.append(f'the definition installs {names}, not {tarball.name} (the version in galaxy.yml)')
    if not (CONTEXT / '_build' / 'collections' / tarball.name).is_file():
        problems.append(f'{tarball.name} is not in the build context (_build/collections)')
    return problems


def check_introspection(tarball: Path) -> list[str]:
    shutil.rmtree(INSTALLED, ignore_errors=True)
    run(str(BIN / 'ansible-galaxy'), 'collection', 'install', '--force', '-p', str(INSTALLED), str(tarball))
    found = yaml.safe_load(run(str(BIN / 'ansible-builder'), 'introspect', '--sanitize', str(INSTALLED)))
    problems = []
    for kind, source in (('python', ROOT / 'requirements.txt'), ('system', ROOT / 'bindep.txt')):
        ours = [line for line in found.get(kind) or [] if f'from collection {COLLECTION}' in line]
        got = {line.split('#', 1)[0].strip() for line in ours}
        for line in requirement_lines(source):
            if line not in got:
                problems.append(f'{kind} requirement {line!r} of {source.name} does not reach the image')
    return problems


def main() -> int:
    version = yaml.safe_load((ROOT / 'galaxy.yml').read_text())['version']
    tarball = ROOT / '.tmp' / 'dist' / f'shakenfist-storage-{version}.tar.gz'
    if not tarball.is_file():
        print(f'{tarball} is missing: run make dist first', file=sys.stderr)
        return 1
    problems = check_context(tarball) + check_introspection(tarball)
    for problem in problems:
        print(f'ee-context: {problem}', file=sys.stderr)
    if problems:
        return 1
    python, system = requirement_lines(ROOT / 'requirements.txt'), requirement_lines(ROOT / 'bindep.txt')
    print(f'ee-context: {CONTEXT.relative_to(ROOT)}/Containerfile installs {tarball.name}; the image build reads '
          f'{len(python)} Python and {len(system)} system requirements from meta/execution-environment.yml')
    return 0


if __name__ == '__main__':
    sys.exit(main())
