# Copyright: Shaken Fist storage collection contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Durations as users write them in playbooks: `90s`, `30m`, `12h`, `7d`, `2w`, or combined (`1d12h`)."""

from __future__ import annotations

import math
import re

from ._errors import SfInvalidInput

UNITS = {'s': 1, 'm': 60, 'h': 3600, 'd': 86400, 'w': 604800}
_PART = re.compile(r'(\d+)\s*([smhdw])')


def parse_duration(text: object, option: str) -> float:
    """Seconds in `text`; a bare number is seconds. Anything else is an invalid_input naming the option."""
    if isinstance(text, bool):
        raise SfInvalidInput(f'{option} must be a duration such as 7d, 12h or 30m, got {text!r}')
    if isinstance(text, (int, float)):
        seconds = float(text)
    else:
        value = str(text).strip().lower()
        if value.isdigit():
            seconds = float(value)
        else:
            parts = _PART.findall(value)
            if not parts or _PART.sub('', value).strip():
                raise SfInvalidInput(f'{option} must be a duration such as 7d, 12h, 30m or 1d12h, got {text!r}',
                                     hint='units: s (seconds), m (minutes), h (hours), d (days), w (weeks)')
            seconds = float(sum(int(number) * UNITS[unit] for number, unit in parts))
    if not math.isfinite(seconds) or seconds <= 0:
        raise SfInvalidInput(f'{option} must be a positive duration, got {text!r}')
    return seconds
