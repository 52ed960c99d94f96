# Copyright: Shaken Fist storage collection contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Checks that a write's change is in place, read again after the write's outcome was lost (see Step.confirm).

Each returns a callable for a plan step; the artifact UUID may be a callable too, for an artifact that only
exists once an earlier step of the same plan created it.
"""

from __future__ import annotations

from typing import Callable, Union

from ._api import SfApi
from ._models import Artifact

Uuid = Union[str, Callable[[], str]]


def _uuid(uuid: Uuid) -> str:
    return uuid() if callable(uuid) else uuid


def artifact_is(api: SfApi, uuid: Uuid, predicate: Callable[[Artifact], bool]) -> Callable[[], bool]:
    def confirm() -> bool:
        api.forget()
        found = api.find_artifact(_uuid(uuid))
        return found is not None and found.state != 'deleted' and predicate(found)

    return confirm


def artifact_gone(api: SfApi, uuid: Uuid) -> Callable[[], bool]:
    def confirm() -> bool:
        api.forget()
        found = api.find_artifact(_uuid(uuid))
        return found is None or found.state == 'deleted'

    return confirm


def version_gone(api: SfApi, uuid: Uuid, index: int) -> Callable[[], bool]:
    def confirm() -> bool:
        api.forget()
        found = api.find_artifact(_uuid(uuid))
        return found is None or found.state == 'deleted' or index not in found.blobs

    return confirm
