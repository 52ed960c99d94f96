# Copyright: Shaken Fist storage collection contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Names a user may have misspelled: which of the given names are unknown, and the known name each is closest to.

One rule for the lookup's options and the roles' variables: a name that is not known is refused, never ignored,
because an ignored name silently changes what the task does (a pinned version becomes the newest, a catalogue list
becomes empty)."""

from __future__ import annotations

import difflib
from typing import Iterable, List, Optional


def closest(name: str, known: Iterable[str]) -> Optional[str]:
    """The known name `name` is most likely a misspelling of, or None when none is close (difflib, ratio 0.6)."""
    matches = difflib.get_close_matches(name, sorted(set(known)), n=1, cutoff=0.6)
    return matches[0] if matches else None


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
