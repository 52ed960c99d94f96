# Copyright: Shaken Fist storage collection contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Users' metadata on artifacts, one implementation for every module that takes `metadata` / `metadata_mode`.

Keys are written one at a time through the per-key routes (PUT / DELETE .../metadata/<key>), never by writing the
whole dict back, so a concurrent run that sets another key is never undone. Keys starting `shakenfist.storage.` are
the collection's own bookkeeping (label history, snapshot sets): users may not set them, and `replace` never
deletes them.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Tuple

from ._api import SfApi, refuse_empty_metadata
from ._errors import SfInvalidInput
from ._plan import Plan
from ._refs import validate_metadata_key

RESERVED_PREFIX = 'shakenfist.storage.'
MODES = ('merge', 'replace')


def user_metadata(metadata: Dict[str, Any]) -> Dict[str, Any]:
    """The keys users own: everything but the collection's bookkeeping."""
    return {key: value for key, value in metadata.items() if not str(key).startswith(RESERVED_PREFIX)}


def check_metadata(metadata: Any, mode: str = 'merge') -> Optional[Dict[str, str]]:
    """Refuse what could not be written as asked, before anything is read or written."""
    if mode not in MODES:
        raise SfInvalidInput(f'metadata_mode must be merge or replace, got {mode!r}')
    if metadata is None:
        return None
    if not isinstance(metadata, dict):
        raise SfInvalidInput(f'metadata must be a dictionary of strings, got {type(metadata).__name__}')
    for key, value in metadata.items():
        validate_metadata_key(key)
        if str(key).startswith(RESERVED_PREFIX):
            raise SfInvalidInput(f'metadata key {key!r}: keys starting {RESERVED_PREFIX!r} are kept by this collection')
        if not isinstance(value, str):
            raise SfInvalidInput(f'metadata key {key!r}: values must be strings, got {type(value).__name__} '
                                 f'(quote it in YAML)')
        refuse_empty_metadata(key, value)
    return dict(metadata)


def metadata_changes(current: Dict[str, Any], wanted: Optional[Dict[str, str]], mode: str
                     ) -> Tuple[List[Tuple[str, str]], List[str], Dict[str, Any]]:
    """(keys to set, keys to delete, the user metadata afterwards)."""
    mine = user_metadata(current)
    if wanted is None:
        return [], [], mine
    sets = [(key, value) for key, value in wanted.items() if current.get(key) != value]
    deletes = sorted(key for key in mine if key not in wanted) if mode == 'replace' else []
    after = dict(wanted) if mode == 'replace' else {**mine, **wanted}
    return sets, deletes, after


def add_metadata_steps(plan: Plan, api: SfApi, uuid: Callable[[], str], what: str, current: Dict[str, Any],
                       wanted: Optional[Dict[str, str]], mode: str) -> Dict[str, Any]:
    """One step per key to set or delete on the artifact `uuid()` names when the step runs (it may not exist yet
    when planning). Returns the user metadata the plan leads to."""
    sets, deletes, after = metadata_changes(current, wanted, mode)
    for key, value in sets:
        plan.add('set_metadata', f'set metadata {key} on {what}', _write(api.set_metadata, uuid, key, value),
                 _holds(api, uuid, key, value))
    for key in deletes:
        plan.add('delete_metadata', f'delete metadata {key} from {what}', _write(api.delete_metadata, uuid, key),
                 _holds(api, uuid, key, None))
    return after


def _write(call: Callable[..., Any], uuid: Callable[[], str], *args: str) -> Callable[[Any], None]:
    """A step that calls `call` on the artifact `uuid()` names when the step runs."""
    return lambda step: call(uuid(), *args)


def _holds(api: SfApi, uuid: Callable[[], str], key: str, value: Optional[str]) -> Callable[[], bool]:
    """Whether the key now has `value` (None: is absent), to confirm a write whose answer was lost."""
    return lambda: api.get_metadata(uuid()).get(key) == value
