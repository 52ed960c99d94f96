"""`max_versions`: how many versions an artifact keeps, as each server profile reads and applies it.

Checked (newest): a non-negative integer or a 400 before anything changes; 0 means the default. Unchecked (0.7.2):
a value given when an artifact is made is stored as given (a falsy one means the default), an existing artifact
ignores it, and versions are trimmed with Python's `sorted(indexes)[:-max]` whenever there are more than `max`:
a negative value keeps trimming the oldest ones. A value Python cannot compare is that TypeError's 400, after the
artifact was made.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sf_emulator.errors import ApiError, bad_request

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sf_emulator.config import Config
    from sf_emulator.profiles import ServerProfile


def validate(value: Any) -> int:
    """0 or missing means the default; negative and non-integers are refused (newest server)."""
    if value is None:
        return 0
    if isinstance(value, bool):
        raise bad_request('max version is not an integer')
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise bad_request('max version is not an integer') from None
    if isinstance(value, float) and value != number:
        raise bad_request('max version is not an integer')
    if number < 0:
        raise bad_request('max version cannot be negative')
    return number


def for_new_artifact(profile: ServerProfile, value: Any) -> tuple[int, ApiError | None]:
    """The value to store on an artifact being made (snapshot, label), and the error to answer once it is made
    (unchecked profiles only: a checked one raises before anything is made)."""
    if profile.max_versions_checked:
        return validate(value), None
    if not value:
        return 0, None
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
        return int(value), None
    if isinstance(value, float):
        return 0, bad_request('slice indices must be integers or None or have an __index__ method')
    return 0, bad_request(f"'>' not supported between instances of 'int' and '{type(value).__name__}'")


def for_existing_artifact(profile: ServerProfile, value: Any) -> int:
    """`POST /artifacts/<ref>/versions`: 0.7.2 takes whatever int() takes (None: the default)."""
    if profile.max_versions_checked:
        return validate(value)
    if value is None:
        return 0
    try:
        return int(value)
    except ValueError:
        raise bad_request('max version is not an integer') from None
    except TypeError as exc:
        raise bad_request(str(exc)) from None


def effective(config: Config, max_versions: int) -> int:
    """0 means the default; a negative value (only an unchecked profile stores one) applies as it is."""
    return max_versions if max_versions != 0 else int(config['max_versions_default'])


def to_trim(current: Sequence[Any], keep: int) -> Sequence[Any]:
    """The oldest versions beyond `keep`, as `sorted(indexes)[:-keep]` picks them once there are more than `keep`."""
    return current[:-keep] if len(current) > keep else []
