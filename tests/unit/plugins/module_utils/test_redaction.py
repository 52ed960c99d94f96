"""Redaction that cannot be dodged: a key a server echoes JSON-escaped, percent-encoded, or cut short is still
hidden (issue 18, point 4); ordinary text is left alone."""

from __future__ import annotations

import json
import re
from urllib.parse import quote, quote_plus

import pytest

from ansible_collections.shakenfist.storage.plugins.module_utils._redaction import REDACTED, redact

KEYS = ['plain-key-0123456789ab', 'quote"and\\backslash-key', 'non-ascii-clé-ключ-鍵-key', 'space and+plus/slash=key']


@pytest.mark.parametrize('key', KEYS)
@pytest.mark.parametrize('encode', [
    lambda k: k, lambda k: json.dumps(k)[1:-1], lambda k: json.dumps(k, ensure_ascii=False)[1:-1],
    lambda k: re.sub(r'(?<=\\u)[0-9a-f]{4}', lambda m: m.group(0).upper(), json.dumps(k)[1:-1]),
    lambda k: quote(k, safe=''),
    lambda k: quote_plus(k, safe=''), lambda k: quote(k, safe='').lower(),
], ids=['raw', 'json', 'json-utf8', 'json-upper-hex', 'url', 'url-plus', 'url-lower'])
def test_every_form_the_collection_sends_is_redacted(key: str, encode: object) -> None:
    echoed = encode(key)  # type: ignore[operator]
    text = f'{{"error": "bad request", "body": {{"namespace": "ci", "key": "{echoed}"}}}}'
    hidden = redact(text, [key])
    assert REDACTED in hidden and '"namespace": "ci"' in hidden
    for length in range(8, len(echoed) + 1):  # no run of 8 or more characters of the echo survives
        assert not any(echoed[i:i + length] in hidden for i in range(len(echoed) - length + 1)), hidden


@pytest.mark.parametrize('cut', [1, 4, 10])
def test_an_echo_cut_short_is_redacted_too(cut: int) -> None:
    key = 'k3y-ABCDEFGHIJKLMNOPQR'  # 22 characters, as in the report: an echo four short leaked 20 of them
    for echoed in (key[:-cut], key[cut:]):
        hidden = redact(f'server said: {echoed}!', [key])
        assert hidden == f'server said: {REDACTED}!'


def test_ordinary_text_and_short_values_are_left_alone() -> None:
    text = 'GET /artifacts/web failed: artifact not found (HTTP 404)'
    assert redact(text, ['a-very-different-secret-value', '', 'abc']) == text


def test_two_secrets_next_to_each_other_become_one_mark() -> None:
    assert redact('tokenAAAAAAAAAkeyBBBBBBBBB', ['AAAAAAAAA', 'BBBBBBBBB']) == f'token{REDACTED}key{REDACTED}'
