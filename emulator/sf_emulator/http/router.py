"""A small decorator-based router: method + path pattern with typed segments.

    @route('GET', '/artifacts/<ref>')
    def get_artifact(req: Request, ref: str, namespace: str | None = None) -> Any: ...

Segment types, with Werkzeug's default converter rules: `<name>` or `<str:name>` (one non-empty segment),
`<int:name>` (unsigned digits only, passed as int: `-1` does not match, so it is a 404 like any unrouted path),
`<path:name>` (the rest, slashes included, but not starting with a slash). Paths arrive percent-decoded
(`parsing.decode_path`). Handlers receive path parameters, query parameters and JSON body keys as keyword
arguments (body wins over query; a body key named like a path parameter overrides it, as the real server does).
A body key the handler does not accept is a 400 with a TypeError-like message.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

_SEGMENT = re.compile(r'<(?:(str|int|path):)?([a-zA-Z_][a-zA-Z0-9_]*)>')
_CONVERTERS = {'str': r'[^/]+', 'int': r'\d+', 'path': r'[^/].*'}
# Werkzeug retries an unmatched path with each run of two slashes merged (a lazy `/{2,}?`, so `///` becomes `//`)
# and redirects when that finds the route.
_DOUBLE_SLASH = re.compile('/{2,}?')
Served = Callable[[str, dict[str, Any]], bool]


@dataclass
class Route:
    method: str
    pattern: str
    handler: Callable[..., Any]
    public: bool = False
    admin: bool = False
    raw_body: bool = False
    emulator_only: bool = False
    health_check: bool = False
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

    @property
    def key(self) -> str:
        """`METHOD pattern`: how server profiles name a route."""
        return f'{self.method} {self.pattern}'

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
        self.health_paths: frozenset[str] = frozenset()  # the paths of `health_check` routes

    def add(self, route: Route) -> None:
        for existing in self.routes:
            if existing.method == route.method and existing.pattern == route.pattern:
                raise ValueError(f'duplicate route {route.method} {route.pattern}')
        if route.health_check:
            if route.method != 'GET' or not route.public or route.converters:
                raise ValueError(f'health check {route.method} {route.pattern} must be a public GET of a fixed path')
            self.health_paths |= {route.pattern}
        self.routes.append(route)

    def resolve(self, method: str, path: str, emulator_routes: bool = True, served: Served | None = None) -> Resolution:
        """Match as Werkzeug's router does: the path as given, then with double slashes merged (a redirect).

        OPTIONS matches every route of a path (Flask answers it itself): the result then has no route, only
        `allowed`. Without `emulator_routes`, the `/_emulator/` routes do not exist (`--no-admin-routes`).
        `served(route key, params)`: whether the server being emulated has that route at all (else it is no route).
        """
        found = self._match(method, path, emulator_routes, served)
        if found.route is not None or (method == 'OPTIONS' and found.allowed):
            return found
        merged = _DOUBLE_SLASH.sub('/', path)
        if merged == path:
            return found
        retry = self._match(method, merged, emulator_routes, served)
        if retry.route is not None or (method == 'OPTIONS' and retry.allowed):
            return Resolution(redirect=merged)
        if not found.allowed and retry.allowed:
            # The 405 handler of flask-restful matches again with an allowed method, meets the redirect and fails.
            return Resolution(allowed=retry.allowed, broken_405=True)
        return Resolution(allowed=found.allowed | retry.allowed)

    def _match(self, method: str, path: str, emulator_routes: bool, served: Served | None) -> Resolution:
        allowed: set[str] = set()
        for candidate in self.routes:
            if candidate.emulator_only and not emulator_routes:
                continue
            params = candidate.match(path)
            if params is None or (served is not None and not served(candidate.key, params)):
                continue
            if candidate.method == method or (method == 'HEAD' and candidate.method == 'GET'):
                return Resolution(candidate, params)
            allowed.add(candidate.method)
        if allowed:
            # Flask adds HEAD to every GET rule and OPTIONS (answered by Flask itself) to every rule.
            allowed |= {'OPTIONS', 'HEAD'} if 'GET' in allowed else {'OPTIONS'}
        return Resolution(allowed=frozenset(allowed))


@dataclass(frozen=True)
class Resolution:
    """Where a request goes: a route, or no route and the methods the path allows (405; none: 404), or a redirect."""

    route: Route | None = None
    params: dict[str, Any] = field(default_factory=dict)
    allowed: frozenset[str] = frozenset()
    redirect: str | None = None  # the merged path to send a 308 to
    broken_405: bool = False  # flask-restful crashes on this 405: gunicorn answers its own 500 page


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
    health_check: bool = False,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register `handler(req, **params)` for `method pattern`.

    public: no token needed. admin: the caller must be the `system` namespace (401 otherwise, like the server).
    raw_body: the body is not parsed as JSON; the handler reads `req.body` (a stream) itself.
    emulator_only: an `/_emulator/` route: system only, never subject to fault injection.
    health_check: a public GET of a fixed path that is answered on threads of its own, so it answers while every
    request thread is busy (health_lane.py).
    """

    def register(handler: Callable[..., Any]) -> Callable[..., Any]:
        ROUTER.add(Route(method.upper(), pattern, handler, public, admin, raw_body, emulator_only, health_check))
        return handler

    return register
