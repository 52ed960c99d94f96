"""A request's target, path and JSON body, read the way the real server reads them."""

from __future__ import annotations

import json
import math
from typing import Any
from urllib.parse import unquote_to_bytes, urlsplit

from sf_emulator.errors import bad_request

# JSON bodies nest no deeper than this (the API's own are 2-3 levels; metadata values may add a few): deeper is a
# 400, not a RecursionError or a value that later cannot be serialised.
MAX_JSON_DEPTH = 64
INT64 = (-2 ** 63, 2 ** 63 - 1)


def split_target(target: str) -> tuple[str, str]:
    """(raw path, raw query) of a request target. Not urlsplit: `//artifacts/x` is a path, not a host."""
    if not target.startswith('/'):
        split = urlsplit(target)  # absolute form: http://host/path?query
        return split.path, split.query
    path, _sep, query = target.partition('?')
    return path.partition('#')[0], query.partition('#')[0]


def decode_path(raw: str) -> str:
    """The path the real server routes on: gunicorn percent-decodes PATH_INFO to bytes (`+` stays `+`, `%zz` and
    a lone `%` stay as they are), Werkzeug reads those bytes as UTF-8 with U+FFFD for invalid ones and drops
    extra leading slashes. So `%2F` is a `/` before routing."""
    decoded = unquote_to_bytes(raw.encode('latin-1')).decode('utf-8', 'replace')
    return '/' + decoded.lstrip('/')


def json_depth(value: Any) -> int:
    """How deeply lists and objects nest in a parsed JSON value (iterative: no recursion limit to hit)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        elif not isinstance(item, list):
            continue
        deepest = max(deepest, depth)
        if depth <= MAX_JSON_DEPTH:
            stack.extend((child, depth + 1) for child in item)
    return deepest


def value_problem(value: Any) -> str | None:
    """What in a parsed JSON value could not be stored as sent (a 400 then, never a 500 from SQLite or int()): a
    string with a lone surrogate (not Unicode), an integer beyond 64 bits, a number beyond a float (1e400)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str):
            try:
                item.encode('utf-8')
            except UnicodeEncodeError:
                return 'has a string that is not valid Unicode (a lone surrogate)'
        elif isinstance(item, bool):
            continue
        elif isinstance(item, int) and not INT64[0] <= item <= INT64[1]:
            return f'has an integer beyond 64 bits ({str(item)[:24]}...)'
        elif isinstance(item, float) and not math.isfinite(item):
            return 'has a number too large for a float (or NaN, or Infinity)'
    return None


def parse_json_body(raw: bytes) -> dict[str, Any]:
    """A JSON request body as keyword arguments: empty or `null` is none; anything but an object is a 400."""
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise bad_request('the request body is not valid JSON') from None
    except RecursionError:
        body = None
        depth = MAX_JSON_DEPTH + 1
    else:
        depth = json_depth(body)
    if depth > MAX_JSON_DEPTH:
        raise bad_request(f'the request body nests deeper than {MAX_JSON_DEPTH} levels')
    problem = value_problem(body)
    if problem:
        raise bad_request(f'the request body {problem}')
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise bad_request('the request body must be a JSON object')
    return body
