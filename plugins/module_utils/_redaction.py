# Copyright: Shaken Fist storage collection contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Redaction of secrets in any text that leaves the collection, whatever form a server echoes them in.

A secret goes out JSON-escaped in request bodies (a key with a `"` or non-ASCII characters is sent as `\\"` and
`\\uXXXX`) and percent-encoded in URLs, and a server may echo any of these, whole or cut short. So every form the
collection itself sends is searched for, and so is every run of FRAGMENT or more characters of any of them: an
echo cut a few characters short hides as well as the whole.
"""

from __future__ import annotations

import json
import re
from typing import Iterable, List, Set, Tuple
from urllib.parse import quote, quote_plus

REDACTED = '********'
ESCAPE = re.compile(r'(?<=\\u)[0-9a-fA-F]{4}|(?<=%)[0-9a-fA-F]{2}')
FRAGMENT = 8  # the shortest run of a secret that is redacted on its own (shorter secrets: the whole secret)
MIN_SECRET = 4  # shorter values are not treated as secrets (they would redact ordinary text)


def forms(secret: str) -> Set[str]:
    """The spellings of `secret` the collection sends: raw, JSON-escaped (ASCII-only and not), percent-encoded."""
    found = {secret, json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1],
             quote(secret, safe=''), quote_plus(secret, safe='')}
    # An escape's hex digits in either case (JSON writes lower case, URL encoding upper case; servers re-encode).
    found |= {ESCAPE.sub(lambda m: m.group(0).swapcase(), form) for form in found}
    return {form for form in found if form}


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with every form of every secret, and every run of FRAGMENT or more of their characters, replaced."""
    spans: List[Tuple[int, int]] = []
    for secret in secrets:
        if not secret or len(secret) < MIN_SECRET:
            continue
        for form in forms(secret):
            spans.extend(_occurrences(text, form))
    if not spans:
        return text
    out, position = [], 0
    for start, end in _merged(spans):
        out.append(text[position:start])
        out.append(REDACTED)
        position = end
    out.append(text[position:])
    return ''.join(out)


def _occurrences(text: str, form: str) -> List[Tuple[int, int]]:
    """Spans of `text` covered by runs of at least min(FRAGMENT, len(form)) characters of `form`."""
    width = min(FRAGMENT, len(form))
    spans = []
    for offset in range(len(form) - width + 1):
        window = form[offset:offset + width]
        start = text.find(window)
        while start != -1:
            spans.append((start, start + width))
            start = text.find(window, start + 1)
    return spans


def _merged(spans: List[Tuple[int, int]]) -> List[Tuple[int, int]]:
    merged: List[Tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged
