# Copyright: Shaken Fist storage collection contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Words for messages: a count with its noun in the right number ("1 instance", "2 instances"), a size."""

from __future__ import annotations

from typing import Optional, Sequence


def plural(count: int, singular: str, many: Optional[str] = None) -> str:
    """`count` and the noun: `singular` for exactly one, else `many` (default: `singular` + 's')."""
    return f'{count} {singular if count == 1 else many or singular + "s"}'


def named(singular: str, items: Sequence[str], many: Optional[str] = None) -> str:
    """The noun in the right number, then the items: "label a", "labels a, b"."""
    return f'{singular if len(items) == 1 else many or singular + "s"} {", ".join(items)}'


def verb(count: int, one: str, many: str) -> str:
    """The verb that agrees with `count` things ("points" for one, "point" for several)."""
    return one if count == 1 else many


def human(size: int) -> str:
    """A size in bytes for people: "1 byte", "512 bytes", "1.5 MiB", up to GiB."""
    value = float(size)
    for unit in ('bytes', 'KiB', 'MiB', 'GiB'):
        if value < 1024 or unit == 'GiB':
            return plural(int(value), 'byte') if unit == 'bytes' else f'{value:.1f} {unit}'
        value /= 1024
    return f'{size} bytes'  # pragma: no cover
