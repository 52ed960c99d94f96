"""HS256 JSON Web Tokens (hmac) and salted key hashes (pbkdf2), stdlib only."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from typing import Any

_PBKDF2_ROUNDS = 20_000


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b'=').decode('ascii')


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + '=' * (-len(text) % 4))


class InvalidToken(Exception):
    """The token is malformed, badly signed or expired."""


def encode_jwt(claims: dict[str, Any], secret: bytes) -> str:
    header = _b64encode(json.dumps({'alg': 'HS256', 'typ': 'JWT'}, separators=(',', ':')).encode())
    payload = _b64encode(json.dumps(claims, separators=(',', ':')).encode())
    signing_input = f'{header}.{payload}'.encode('ascii')
    signature = _b64encode(hmac.new(secret, signing_input, hashlib.sha256).digest())
    return f'{header}.{payload}.{signature}'


def decode_jwt(token: str, secret: bytes, now: float) -> dict[str, Any]:
    try:
        header_b64, payload_b64, signature_b64 = token.split('.')
        header = json.loads(_b64decode(header_b64))
        expected = hmac.new(secret, f'{header_b64}.{payload_b64}'.encode('ascii'), hashlib.sha256).digest()
        signature = _b64decode(signature_b64)
        claims = json.loads(_b64decode(payload_b64))
    except (ValueError, UnicodeError) as exc:
        raise InvalidToken(f'malformed token: {exc}') from None
    if not isinstance(header, dict) or header.get('alg') != 'HS256':
        raise InvalidToken('unsupported token algorithm')
    if not hmac.compare_digest(expected, signature):
        raise InvalidToken('bad token signature')
    if not isinstance(claims, dict):
        raise InvalidToken('malformed token claims')
    exp = claims.get('exp')
    if not isinstance(exp, (int, float)) or exp <= now:
        raise InvalidToken('token has expired')
    return claims


def hash_secret(secret: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac('sha256', secret.encode('utf-8'), salt, _PBKDF2_ROUNDS)
    return f'pbkdf2_sha256${_PBKDF2_ROUNDS}${salt.hex()}${digest.hex()}'


def verify_secret(secret: str, stored: str) -> bool:
    try:
        _scheme, rounds, salt_hex, digest_hex = stored.split('$')
        digest = hashlib.pbkdf2_hmac('sha256', secret.encode('utf-8'), bytes.fromhex(salt_hex), int(rounds))
    except ValueError:
        return False
    return hmac.compare_digest(digest.hex(), digest_hex)


def new_nonce() -> str:
    return secrets.token_hex(16)


def generated_key_secret() -> str:
    """A cluster-generated key secret: `sfk_` prefix (reserved for these), fits the 72-character limit."""
    return 'sfk_' + secrets.token_urlsafe(32)
