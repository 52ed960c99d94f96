# Copyright: Shaken Fist storage collection contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The metadata of listed objects: what the listing gave, completed from each object's own metadata route where the
listing left it out (some servers' views carry no metadata, or not all of it). The one place for that rule.

What a failed read means stays the caller's: readers show what they could read; the cleanup is told which objects
are gone and which could not be read, and keeps the latter.
"""

from __future__ import annotations

import contextlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Dict, List, Set, Tuple

from ._api import SfApi
from ._errors import SfError, SfNotFound
from ._models import Artifact


@dataclass
class MetadataRead:
    found: Dict[str, Dict[str, Any]] = field(default_factory=dict)  # uuid -> its metadata
    gone: Set[str] = field(default_factory=set)  # no such object any more
    unreadable: Dict[str, str] = field(default_factory=dict)  # uuid -> why its metadata could not be read


def read_metadata(api: SfApi, objects: List[Tuple[str, str]], concurrency: int = 1) -> MetadataRead:
    """The metadata of each (kind, uuid) from its route (artifact, instance or network), `concurrency` at once."""
    read = MetadataRead()

    def one(kind_uuid: Tuple[str, str]) -> None:
        kind, uuid = kind_uuid
        try:
            read.found[uuid] = api.object_metadata(kind, uuid)
        except SfNotFound:
            read.gone.add(uuid)
        except SfError as exc:
            read.unreadable[uuid] = str(exc)

    if objects:
        with ThreadPoolExecutor(max_workers=min(concurrency, len(objects)),
                                thread_name_prefix='sf-metadata') as pool:
            list(pool.map(one, objects))
    return read


def artifact_metadata(api: SfApi, artifact: Artifact, marker: str = '', owned_only: bool = True) -> Dict[str, Any]:
    """The artifact's metadata: its view's, updated from the metadata route when the view has no key starting with
    `marker` (no key at all when ''). With `owned_only`, the route is read only where it can answer: the caller owns
    the artifact (or is system) and the server has the route. A route that fails leaves the view's: a reader shows
    what it can."""
    metadata = dict(artifact.metadata)
    if any(str(key).startswith(marker) for key in metadata) or (
            owned_only and not (api.namespace in ('system', artifact.namespace) and api.features.artifact_metadata)):
        return metadata
    with contextlib.suppress(SfError):
        metadata.update(api.get_metadata(artifact.uuid))
    return metadata
