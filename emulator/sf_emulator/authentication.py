"""Bearer-token checks on every request but the public ones (tokens come from `POST /auth`, in routes/auth.py)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from sf_emulator.errors import ApiError, unauthorized
from sf_emulator.models.namespaces import get_namespace
from sf_emulator.security import InvalidToken, decode_jwt

if TYPE_CHECKING:
    from sf_emulator.http.request import Request


def _browser(req: Request) -> bool:
    accept = req.headers.get('Accept')
    return accept is None or 'text/html' in accept


def authenticate(req: Request) -> None:
    """Set req.namespace/key_name from a valid bearer token, or raise 401 (302 to / for browsers)."""
    header = req.headers.get('Authorization', '')
    if not header.startswith('Bearer '):
        raise unauthorized('missing or malformed Authorization header')
    token = header[len('Bearer '):].strip()
    try:
        claims = decode_jwt(token, req.app.jwt_secret, time.time())
    except InvalidToken as exc:
        if _browser(req):
            raise ApiError(302, str(exc)) from None
        raise unauthorized(str(exc)) from None
    if claims.get('issued', claims.get('iat', 0)) < req.app.faults.tokens_not_before:
        if _browser(req):
            raise ApiError(302, 'token has expired')
        raise unauthorized('token has expired')
    subject = claims.get('sub')
    if not isinstance(subject, str) or ':' not in subject:
        raise unauthorized('malformed token identity')
    namespace, key_name = subject.split(':', 1)
    with req.db.read() as tx:
        if get_namespace(tx, namespace) is None:
            raise unauthorized('namespace not found')
        key = tx.one('SELECT nonce, expiry FROM namespace_keys WHERE namespace = ? AND name = ?',
                     (namespace, key_name))
    if key is None or key['nonce'] != claims.get('nonce'):
        raise unauthorized('key has been deleted or replaced')
    if key['expiry'] is not None and key['expiry'] <= time.time():
        raise unauthorized('key has expired')
    req.namespace = namespace
    req.key_name = key_name
