"""Start and stop an emulator in a subprocess, for test suites (this project's and anyone's).

    with EmulatorProcess(tmp_path / 'sf') as sf:
        requests.get(sf.url + '/')
        sf.add_fault(kind='fail', method='POST', path='^/upload/', count=2, status=503)

The process listens on 127.0.0.1 only and is stopped by its PID (SIGTERM, then SIGKILL).
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
# Requests made by this helper carry this User-Agent, so tests counting requests can leave them out.
USER_AGENT = 'sf-emulator-testing'
# The system key reaches the process in its environment: on the command line every local user could read it.
SYSTEM_KEY_ENV = 'SF_EMULATOR_SYSTEM_KEY'


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(('127.0.0.1', 0))
        return int(sock.getsockname()[1])


class EmulatorProcess:
    def __init__(
        self,
        data_dir: Path,
        *,
        port: int | None = None,
        system_key: str | None = None,
        extra_args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self._fixed_port = port
        self.port = port or 0
        self.system_key = system_key or secrets.token_urlsafe(18)
        self.extra_args = list(extra_args)
        self.env = dict(env or {})  # added to this process's environment for the child (e.g. SF_EMULATOR_PAUSE_AT)
        self.url = ''
        self.pid: int | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._token: str | None = None
        self.log_path = self.data_dir / 'emulator.log'  # stdout and stderr of the process, appended

    # --- lifecycle ----------------------------------------------------------------------------------------------
    def start(self) -> EmulatorProcess:
        if self._process is not None:
            raise RuntimeError('emulator already started')
        self.data_dir.mkdir(parents=True, exist_ok=True)
        attempts = 1 if self._fixed_port else 5
        for attempt in range(attempts):
            self.port = self._fixed_port or free_port()
            try:
                self._spawn()
                return self
            except RuntimeError:
                # A free port can be taken by someone else between picking it and binding it: try another.
                if attempt == attempts - 1 or 'cannot listen' not in self.log_tail():
                    raise
        return self

    def _spawn(self) -> None:
        self.url = f'http://127.0.0.1:{self.port}'
        command = [
            sys.executable, '-m', 'sf_emulator', 'serve',
            '--host', '127.0.0.1', '--port', str(self.port),
            '--data-dir', str(self.data_dir), *self.extra_args,
        ]
        log = open(self.log_path, 'ab')  # noqa: SIM115 - the child keeps writing to it
        try:
            self._process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                             env={**os.environ, **self.env, SYSTEM_KEY_ENV: self.system_key})
        finally:
            log.close()
        self.pid = self._process.pid
        self._token = None
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                code = self._process.returncode
                self._process, self.pid = None, None
                raise RuntimeError(f'emulator exited with status {code} while starting:\n{self.log_tail()}')
            try:
                with urllib.request.urlopen(self.url + '/readyz', timeout=2) as answer:
                    if answer.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f'emulator did not become ready within {START_TIMEOUT}s:\n{self.log_tail()}')

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            os.kill(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.kill(process.pid, signal.SIGKILL)
                process.wait(timeout=STOP_TIMEOUT)
        self.pid = None
        self._token = None

    def kill(self) -> None:
        """SIGKILL the process (a crash: nothing is flushed or cleaned up) and wait for it to be gone."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=STOP_TIMEOUT)
        self.pid = None
        self._token = None

    def restart(self) -> None:
        """Stop and start again on the same port and data dir (state must survive)."""
        self.stop()
        fixed, self._fixed_port = self._fixed_port, self.port
        try:
            self.start()
        finally:
            self._fixed_port = fixed

    def __enter__(self) -> EmulatorProcess:
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors='replace')
        except OSError:
            return ''
        return '\n'.join(text.splitlines()[-lines:])

    # --- emulator admin API -------------------------------------------------------------------------------------
    def _call(self, method: str, path: str, body: Any = None, retry: bool = True) -> Any:
        if self._token is None:
            self._token = self._post_json('/auth', {'namespace': 'system', 'key': self.system_key})['access_token']
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header('Authorization', f'Bearer {self._token}')
        request.add_header('User-Agent', USER_AGENT)
        request.add_header('Accept', 'application/json')
        request.add_header('Content-Type', 'application/json')
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                return json.loads(answer.read() or b'null')
        except urllib.error.HTTPError as exc:
            if exc.code == 401 and retry:  # e.g. after an expire_tokens fault
                self._token = None
                return self._call(method, path, body, retry=False)
            raise RuntimeError(f'{method} {path}: {exc.code} {exc.read().decode(errors="replace")}') from None

    def _post_json(self, path: str, body: Any) -> Any:
        request = urllib.request.Request(self.url + path, data=json.dumps(body).encode(), method='POST')
        request.add_header('User-Agent', USER_AGENT)
        request.add_header('Accept', 'application/json')
        with urllib.request.urlopen(request, timeout=30) as answer:
            return json.loads(answer.read())

    def request_log(self, since: int = 0) -> list[dict[str, Any]]:
        return list(self._call('GET', f'/_emulator/requests?since={int(since)}'))

    def clear_request_log(self) -> None:
        self._call('DELETE', '/_emulator/requests')

    def add_fault(self, **spec: Any) -> dict[str, Any]:
        return dict(self._call('POST', '/_emulator/faults', spec))

    def clear_faults(self) -> None:
        self._call('DELETE', '/_emulator/faults')

    def set_config(self, **values: Any) -> dict[str, Any]:
        return dict(self._call('POST', '/_emulator/config', values))
