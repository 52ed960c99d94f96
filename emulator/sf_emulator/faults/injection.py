"""Fault injection for reliability tests (set by `POST /_emulator/faults` or `--fault JSON`).

Kinds (every kind but `expire_tokens` matches requests by `method` (default any) and `path` (a regex searched in
the path, default any) and applies to the next `count` matching requests (default 1; null means for ever)):
  fail           answer `status` (default 503) with `message` (default 'injected fault'), without handling it.
  fail_after     handle the request (whatever it changes stays changed), then answer `status` (default 500) with
                 `message` instead of the real answer: a server that fails after doing the work.
  not_ready      answer 406 with `message` (default 'instance is not ready (injected)'), like a server still busy.
  drop           read `after_bytes` bytes of the request body (default 0), then drop the connection unanswered and
                 unhandled; a body shorter than `after_bytes` is read to its end, then dropped.
  latency        sleep `seconds` before handling the request.
  cut            answer a file (blob data) with its full Content-Length, but send only `after_bytes` of the body,
                 wait `seconds`, then drop the connection: a download that breaks off midway.
  expire_tokens  every token issued so far is rejected from now on (clients must re-authenticate).
"""

from __future__ import annotations

import itertools
import re
import threading
import time
from dataclasses import dataclass
from typing import Any

# One line each, for `sf-emulator --help` and the README (the module docstring says the same at more length).
KIND_HELP = {
    'fail': 'answer `status` (default 503) with `message`, without handling the request',
    'fail_after': 'handle the request, then answer `status` (default 500) instead of the real answer',
    'not_ready': 'answer 406, like a server still busy with the object',
    'drop': 'read `after_bytes` of the body (at most all of it), then close the connection unanswered',
    'latency': 'wait `seconds` before handling the request',
    'cut': 'answer blob data with its full length but send only `after_bytes`, wait `seconds`, then drop',
    'expire_tokens': 'reject every token issued so far (clients must authenticate again)',
}
KINDS = tuple(KIND_HELP)


@dataclass
class Fault:
    id: int
    kind: str
    method: str | None
    path: re.Pattern[str] | None
    remaining: int | None
    status: int
    message: str
    after_bytes: int
    seconds: float

    def matches(self, method: str, path: str) -> bool:
        if self.method and self.method != method:
            return False
        return self.path is None or self.path.search(path) is not None

    def view(self) -> dict[str, Any]:
        return {
            'id': self.id,
            'kind': self.kind,
            'method': self.method,
            'path': self.path.pattern if self.path else None,
            'count': self.remaining,
            'status': self.status,
            'message': self.message,
            'after_bytes': self.after_bytes,
            'seconds': self.seconds,
        }


def _number(spec: dict[str, Any], key: str, default: Any, kind: type) -> Any:
    value = spec.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ValueError(f'{key} must be a non-negative number')
    return kind(value)


class Faults:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._ids = itertools.count(1)
        self.tokens_not_before = 0.0

    def add(self, spec: dict[str, Any]) -> dict[str, Any]:
        """Validate and store a fault; raises ValueError with a message fit for a 400."""
        allowed = {'kind', 'method', 'path', 'count', 'status', 'message', 'after_bytes', 'seconds'}
        unknown = sorted(set(spec) - allowed)
        if unknown:
            raise ValueError(f'unknown fault fields {unknown}')
        kind = spec.get('kind')
        if kind not in KINDS:
            raise ValueError(f'kind must be one of {", ".join(KINDS)}')
        if kind == 'expire_tokens':
            self.tokens_not_before = time.time()
            return {'kind': kind, 'tokens_not_before': self.tokens_not_before}
        method = spec.get('method')
        if method is not None and not isinstance(method, str):
            raise ValueError('method must be a string')
        path = spec.get('path')
        try:
            compiled = re.compile(path) if path else None
        except (re.error, TypeError) as exc:
            raise ValueError(f'path is not a valid regular expression: {exc}') from None
        default_status = {'not_ready': 406, 'fail_after': 500}.get(kind, 503)
        status = _number(spec, 'status', default_status, int)
        if status is None or not 400 <= status <= 599:
            raise ValueError('status must be between 400 and 599')
        default_message = 'instance is not ready (injected)' if kind == 'not_ready' else 'injected fault'
        message = spec.get('message', default_message)
        if not isinstance(message, str):
            raise ValueError('message must be a string')
        fault = Fault(
            id=next(self._ids),
            kind=kind,
            method=method.upper() if method else None,
            path=compiled,
            remaining=_number(spec, 'count', 1, int),
            status=406 if kind == 'not_ready' else status,
            message=message,
            after_bytes=_number(spec, 'after_bytes', 0, int) or 0,
            seconds=_number(spec, 'seconds', 0.0, float) or 0.0,
        )
        with self._lock:
            self._faults.append(fault)
        return fault.view()

    def take(self, method: str, path: str) -> list[Fault]:
        """The faults that apply to this request, each consuming one of its `count`."""
        taken = []
        with self._lock:
            for fault in list(self._faults):
                if not fault.matches(method, path):
                    continue
                taken.append(fault)
                if fault.remaining is not None:
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._faults.remove(fault)
        return taken

    def list(self) -> list[dict[str, Any]]:
        with self._lock:
            return [f.view() for f in self._faults]

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()
        self.tokens_not_before = 0.0
