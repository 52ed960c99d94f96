"""The metadata routes of every noun, from one factory: GET and POST `<object>/metadata`, PUT and DELETE
`<object>/metadata/<key>`.

A noun gives the path of one object, its table in the metadata store and how a request finds the object (its
ownership or visibility rules and their 404s); the rest (transactions, order of checks, answers) is the same for
every noun. What differs between nouns is a parameter here, so a difference between server versions can be too.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sf_emulator.http.router import route
from sf_emulator.models import metadata

if TYPE_CHECKING:
    from sf_emulator.db import Tx
    from sf_emulator.http.request import Request
    from sf_emulator.profiles import ServerProfile

# find(req, tx, ref, **extra) -> the object's key in its table, or raise the noun's ApiError (404, ...).
Finder = Callable[..., str]
# check(profile, key, value): raise the noun's ApiError for a value its rules refuse.
Checker = Callable[['ServerProfile', Any, Any], None]
_SEGMENT = re.compile(r'<(?:\w+:)?(\w+)>')


def metadata_routes(
    path: str,
    table: str,
    find: Finder,
    *,
    extra: tuple[str, ...] = (),
    name: str = 'metadata',
    missing_key: str = 'metadata key not found',
    check: Checker | None = None,
) -> None:
    """Register the four metadata routes of the objects at `path` ('/networks/<network_ref>': it ends with the
    object's reference). `extra`: optional API parameters that `find` takes besides the reference (artifacts:
    `namespace`). `name`: the handlers are get_<name>, post_<name>, put_<name> and delete_<name>, a name the 400
    for an unexpected body key shows. `missing_key`: the 404 message of DELETE for a key that is not there.
    `check(profile, key, value)`: the noun's own rules for a value (instances: tags and affinity), after the common
    ones.
    """
    if not path.endswith('>'):
        raise ValueError(f'{path} does not end with the object reference')
    ref = _SEGMENT.findall(path)[-1]

    def lookup(req: Request, tx: Tx, params: dict[str, Any]) -> str:
        return find(req, tx, params[ref], **{k: params.get(k) for k in extra})

    def get_all(req: Request, **params: Any) -> dict[str, Any]:
        with req.db.read() as tx:
            return metadata.get_all(tx, table, lookup(req, tx, params))

    def set_one(req: Request, **params: Any) -> None:
        profile = req.app.profile
        with req.db.write() as tx:
            ident = lookup(req, tx, params)
            metadata.check_item(profile, params.get('key'), params.get('value'))
            if check is not None:
                check(profile, params.get('key'), params.get('value'))
            metadata.set_item(tx, profile, table, ident, params.get('key'), params.get('value'))

    def delete_one(req: Request, **params: Any) -> None:
        with req.db.write() as tx:
            metadata.delete_item(tx, req.app.profile, table, lookup(req, tx, params), params['key'], missing_key)

    _register('GET', f'{path}/metadata', get_all, f'get_{name}', [ref, *extra])
    _register('POST', f'{path}/metadata', set_one, f'post_{name}', [ref, 'key', 'value', *extra])
    _register('PUT', f'{path}/metadata/<key>', set_one, f'put_{name}', [ref, 'key', 'value', *extra])
    _register('DELETE', f'{path}/metadata/<key>', delete_one, f'delete_{name}', [ref, 'key', *extra])


def _register(method: str, pattern: str, handler: Callable[..., Any], name: str, params: list[str]) -> None:
    """Route a copy of `handler` with its own name and signature: the router reads both (which body keys the
    handler takes, and its name in the 400 for any other key). Path segments are required, the rest default to
    None."""

    def named(req: Request, **values: Any) -> Any:
        return handler(req, **values)

    segments = set(_SEGMENT.findall(pattern))
    kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
    named.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter('req', kind)]
        + [inspect.Parameter(p, kind) if p in segments else inspect.Parameter(p, kind, default=None) for p in params]
    )
    named.__name__ = named.__qualname__ = name
    route(method, pattern)(named)
