"""`POST /auth`: a bearer token for a namespace and key (later requests are checked by authentication.py)."""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING, Any

from sf_emulator.errors import bad_request, not_found, unauthorized
from sf_emulator.http.router import route
from sf_emulator.models.namespaces import get_namespace
from sf_emulator.security import encode_jwt, verify_secret

if TYPE_CHECKING:
    from sf_emulator.http.request import Request


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
