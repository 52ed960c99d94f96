"""Check what `make dist` built as a user meets it (make dist-check).

The emulator's wheel installs into a fresh virtualenv with no package index (it needs nothing else), its
`sf-emulator` command prints the route families and fault kinds, and it serves as the CI recipe in
emulator/README.md runs it: system key from the environment only, ready on /readyz, a token for that key, stopped
by its PID. The sdist holds the package, and the collection tarball is there for the version in galaxy.yml.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
DIST = ROOT / '.tmp' / 'dist'
VENV = ROOT / '.tmp' / 'dist-venv'


def one(pattern: str) -> Path:
    found = sorted(DIST.glob(pattern))
    if len(found) != 1:
        raise SystemExit(f'dist-check: expected one {pattern} in {DIST}, found {[p.name for p in found]}')
    return found[0]


def run(*command: str | Path, **kwargs: object) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([str(c) for c in command], capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload]
    if done.returncode != 0:
        raise SystemExit(f'dist-check: {" ".join(map(str, command))} failed ({done.returncode}):\n{done.stderr}')
    return done


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return int(sock.getsockname()[1])


def serve_like_ci(command: Path) -> None:
    key = secrets.token_urlsafe(18)
    port = free_port()
    url = f'http://127.0.0.1:{port}'
    with tempfile.TemporaryDirectory() as data:
        env = {**os.environ, 'SF_EMULATOR_SYSTEM_KEY': key}
        process = subprocess.Popen([str(command), 'serve', '--port', str(port), '--data-dir', data], env=env,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    with urllib.request.urlopen(f'{url}/readyz', timeout=2) as answer:
                        if answer.status == 200:
                            break
                except (OSError, urllib.error.URLError):
                    pass
                if process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f'dist-check: the installed emulator did not become ready on {url}')
                time.sleep(0.2)
            request = urllib.request.Request(f'{url}/auth', method='POST', headers={'Content-Type': 'application/json'},
                                             data=json.dumps({'namespace': 'system', 'key': key}).encode())
            with urllib.request.urlopen(request, timeout=10) as answer:
                if 'access_token' not in json.loads(answer.read()):
                    raise SystemExit('dist-check: the key from SF_EMULATOR_SYSTEM_KEY gave no token')
            if key in Path(f'/proc/{process.pid}/cmdline').read_text(errors='replace'):
                raise SystemExit('dist-check: the system key is on the command line')
        finally:
            process.send_signal(signal.SIGTERM)
            output, _ = process.communicate(timeout=30)
    if process.returncode != 0 or key in output:
        raise SystemExit(f'dist-check: stopping gave {process.returncode}, or the key was printed:\n{output}')


def main() -> int:
    version = yaml.safe_load((ROOT / 'galaxy.yml').read_text())['version']
    one(f'shakenfist-storage-{version}.tar.gz')
    wheel, sdist = one('sf_emulator-*-py3-none-any.whl'), one('sf_emulator-*.tar.gz')
    with tarfile.open(sdist) as archive:
        names = archive.getnames()
    if not any(name.endswith('/sf_emulator/cli.py') for name in names):
        raise SystemExit(f'dist-check: {sdist.name} has no sf_emulator/cli.py')
    shutil.rmtree(VENV, ignore_errors=True)
    run(sys.executable, '-m', 'venv', VENV)
    run(VENV / 'bin' / 'pip', 'install', '-q', '--no-index', wheel)
    command = VENV / 'bin' / 'sf-emulator'
    shown = run(command, '--help').stdout
    for heading in ('route families', 'fault kinds', 'SF_EMULATOR_SYSTEM_KEY'):
        if heading not in shown:
            raise SystemExit(f'dist-check: sf-emulator --help does not show {heading!r}')
    serve_like_ci(command)
    print(f'dist-check: {wheel.name} installs into a fresh venv without an index; sf-emulator --help lists routes '
          f'and faults; it served with the key from the environment and stopped cleanly')
    return 0


if __name__ == '__main__':
    sys.exit(main())
