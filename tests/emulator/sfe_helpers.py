"""A tiny HTTP client for route-level tests: authenticates lazily, returns (status, parsed body)."""

from __future__ import annotations

import http.client
import secrets
import socket
import time
from pathlib import Path
from typing import Any

import requests


def marked_profile(node: Any) -> str | None:
    """The server profile a test (a pytest item or node) is marked with, `@pytest.mark.server_profile('latest')`;
    None: the emulator's default."""
    marker = node.get_closest_marker('server_profile')
    return None if marker is None else str(marker.args[0])


def unique(prefix: str) -> str:
    """A fresh name: the real server can never reuse a deleted namespace name."""
    return f'{prefix}-{secrets.token_hex(4)}'


class Api:
    def __init__(self, url: str, namespace: str, key: str) -> None:
        self.url = url
        self.namespace = namespace
        self.key = key
        self.session = requests.Session()
        self.session.headers['Accept'] = 'application/json'
        self.token: str | None = None

    def login(self) -> str:
        answer = self.session.post(self.url + '/auth', json={'namespace': self.namespace, 'key': self.key})
        assert answer.status_code == 200, answer.text
        self.token = answer.json()['access_token']
        return self.token

    def call(self, method: str, path: str, body: Any = None, **kwargs: Any) -> requests.Response:
        if self.token is None:
            self.login()
        headers = {'Authorization': f'Bearer {self.token}'}
        headers.update(kwargs.pop('headers', {}))
        if body is not None:
            kwargs['json'] = body
        return self.session.request(method, self.url + path, headers=headers, **kwargs)

    def ok(self, method: str, path: str, body: Any = None, **kwargs: Any) -> Any:
        """Call and insist on 200/202; return the parsed JSON."""
        answer = self.call(method, path, body, **kwargs)
        assert answer.status_code in (200, 202), f'{method} {path}: {answer.status_code} {answer.text}'
        return answer.json()

    def error(self, method: str, path: str, body: Any = None, **kwargs: Any) -> tuple[int, Any]:
        """Call and return (status, error message), checking the server's error shape."""
        answer = self.call(method, path, body, **kwargs)
        payload = answer.json()
        assert isinstance(payload, dict) and set(payload) >= {'error', 'status'}, answer.text
        assert payload['status'] == answer.status_code
        return answer.status_code, payload['error']

    def upload_bytes(self, name: str, data: bytes, namespace: str | None = None) -> dict[str, Any]:
        upload = self.ok('POST', '/upload')
        size = self.ok('POST', f'/upload/{upload["uuid"]}', data=data,
                       headers={'Content-Type': 'application/octet-stream'})
        assert size == len(data)
        body: dict[str, Any] = {'upload_uuid': upload['uuid']}
        if namespace:
            body['namespace'] = namespace
        return self.ok('POST', f'/artifacts/upload/{name}', body)


def make_namespace(system: Api, prefix: str = 'ns') -> Api:
    """Create a fresh namespace with one key and return a client logged into it."""
    name = unique(prefix)
    key = secrets.token_urlsafe(12)
    system.ok('POST', '/auth/namespaces', {'namespace': name, 'key_name': 'main', 'key': key})
    return Api(system.url, name, key)


def process_status(pid: int) -> tuple[int, int]:
    """(resident MiB, threads) of a process."""
    fields = dict(line.split(':', 1) for line in Path(f'/proc/{pid}/status').read_text().splitlines())
    return int(fields['VmRSS'].split()[0]) // 1024, int(fields['Threads'])


def get_raw(sf: Any, path: str = '/livez') -> tuple[int, dict[str, str], bytes]:
    """One GET on a fresh connection to an EmulatorProcess: (status, headers, body)."""
    with socket.create_connection(('127.0.0.1', sf.port), timeout=10) as sock:
        sock.sendall(f'GET {path} HTTP/1.1\r\nHost: x\r\n\r\n'.encode())
        answer = http.client.HTTPResponse(sock)
        answer.begin()
        return answer.status, dict(answer.getheaders()), answer.read()


def wait_until_ok(sf: Any, timeout: float = 5) -> float:
    """Poll GET /livez until it answers 200; return the seconds that took."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if get_raw(sf)[0] == 200:
            return time.monotonic() - started
        time.sleep(0.05)
    raise AssertionError('the emulator did not answer 200 again')
