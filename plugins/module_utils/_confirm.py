# Copyright: Shaken Fist storage collection contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Checks that a write's change is in place, read again after the write's outcome was lost (see Step.confirm).

Each returns a callable for a plan step; the artifact UUID may be a callable too, for an artifact that only
exists once an earlier step of the same plan created it.
"""

from __future__ import annotations

from typing import Callable, Optional, Union

from ._api import SfApi
from ._models import Artifact

Uuid = Union[str, Callable[[], str]]


def _reads(api: SfApi, uuid: Uuid, holds: Callable[[Optional[Artifact]], bool]) -> Callable[[], bool]:
    """Whether the artifact, read afresh (None when it is gone or deleted), `holds`."""

    def confirm() -> bool:
        api.forget()
        found = api.find_artifact(uuid() if callable(uuid) else uuid)
        return holds(None if found is None or found.state == 'deleted' else found)

    return confirm


def artifact_is(api: SfApi, uuid: Uuid, predicate: Callable[[Artifact], bool]) -> Callable[[], bool]:
    return _reads(api, uuid, lambda found: found is not None and predicate(found))


def artifact_gone(api: SfApi, uuid: Uuid) -> Callable[[], bool]:
    return _reads(api, uuid, lambda found: found is None)


def version_gone(api: SfApi, uuid: Uuid, index: int) -> Callable[[], bool]:
    return _reads(api, uuid, lambda found: found is None or index not in found.blobs)
