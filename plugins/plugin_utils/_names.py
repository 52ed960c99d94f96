# Copyright: Shaken Fist storage collection contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Names a user may have misspelled: which of the given names are unknown, and the known name each is closest to.

One rule for the lookup's options and the roles' variables: a name that is not known is refused, never ignored,
because an ignored name silently changes what the task does (a pinned version becomes the newest, a catalogue list
becomes empty)."""

from __future__ import annotations

import difflib
import os
from typing import Iterable, List, Optional


def closest(name: str, known: Iterable[str]) -> Optional[str]:
    """The known name `name` is most likely a misspelling of, or None when none is close (difflib, ratio 0.6).

    A prefix every known name shares (a role's `image_catalog_`) is left out of the comparison, or it would make
    every name look close to every other."""
    candidates = sorted(set(known))
    prefix = os.path.commonprefix(candidates) if len(candidates) > 1 else ''
    prefix = prefix[:prefix.rfind('_') + 1]  # whole words only: `x_prune` and `x_prune_pattern` share `x_`
    if not name.startswith(prefix):
        prefix = ''
    by_rest = {candidate[len(prefix):]: candidate for candidate in candidates}
    matches = difflib.get_close_matches(name[len(prefix):], list(by_rest), n=1, cutoff=0.6)
    return by_rest[matches[0]] if matches else None


def unknown_names(given: Iterable[str], known: Iterable[str], internal: Iterable[str] = (),
                  quote: bool = False) -> List[str]:
    """Each given name that is neither known nor internal, sorted, described for a user: the name and, when one is
    close, `(did you mean <known name>?)`. Internal names are accepted but never suggested."""
    known_names = set(known)
    accepted = known_names | set(internal)

    def shown(name: str) -> str:
        return repr(name) if quote else name

    described = []
    for name in sorted(set(given) - accepted):
        near = closest(name, known_names)
        described.append(f'{shown(name)} (did you mean {shown(near)}?)' if near else shown(name))
    return described
