"""One switch for every test tier and benchmark: the same code runs against the emulator or the real Shaken Fist server.

SF_TEST_BACKEND=emulator (default) starts a private emulator per test session; SF_TEST_BACKEND=real uses the
project's real-server harness (tests/real_server). Tests get a Backend and never care which it is.
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
# Short timings so tests exercise waits without waiting long.
EMULATOR_TEST_ARGS = ('--op-retention', '5')


def emulator_args() -> list[str]:
    """The test emulator's flags: SF_EMULATOR_PROFILE picks its server profile (0.7.2, the emulator's default, or
    latest), and SF_EMULATOR_ARGS adds flags (for example '--op-delay 2', a busy cluster)."""
    profile = os.environ.get('SF_EMULATOR_PROFILE')
    return [*EMULATOR_TEST_ARGS, *(['--server-profile', profile] if profile else []),
            *shlex.split(os.environ.get('SF_EMULATOR_ARGS', ''))]


class BackendError(Exception):
    pass


@dataclass
class Backend:
    kind: str
    url: str
    system_key: str
    emulator: Any = None
    _tokens: dict[str, str] = field(default_factory=dict)

    @property
    def is_emulator(self) -> bool:
        return self.kind == 'emulator'

    def call(self, method: str, path: str, body: Any = None, namespace: str = 'system', key: str | None = None,
             expect: tuple[int, ...] = (200, 202)) -> Any:
        """A raw API call for test set-up and checks (not the code under test)."""
        token = self._token(namespace, key or self.system_key)
        status, payload = http_json(method, self.url + path, body, {'Authorization': f'Bearer {token}'})
        if status == 401 and 401 not in expect:
            # Tokens issued before an injected expire_tokens fault are refused: authenticate again, once.
            self._tokens.pop(f'{namespace}:{key or self.system_key}', None)
            token = self._token(namespace, key or self.system_key)
            status, payload = http_json(method, self.url + path, body, {'Authorization': f'Bearer {token}'})
        if status not in expect:
            raise BackendError(f'{method} {path} answered {status}: {payload}')
        return payload

    def send_bytes(self, path: str, data: bytes, namespace: str = 'system', key: str | None = None) -> Any:
        """POST raw bytes (an upload chunk) and return the decoded answer."""
        token = self._token(namespace, key or self.system_key)
        request = urllib.request.Request(self.url + path, data=data, method='POST', headers={
            'Authorization': f'Bearer {token}', 'Content-Type': 'application/octet-stream'})
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read() or b'null')

    def download(self, path: str, namespace: str = 'system', key: str | None = None) -> Iterator[bytes]:
        """The raw bytes of a GET (blob data), in blocks, for checks that must not trust recorded checksums."""
        token = self._token(namespace, key or self.system_key)
        request = urllib.request.Request(self.url + path, headers={'Authorization': f'Bearer {token}'})
        with urllib.request.urlopen(request, timeout=60) as response:
            while block := response.read(1024 * 1024):
                yield block

    def _token(self, namespace: str, key: str) -> str:
        cache_key = f'{namespace}:{key}'
        if cache_key not in self._tokens:
            status, payload = http_json('POST', self.url + '/auth', {'namespace': namespace, 'key': key})
            if status != 200:
                raise BackendError(f'cannot authenticate as {namespace}: {status} {payload}')
            self._tokens[cache_key] = payload['access_token']
        return self._tokens[cache_key]

    def new_namespace(self, prefix: str = 't') -> tuple[str, str]:
        """A fresh namespace with one key; names are unique because the real server never reuses them."""
        name = f'{prefix}-{secrets.token_hex(4)}'
        key = secrets.token_urlsafe(16)
        self.call('POST', '/auth/namespaces', {'namespace': name, 'key_name': 'test', 'key': key})
        return name, key

    def write_requests_since(self, mark: int) -> list[dict[str, Any]]:
        if not self.is_emulator:
            raise BackendError('only the emulator keeps a request log')
        return [r for r in self.emulator.request_log(since=mark)
                if r['method'] not in ('GET', 'HEAD') and r['path'] != '/auth']

    def request_mark(self) -> int:
        log = self.emulator.request_log() if self.is_emulator else []
        return max((r['id'] for r in log), default=0)


def http_json(method: str, url: str, body: Any = None, headers: dict[str, str] | None = None,
              timeout: float = 30.0) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={'Content-Type': 'application/json', 'Accept': 'application/json',
                                              **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        try:
            return exc.code, json.loads(raw)
        except ValueError:
            return exc.code, raw.decode(errors='replace')


def backend_kind() -> str:
    kind = os.environ.get('SF_TEST_BACKEND', 'emulator')
    if kind not in ('emulator', 'real'):
        raise BackendError(f'SF_TEST_BACKEND must be emulator or real, not {kind!r}')
    return kind


def real_harness() -> Any:
    """The real-server harness (tests/real_server/harness.py, a standard-library script the Makefile also runs)."""
    sys.path.insert(0, str(ROOT / 'tests' / 'real_server'))
    import harness

    return harness


@contextmanager
def running_backend(workdir: Path, kind: str | None = None) -> Iterator[Backend]:
    kind = kind or backend_kind()
    if kind == 'emulator':
        from sf_emulator.testing import EmulatorProcess

        with EmulatorProcess(workdir / 'emulator', extra_args=emulator_args()) as emulator:
            yield Backend('emulator', emulator.url, emulator.system_key, emulator=emulator)
        return
    harness = real_harness()
    available, reason = harness.available()
    if not available:
        raise BackendError(f'the real Shaken Fist server cannot run here: {reason}')
    server = harness.ensure_started()
    yield Backend('real', server.url, server.system_key)
