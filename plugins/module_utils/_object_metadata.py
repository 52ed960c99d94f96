# Copyright: Shaken Fist storage collection contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The metadata of listed objects: the listing's, completed from each object's own metadata route where the listing
left it out (some servers' views carry none, or not all). What a failed read means stays the caller's choice.
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
        try:
            read.found[kind_uuid[1]] = api.object_metadata(*kind_uuid)
        except SfNotFound:
            read.gone.add(kind_uuid[1])
        except SfError as exc:
            read.unreadable[kind_uuid[1]] = str(exc)

    if objects:
        with ThreadPoolExecutor(max_workers=min(concurrency, len(objects)), thread_name_prefix='sf-metadata') as pool:
            list(pool.map(one, objects))
    return read


def artifact_metadata(api: SfApi, artifact: Artifact, marker: str = '', owned_only: bool = True) -> Dict[str, Any]:
    """The view's metadata, updated from the metadata route when it has no key starting with `marker` (no key at
    all, by default). `owned_only`: only where the route can answer, for the owner or system on a server that has
    it. A failed read leaves the view's: a reader shows what it can."""
    metadata = dict(artifact.metadata)
    if any(str(key).startswith(marker) for key in metadata) or (
            owned_only and not (api.namespace in ('system', artifact.namespace) and api.features.artifact_metadata)):
        return metadata
    with contextlib.suppress(SfError):
        metadata.update(api.get_metadata(artifact.uuid))
    return metadata
