"""A small decorator-based router: method + path pattern with typed segments.

    @route('GET', '/artifacts/<ref>')
    def get_artifact(req: Request, ref: str, namespace: str | None = None) -> Any: ...

Segment types: `<name>` or `<str:name>` (one segment), `<int:name>` (optionally signed integer, passed as int),
`<path:name>` (the rest, slashes included). Handlers receive path parameters, query parameters and JSON body keys
as keyword arguments (body wins over query; a body key named like a path parameter overrides it, as the real
server does). A body key the handler does not accept is a 400 with a TypeError-like message.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

_SEGMENT = re.compile(r'<(?:(str|int|path):)?([a-zA-Z_][a-zA-Z0-9_]*)>')
_CONVERTERS = {'str': r'[^/]+', 'int': r'-?[0-9]+', 'path': r'.+'}


@dataclass
class Route:
    method: str
    pattern: str
    handler: Callable[..., Any]
    public: bool = False
    admin: bool = False
    raw_body: bool = False
    emulator_only: bool = False
    regex: re.Pattern[str] = field(init=False)
    converters: dict[str, str] = field(init=False)
    accepts: frozenset[str] = field(init=False)
    accepts_any: bool = field(init=False)

    def __post_init__(self) -> None:
        self.converters = {}
        parts, pos = [], 0
        for match in _SEGMENT.finditer(self.pattern):
            parts.append(re.escape(self.pattern[pos:match.start()]))
            kind, name = match.group(1) or 'str', match.group(2)
            self.converters[name] = kind
            parts.append(f'(?P<{name}>{_CONVERTERS[kind]})')
            pos = match.end()
        parts.append(re.escape(self.pattern[pos:]))
        self.regex = re.compile('^' + ''.join(parts) + '$')
        params = list(inspect.signature(self.handler).parameters.values())[1:]  # skip `req`
        self.accepts_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params)
        self.accepts = frozenset(p.name for p in params if p.kind is not inspect.Parameter.VAR_KEYWORD)
        missing = set(self.converters) - self.accepts
        if missing and not self.accepts_any:
            raise TypeError(f'{self.handler.__name__} does not accept path parameters {sorted(missing)}')

    def match(self, path: str) -> dict[str, Any] | None:
        found = self.regex.match(path)
        if found is None:
            return None
        values: dict[str, Any] = {}
        for name, text in found.groupdict().items():
            values[name] = int(text) if self.converters[name] == 'int' else text
        return values

    def unexpected_keys(self, keys: list[str]) -> list[str]:
        return [] if self.accepts_any else [k for k in keys if k not in self.accepts]


class Router:
    def __init__(self) -> None:
        self.routes: list[Route] = []

    def add(self, route: Route) -> None:
        for existing in self.routes:
            if existing.method == route.method and existing.pattern == route.pattern:
                raise ValueError(f'duplicate route {route.method} {route.pattern}')
        self.routes.append(route)

    def resolve(self, method: str, path: str) -> tuple[Route | None, dict[str, Any], bool]:
        """Return (route, path params, path_known); path_known without a route means 405."""
        path_known = False
        for candidate in self.routes:
            params = candidate.match(path)
            if params is None:
                continue
            if candidate.method == method or (method == 'HEAD' and candidate.method == 'GET'):
                return candidate, params, True
            path_known = True
        return None, {}, path_known


# The process-wide router every domain module registers into at import time.
ROUTER = Router()


def route(
    method: str,
    pattern: str,
    *,
    public: bool = False,
    admin: bool = False,
    raw_body: bool = False,
    emulator_only: bool = False,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register `handler(req, **params)` for `method pattern`.

    public: no token needed. admin: the caller must be the `system` namespace (401 otherwise, like the server).
    raw_body: the body is not parsed as JSON; the handler reads `req.body` (a stream) itself.
    emulator_only: an `/_emulator/` route: system only, never subject to fault injection.
    """

    def register(handler: Callable[..., Any]) -> Callable[..., Any]:
        ROUTER.add(Route(method.upper(), pattern, handler, public, admin, raw_body, emulator_only))
        return handler

    return register
