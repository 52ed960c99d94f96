"""A tiny HTTP client for route-level tests: authenticates lazily, returns (status, parsed body)."""

from __future__ import annotations

import secrets
from typing import Any

import requests


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
