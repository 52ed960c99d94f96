#!/usr/bin/env python3
"""Run the REAL Shaken Fist API server (PyPI shakenfist==0.7.2) on 127.0.0.1 for the real-server test tier.

What runs, all started by this file and stopped by the PIDs it recorded (never by name):
- etcd (Debian's etcd-server binary, not its service) on 127.0.0.1:2379/2380: 0.7.2 hard codes port 2379,
  so there is one such server per machine;
- the API: gunicorn with shakenfist.external_api.app:app on 127.0.0.1 and a free port;
- the eventlog daemon (sf_shim.py eventlog), so events reach their sqlite files and show in the API.
Everything lives in one state directory (default <repo>/.tmp/real-server, or --state-dir / SF_REAL_STATE_DIR).

CLI:    python tests/real_server/harness.py install|start|stop|status|env [--state-dir D] [--port N] [--fresh]
Python: available(), ensure_started(state_dir=None) -> RealServer, stop(state_dir=None); see README.md here.

Standard library only: it runs under the project's tooling Python; the server and the official client get
venvs of their own in the state directory (0.7.2 pins old flask, click, requests...).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import fcntl
import hashlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

SF_VERSION = '0.7.2'
CLIENT_VERSION = '0.8.3'
SERVER_REQUIREMENT = f'shakenfist=={SF_VERSION}'
CLIENT_REQUIREMENT = f'shakenfist-client=={CLIENT_VERSION}'
APT_PACKAGES = ('etcd-server', 'qemu-utils')
HOST = '127.0.0.1'
ETCD_CLIENT_PORT = 2379  # fixed: 0.7.2 always talks to etcd on 2379
ETCD_PEER_PORT = 2380
NODE_NAME = 'localhost'
SYSTEM_NAMESPACE = 'system'
SYSTEM_KEY_NAME = 'deploy'

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
DEFAULT_STATE_DIR = REPO_ROOT / '.tmp' / 'real-server'
STATE_DIR_ENV = 'SF_REAL_STATE_DIR'
PYTHON_ENV = 'SF_REAL_PYTHON'  # interpreter for the server venv (0.7.2 needs 3.9 to 3.12: it imports lib2to3)
WORKERS_ENV = 'SF_REAL_API_WORKERS'

# Stop order: the API first, etcd last.
COMPONENTS = ('api', 'eventlog', 'etcd')

ETCD_WAIT = 30.0
BOOTSTRAP_WAIT = 120.0
API_WAIT = 90.0
STOP_WAIT = 20.0


class HarnessError(Exception):
    """Something the harness could not do; the message is meant for a person, on one line where possible."""


class InstallError(HarnessError):
    """This machine could not install the server (apt, pip, no suitable Python): a reason to skip the tier."""


class PortInUseError(HarnessError):
    """A port the harness needs is held by a process that is not ours."""


@dataclasses.dataclass(frozen=True)
class RealServer:
    """Connection settings of a running real server, as the test tier needs them."""

    url: str
    system_key: str
    state_dir: Path
    namespace: str = SYSTEM_NAMESPACE
    kind: str = 'real'
    version: str = SF_VERSION
    started_here: bool = dataclasses.field(default=False, compare=False)  # this call started it: stop it after

    @property
    def sf_client(self) -> Path:
        """The official client, shakenfist-client==0.8.3, in its own venv."""
        return _Layout(self.state_dir).venv_client / 'bin' / 'sf-client'

    def env(self) -> dict[str, str]:
        """The variables sf-client (and the collection's modules) read to reach this server as `system`."""
        return {
            'SHAKENFIST_API_URL': self.url,
            'SHAKENFIST_NAMESPACE': self.namespace,
            'SHAKENFIST_KEY': self.system_key,
        }


class _Layout:
    """Where everything lives inside one state directory."""

    def __init__(self, state_dir: Path) -> None:
        self.root = state_dir
        self.venv_server = state_dir / 'venv-server'
        self.venv_client = state_dir / 'venv-client'
        self.etcd_data = state_dir / 'etcd'
        self.storage = state_dir / 'storage'
        self.run = state_dir / 'run'
        self.logs = state_dir / 'logs'
        self.lock = state_dir / 'harness.lock'
        self.system_key = state_dir / 'system.key'
        self.auth_seed = state_dir / 'auth-secret-seed'
        self.server_json = state_dir / 'server.json'

    def pid_file(self, name: str) -> Path:
        return self.run / f'{name}.json'

    def log_file(self, name: str) -> Path:
        return self.logs / f'{name}.log'

    @staticmethod
    def venv_marker(venv: Path) -> Path:
        return venv / '.harness-installed'


def _say(message: str) -> None:
    print(f'real-server: {message}', file=sys.stderr, flush=True)


def resolve_state_dir(state_dir: Path | str | None = None) -> Path:
    if state_dir is None:
        state_dir = os.environ.get(STATE_DIR_ENV) or DEFAULT_STATE_DIR
    return Path(state_dir).expanduser().resolve()


@contextlib.contextmanager
def _locked(layout: _Layout) -> Iterator[None]:
    """One harness action at a time per state directory (pytest workers may race to start the server)."""
    layout.root.mkdir(parents=True, exist_ok=True)
    with open(layout.lock, 'a+') as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# ---------------------------------------------------------------------------------------------------------------
# Processes: recorded by PID plus the kernel's start time, so a reused PID is never mistaken for ours.


def _proc_start_time(pid: int) -> int | None:
    try:
        stat = Path(f'/proc/{pid}/stat').read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(')') + 2 :].split()
    if fields[0] in ('Z', 'X'):  # zombie or dead: it no longer runs
        return None
    return int(fields[19])


def _read_record(layout: _Layout, name: str) -> dict[str, Any] | None:
    try:
        record = json.loads(layout.pid_file(name).read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def _running_pid(layout: _Layout, name: str) -> int | None:
    """The PID of our component `name` if it still runs, else None (and its stale record is removed)."""
    record = _read_record(layout, name)
    if record is None:
        return None
    pid = int(record.get('pid', 0))
    if pid > 0 and _proc_start_time(pid) == record.get('start_time'):
        return pid
    layout.pid_file(name).unlink(missing_ok=True)
    return None


def _spawn(layout: _Layout, name: str, argv: list[str], env: dict[str, str]) -> int:
    """Start one component in a process group of its own, output appended to its log, and record it."""
    layout.run.mkdir(parents=True, exist_ok=True)
    layout.logs.mkdir(parents=True, exist_ok=True)
    with open(layout.log_file(name), 'ab') as log:
        log.write(f'\n==== {time.strftime("%Y-%m-%d %H:%M:%S")} starting {name}: {" ".join(argv)}\n'.encode())
        log.flush()
        proc = subprocess.Popen(
            argv,
            cwd=layout.root,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    start_time = None
    for _ in range(50):
        start_time = _proc_start_time(proc.pid)
        if start_time is not None or proc.poll() is not None:
            break
        time.sleep(0.02)
    record = {'pid': proc.pid, 'pgid': proc.pid, 'start_time': start_time, 'argv': argv}
    layout.pid_file(name).write_text(json.dumps(record, indent=1) + '\n')
    return proc.pid


def _group_alive(pgid: int) -> bool:
    """Whether any process of group `pgid` still runs. Zombies do not count: when this process did not start
    the group (a CLI call after the one that started it) their reaping is up to init, which may be slow."""
    for proc in Path('/proc').iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / 'stat').read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(')') + 2 :].split()
        if int(fields[2]) == pgid and fields[0] not in ('Z', 'X'):
            return True
    return False


def _stop_component(layout: _Layout, name: str) -> bool:
    """SIGTERM our recorded process group, wait, SIGKILL what is left. True if something was running."""
    pid = _running_pid(layout, name)
    if pid is None:
        layout.pid_file(name).unlink(missing_ok=True)
        return False
    record = _read_record(layout, name) or {}
    pgid = int(record.get('pgid', pid))
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_WAIT
    while time.monotonic() < deadline and _group_alive(pgid):
        _reap(pid)
        time.sleep(0.1)
    if _group_alive(pgid):
        _say(f'{name} (pid {pid}) did not stop in {STOP_WAIT:.0f}s, killing its process group')
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
        time.sleep(0.2)
    _reap(pid)
    layout.pid_file(name).unlink(missing_ok=True)
    return True


def _reap(pid: int) -> None:
    """Collect our own child's exit status when this process started it (keeps it from lingering as a zombie)."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def _log_tail(layout: _Layout, name: str, lines: int = 25) -> str:
    try:
        text = layout.log_file(name).read_text(errors='replace')
    except OSError:
        return '(no log)'
    return '\n'.join(text.splitlines()[-lines:])


# ---------------------------------------------------------------------------------------------------------------
# Ports


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _port_owner(port: int) -> str:
    """Best effort: 'pid N (command line)' of whoever listens on `port`, from /proc."""
    inodes = set()
    for table in ('/proc/net/tcp', '/proc/net/tcp6'):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            cols = row.split()
            if len(cols) > 9 and cols[3] == '0A' and int(cols[1].rsplit(':', 1)[1], 16) == port:
                inodes.add(f'socket:[{cols[9]}]')
    if not inodes:
        return 'an unknown process'
    for proc in Path('/proc').iterdir():
        if not proc.name.isdigit():
            continue
        try:
            fds = list((proc / 'fd').iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(fd) in inodes:
                    cmd = (proc / 'cmdline').read_bytes().replace(b'\0', b' ').decode(errors='replace').strip()
                    return f'pid {proc.name} ({cmd[:160]})'
            except OSError:
                continue
    return 'an unknown process'


def _require_port(port: int, what: str, layout: _Layout) -> None:
    if _port_free(port):
        return
    owner = _port_owner(port)
    hint = ''
    if str(layout.root) in owner:
        hint = '; it looks started from this state dir but its PID record is gone (state dir wiped?): end that pid'
    elif port in (ETCD_CLIENT_PORT, ETCD_PEER_PORT):
        hint = ' (a harness with another state dir? stop it there)'
    raise PortInUseError(
        f'port {HOST}:{port} ({what}) is taken by {owner}, not by this harness (state dir {layout.root}){hint}'
    )


# ---------------------------------------------------------------------------------------------------------------
# Install


def _python_version(python: str) -> tuple[int, int] | None:
    try:
        out = subprocess.run(
            [python, '-c', 'import sys, venv, ensurepip; print(*sys.version_info[:2])'],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout.split()
    except (OSError, subprocess.SubprocessError):
        return None
    return int(out[0]), int(out[1])


def server_python() -> str | None:
    """An interpreter that can build the server venv: 3.9 to 3.12 with venv and ensurepip."""
    override = os.environ.get(PYTHON_ENV)
    candidates = [override] if override else ['python3.11', 'python3.12', 'python3.10', 'python3.9', 'python3']
    if not override and (3, 9) <= sys.version_info[:2] <= (3, 12):
        candidates.insert(0, sys.executable)
    for candidate in candidates:
        path = shutil.which(candidate) if candidate else None
        version = _python_version(path) if path else None
        if version and (3, 9) <= version <= (3, 12):
            return path
    return None


def _binaries_present() -> bool:
    return bool(shutil.which('etcd') and shutil.which('qemu-img'))


def _venv_ready(venv: Path, requirement: str) -> bool:
    marker = _Layout.venv_marker(venv)
    return marker.is_file() and marker.read_text().strip() == requirement and (venv / 'bin' / 'python').exists()


def is_installed(state_dir: Path | str | None = None) -> bool:
    layout = _Layout(resolve_state_dir(state_dir))
    return (
        _binaries_present()
        and _venv_ready(layout.venv_server, SERVER_REQUIREMENT)
        and _venv_ready(layout.venv_client, CLIENT_REQUIREMENT)
    )


def _apt_install() -> None:
    if _binaries_present():
        return
    if os.geteuid() != 0 or not shutil.which('apt-get'):
        raise InstallError(f'etcd and qemu-img are missing and there is no apt-get as root to install {APT_PACKAGES}')
    env = dict(os.environ, DEBIAN_FRONTEND='noninteractive')
    # Keep the packaged etcd service from starting (and taking port 2379): policy-rc.d answers "not now".
    policy = Path('/usr/sbin/policy-rc.d')
    made_policy = False
    if not policy.exists():
        policy.write_text('#!/bin/sh\n# tests/real_server/harness.py: no service starts during its install\nexit 101\n')
        policy.chmod(0o755)
        made_policy = True
    try:
        _say('apt-get update')
        _run_checked(['apt-get', 'update', '-q'], env, 'apt-get update', InstallError)
        _say(f'apt-get install {" ".join(APT_PACKAGES)}')
        _run_checked(
            ['apt-get', 'install', '-y', '-q', '--no-install-recommends', *APT_PACKAGES],
            env,
            'apt-get install',
            InstallError,
        )
    finally:
        if made_policy:
            policy.unlink(missing_ok=True)
    if Path('/run/systemd/system').is_dir() and shutil.which('systemctl'):
        # A systemd machine may have started and enabled the service anyway: only the binary is used here.
        subprocess.run(['systemctl', 'disable', '--now', 'etcd.service'], capture_output=True, check=False)
    if not _binaries_present():
        raise InstallError('apt-get finished but etcd or qemu-img is still not on PATH')


def _run_checked(argv: list[str], env: dict[str, str], what: str, error: type[HarnessError]) -> None:
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = '\n'.join((proc.stdout + proc.stderr).splitlines()[-15:])
        raise error(f'{what} failed with exit code {proc.returncode}:\n{tail}')


def _start_venv_build(python: str, venv: Path, requirement: str, log: Path) -> subprocess.Popen[bytes]:
    """Build `venv` with `requirement` in the background (server and client build at the same time)."""
    if venv.exists():
        shutil.rmtree(venv)
    log.parent.mkdir(parents=True, exist_ok=True)
    script = (
        f'set -e; "{python}" -m venv "{venv}"; '
        f'"{venv}/bin/python" -m pip install -q --disable-pip-version-check "{requirement}"; '
        f'echo "{requirement}" > "{_Layout.venv_marker(venv)}"'
    )
    with open(log, 'wb') as out:
        return subprocess.Popen(['/bin/sh', '-c', script], stdout=out, stderr=subprocess.STDOUT)


def _install(layout: _Layout) -> None:
    started = time.monotonic()
    _apt_install()
    builds = []
    for venv, requirement, name in (
        (layout.venv_server, SERVER_REQUIREMENT, 'install-server'),
        (layout.venv_client, CLIENT_REQUIREMENT, 'install-client'),
    ):
        if _venv_ready(venv, requirement):
            continue
        python = server_python()
        if python is None:
            raise InstallError(f'no Python 3.9-3.12 with venv and ensurepip for the server venv (set {PYTHON_ENV})')
        _say(f'pip install {requirement} into {venv}')
        builds.append((name, _start_venv_build(python, venv, requirement, layout.log_file(name))))
    failed = []
    for name, proc in builds:
        if proc.wait() != 0:
            failed.append(f'{name}: exit {proc.returncode}\n{_log_tail(layout, name, 15)}')
    if failed:
        raise InstallError('building a venv failed:\n' + '\n'.join(failed))
    if builds:
        _say(f'installed in {time.monotonic() - started:.1f}s')


def install(state_dir: Path | str | None = None) -> Path:
    """Install etcd-server and qemu-utils (apt) and the server and client venvs; quick when already done."""
    layout = _Layout(resolve_state_dir(state_dir))
    with _locked(layout):
        _install(layout)
    return layout.root


# ---------------------------------------------------------------------------------------------------------------
# Start


def _secret(path: Path) -> str:
    if not path.exists():
        path.write_text(secrets.token_urlsafe(32) + '\n')
        path.chmod(0o600)
    return path.read_text().strip()


def _storage_path(layout: _Layout) -> Path:
    """The STORAGE_PATH to give 0.7.2: the storage dir, or a dot-free symlink to it.

    0.7.2 finds event databases by splitting each file's FULL path on '.', so any dot in STORAGE_PATH (such as
    the default state dir's '.tmp') makes every events route answer [] while the files fill up on disk.
    """
    if '.' not in str(layout.storage):
        return layout.storage
    digest = hashlib.sha256(str(layout.storage).encode()).hexdigest()[:12]
    for base in (Path(tempfile.gettempdir()), Path('/tmp'), Path('/var/tmp')):
        link = base.resolve() / f'sf-real-storage-{digest}'
        if '.' not in str(link):
            break
    else:
        raise HarnessError(f'state dir {layout.root} has a "." in its path and no dot-free temp dir was found')
    if link.is_symlink() or link.exists():
        if link.is_symlink() and Path(os.readlink(link)) == layout.storage:
            return link
        link.unlink()
    link.symlink_to(layout.storage, target_is_directory=True)
    return link


def _server_env(layout: _Layout, api_port: int, metrics_port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(('SHAKENFIST_', 'ETCD_'))}
    env['PATH'] = f'{layout.venv_server / "bin"}:{env.get("PATH", "/usr/bin:/bin")}'
    env.update(
        {
            'SHAKENFIST_ETCD_HOST': HOST,
            'SHAKENFIST_NODE_NAME': NODE_NAME,
            'SHAKENFIST_NODE_MESH_IP': HOST,
            'SHAKENFIST_NODE_EGRESS_IP': HOST,
            'SHAKENFIST_STORAGE_PATH': str(_storage_path(layout)),
            'SHAKENFIST_BLOB_REPLICATION_FACTOR': '1',
            'SHAKENFIST_NODE_IS_EVENTLOG_NODE': 'true',
            'SHAKENFIST_EVENTLOG_NODE_IP': HOST,
            'SHAKENFIST_NODE_IS_HYPERVISOR': 'false',
            'SHAKENFIST_NODE_IS_NETWORK_NODE': 'false',
            'SHAKENFIST_API_PORT': str(api_port),
            'SHAKENFIST_API_ADVERTISED_HOST': f'{HOST}:{api_port}',
            'SHAKENFIST_EVENTLOG_METRICS_PORT': str(metrics_port),
            'SHAKENFIST_AUTH_SECRET_SEED': _secret(layout.auth_seed),
            'PYTHONUNBUFFERED': '1',
        }
    )
    # The eventlog daemon's pruning leaves a sqlite write transaction open and then moves every event
    # database aside as corrupt: -1 switches pruning off for each event type.
    for event_type in ('AUDIT', 'MUTATE', 'STATUS', 'USAGE', 'RESOURCES', 'PRUNE', 'HISTORIC'):
        env[f'SHAKENFIST_MAX_{event_type}_EVENT_AGE'] = '-1'
    return env


def _http_json(method: str, url: str, body: Any = None, timeout: float = 5.0) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers={'Content-Type': 'application/json'})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            raw = response.read()
            status = response.status
    except urllib.error.HTTPError as e:
        raw, status = e.read(), e.code
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, raw.decode(errors='replace')


def _auth_ok(url: str, key: str, timeout: float = 5.0) -> bool:
    try:
        status, body = _http_json('POST', f'{url}/auth', {'namespace': SYSTEM_NAMESPACE, 'key': key}, timeout)
    except (OSError, urllib.error.URLError):
        return False
    return status == 200 and isinstance(body, dict) and bool(body.get('access_token'))


def _etcd_healthy() -> bool:
    try:
        status, body = _http_json('GET', f'http://{HOST}:{ETCD_CLIENT_PORT}/health', timeout=2.0)
    except (OSError, urllib.error.URLError):
        return False
    return status == 200 and isinstance(body, dict) and body.get('health') == 'true'


def _wait_for(what: str, check: Any, timeout: float, layout: _Layout, component: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        if _running_pid(layout, component) is None:
            tail = _log_tail(layout, component)
            raise HarnessError(f'{component} exited while waiting for {what}; its log ends:\n{tail}')
        time.sleep(0.2)
    tail = _log_tail(layout, component)
    raise HarnessError(f'timed out after {timeout:.0f}s waiting for {what}; {component} log ends:\n{tail}')


def _load_server_json(layout: _Layout) -> dict[str, Any]:
    try:
        data = json.loads(layout.server_json.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _running_server(layout: _Layout) -> RealServer | None:
    """The server from this state directory if all of it runs and the system key authenticates."""
    if any(_running_pid(layout, name) is None for name in COMPONENTS):
        return None
    url = _load_server_json(layout).get('url')
    if not url or not layout.system_key.exists():
        return None
    key = layout.system_key.read_text().strip()
    if not _auth_ok(url, key):
        return None
    return RealServer(url=url, system_key=key, state_dir=layout.root)


def _stop_all(layout: _Layout) -> list[str]:
    return [name for name in COMPONENTS if _stop_component(layout, name)]


def _wipe_data(layout: _Layout) -> None:
    for path in (layout.etcd_data, layout.storage):
        if path.exists():
            shutil.rmtree(path)


def _workers() -> int:
    configured = os.environ.get(WORKERS_ENV)
    if configured:
        return max(1, int(configured))
    return (os.cpu_count() or 1) * 2 + 1  # what 0.7.2's sf-api daemon uses


def _start(layout: _Layout, port: int | None, fresh: bool) -> RealServer:
    if fresh:
        stopped = _stop_all(layout)
        if stopped:
            _say(f'stopped {", ".join(stopped)} for --fresh')
        _wipe_data(layout)
        _say('wiped etcd data and storage')
    else:
        server = _running_server(layout)
        if server is not None and (port is None or server.url.endswith(f':{port}')):
            return server
        if port is not None and (server is None or not server.url.endswith(f':{port}')):
            _require_port(port, 'API', layout)  # before stopping anything that runs now
        stopped = _stop_all(layout)  # partly running, unhealthy, or on another port: start over, state kept
        if stopped:
            _say(f'restarting: stopped {", ".join(stopped)}')

    _install(layout)
    _require_port(ETCD_CLIENT_PORT, 'etcd client', layout)
    _require_port(ETCD_PEER_PORT, 'etcd peer', layout)
    if port is not None:
        _require_port(port, 'API', layout)
        api_port = port
    else:
        previous = _load_server_json(layout).get('port')
        api_port = previous if isinstance(previous, int) and _port_free(previous) else _free_port()
    metrics_port = _free_port()
    while metrics_port == api_port:
        metrics_port = _free_port()

    for path in (layout.storage, layout.run, layout.logs):
        path.mkdir(parents=True, exist_ok=True)
    layout.etcd_data.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = _secret(layout.system_key)
    env = _server_env(layout, api_port, metrics_port)
    url = f'http://{HOST}:{api_port}'
    started = time.monotonic()
    try:
        etcd = shutil.which('etcd') or 'etcd'
        peer, client = f'http://{HOST}:{ETCD_PEER_PORT}', f'http://{HOST}:{ETCD_CLIENT_PORT}'
        _spawn(
            layout,
            'etcd',
            [
                etcd,
                '--name', 'sf-real',
                '--data-dir', str(layout.etcd_data),
                '--listen-client-urls', client,
                '--advertise-client-urls', client,
                '--listen-peer-urls', peer,
                '--initial-advertise-peer-urls', peer,
                '--initial-cluster', f'sf-real={peer}',
                '--initial-cluster-state', 'new',
                '--logger', 'zap',
                '--log-outputs', 'stderr',
            ],
            {k: v for k, v in env.items() if not k.startswith('SHAKENFIST_')},
        )  # fmt: skip
        _wait_for(f'etcd on {client}', _etcd_healthy, ETCD_WAIT, layout, 'etcd')

        python = str(layout.venv_server / 'bin' / 'python')
        shim = str(HERE / 'sf_shim.py')
        with open(layout.log_file('bootstrap'), 'ab') as log:
            result = subprocess.run(
                [python, shim, 'bootstrap', str(layout.system_key)],
                cwd=layout.root,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=BOOTSTRAP_WAIT,
                check=False,
            )
        if result.returncode != 0:
            raise HarnessError(f'bootstrap of the system key and node failed:\n{_log_tail(layout, "bootstrap")}')

        _spawn(
            layout,
            'api',
            [
                str(layout.venv_server / 'bin' / 'gunicorn'),
                '--config', str(HERE / 'gunicorn_conf.py'),
                '--bind', f'{HOST}:{api_port}',
                '--workers', str(_workers()),
                '--timeout', '30',
                '--name', 'sf-api',
                '--access-logfile', str(layout.log_file('api-access')),
                'shakenfist.external_api.app:app',
            ],
            env,
        )  # fmt: skip
        _spawn(layout, 'eventlog', [python, shim, 'eventlog'], env)
        _wait_for(f'POST {url}/auth as system', lambda: _auth_ok(url, key), API_WAIT, layout, 'api')
        if _running_pid(layout, 'eventlog') is None:
            raise HarnessError(f'the eventlog daemon exited; its log ends:\n{_log_tail(layout, "eventlog")}')
    except BaseException:
        _stop_all(layout)
        raise
    layout.server_json.write_text(json.dumps({'url': url, 'port': api_port, 'metrics_port': metrics_port}) + '\n')
    _say(f'started in {time.monotonic() - started:.1f}s: {url} (state in {layout.root})')
    return RealServer(url=url, system_key=key, state_dir=layout.root, started_here=True)


def start(state_dir: Path | str | None = None, *, port: int | None = None, fresh: bool = False) -> RealServer:
    """Install if needed, then start etcd, the API and the eventlog daemon unless they already run healthy."""
    layout = _Layout(resolve_state_dir(state_dir))
    with _locked(layout):
        return _start(layout, port, fresh)


# ---------------------------------------------------------------------------------------------------------------
# Public API for the test tier


def available() -> tuple[bool, str]:
    """Can this machine run the real server? (True, what it has) or (False, why not). Asks no registry."""
    if not sys.platform.startswith('linux'):
        return False, f'the real Shaken Fist server needs Linux (this is {sys.platform})'
    if not _binaries_present() and (os.geteuid() != 0 or not shutil.which('apt-get')):
        return False, 'etcd/qemu-img are missing and cannot be installed (needs apt-get as root)'
    layout = _Layout(resolve_state_dir())
    if not _venv_ready(layout.venv_server, SERVER_REQUIREMENT):
        if server_python() is None:
            return False, f'no Python 3.9-3.12 with venv/ensurepip for {SERVER_REQUIREMENT} (set {PYTHON_ENV})'
        if not (shutil.which('cc') or shutil.which('gcc')):
            return False, f'no C compiler: {SERVER_REQUIREMENT} needs netifaces 0.11.0, built from source'
    if _running_pid(layout, 'etcd') is None:
        for port in (ETCD_CLIENT_PORT, ETCD_PEER_PORT):
            if not _port_free(port):
                return False, f'port {port} (needed by 0.7.2) is taken by {_port_owner(port)}'
    return True, 'installed' if is_installed() else 'installable (apt-get, pip)'


def ensure_started(state_dir: Path | None = None, *, fresh: bool = False) -> RealServer:
    """Install if needed, start if needed, and return the running server's connection settings."""
    return start(state_dir, fresh=fresh)


def stop(state_dir: Path | None = None) -> list[str]:
    """Stop what this harness started from `state_dir`, by the recorded PIDs. Returns the components stopped."""
    layout = _Layout(resolve_state_dir(state_dir))
    with _locked(layout):
        stopped = _stop_all(layout)
        link = _storage_path(layout) if '.' in str(layout.storage) else None
        if link is not None and link.is_symlink():
            link.unlink()
        return stopped


def status(state_dir: Path | str | None = None) -> dict[str, Any]:
    layout = _Layout(resolve_state_dir(state_dir))
    return {
        'state_dir': str(layout.root),
        'installed': is_installed(layout.root),
        'url': _load_server_json(layout).get('url'),
        'components': {name: _running_pid(layout, name) for name in COMPONENTS},
    }


# ---------------------------------------------------------------------------------------------------------------
# CLI


def _exports(server: RealServer) -> str:
    lines = [f"export {name}='{value}'" for name, value in server.env().items()]
    lines.append(f"export SF_CLIENT='{server.sf_client}'")
    return '\n'.join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description='Run the real Shaken Fist 0.7.2 API server on 127.0.0.1.')
    parser.add_argument('action', choices=('install', 'start', 'stop', 'status', 'env'))
    parser.add_argument('--state-dir', type=Path, help=f'default ${STATE_DIR_ENV} or {DEFAULT_STATE_DIR}')
    parser.add_argument('--port', type=int, help='API port for start (default: the previous one if free, else any)')
    parser.add_argument('--fresh', action='store_true', help='start: wipe etcd data and storage first')
    args = parser.parse_args(argv)
    state_dir = resolve_state_dir(args.state_dir)
    try:
        if args.action == 'install':
            install(state_dir)
            _say(f'installed ({state_dir})')
        elif args.action == 'start':
            print(_exports(start(state_dir, port=args.port, fresh=args.fresh)))
        elif args.action == 'stop':
            stopped = stop(state_dir)
            _say(f'stopped {", ".join(stopped)}' if stopped else 'nothing was running')
        elif args.action == 'env':
            server = _running_server(_Layout(state_dir))
            if server is None:
                _say(f'not running (state dir {state_dir}); use: harness.py start')
                return 1
            print(_exports(server))
        else:
            info = status(state_dir)
            running = {name: pid for name, pid in info['components'].items() if pid}
            print(f'state dir: {info["state_dir"]}')
            print(f'installed: {"yes" if info["installed"] else "no"}')
            for name, pid in info['components'].items():
                print(f'{name:9} {"running, pid " + str(pid) if pid else "stopped"}')
            if running:
                print(f'url:       {info["url"]}')
            return 0 if len(running) == len(COMPONENTS) else (3 if not running else 1)
    except HarnessError as e:
        _say(f'error: {e}')
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
