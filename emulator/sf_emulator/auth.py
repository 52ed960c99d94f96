"""`POST /auth` and bearer-token checks on every other request."""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING, Any

from sf_emulator.errors import ApiError, bad_request, not_found, unauthorized
from sf_emulator.namespaces_model import get_namespace
from sf_emulator.router import route
from sf_emulator.security import InvalidToken, decode_jwt, encode_jwt, verify_secret

if TYPE_CHECKING:
    from sf_emulator.server import Request


@route('POST', '/auth', public=True)
def post_auth(req: Request, namespace: Any = None, key: Any = None) -> dict[str, Any]:
    if not namespace:
        raise bad_request('missing namespace in request')
    if key is None:
        raise bad_request('missing key in request')
    if not isinstance(key, str):
        raise bad_request('key is not a string')
    if not isinstance(namespace, str):
        raise not_found('namespace not found')
    now = time.time()
    with req.db.read() as tx:
        if get_namespace(tx, namespace) is None:
            raise not_found('namespace not found')
        keys = tx.all('SELECT name, hash, nonce, expiry FROM namespace_keys WHERE namespace = ?', (namespace,))
    for row in keys:
        if row['expiry'] is not None and row['expiry'] <= now:
            continue
        if verify_secret(key, row['hash']):
            duration = int(req.config['token_duration'])
            claims = {
                'sub': f'{namespace}:{row["name"]}',
                'iat': int(now),
                'nbf': int(now),
                'exp': int(now) + duration,
                'jti': str(uuid.uuid4()),
                'type': 'access',
                'fresh': False,
                'iss': req.config['node_name'],
                'nonce': row['nonce'],
                'issued': now,  # sub-second issue time, so an expire_tokens fault spares tokens issued after it
            }
            token = encode_jwt(claims, req.app.jwt_secret)
            return {'access_token': token, 'token_type': 'Bearer', 'expires_in': duration}
    raise unauthorized()


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
