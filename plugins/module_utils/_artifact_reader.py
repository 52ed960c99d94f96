# Copyright: Shaken Fist storage collection contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reading artifacts as sf_artifact_info shows them: the listing (or what one reference means), filtered, each
described with its versions and events when asked. Nothing matching is an empty answer, never an error.
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Tuple

from ._api import SfApi, newest_first
from ._errors import SfError, SfInvalidInput
from ._filters import ArtifactFilter
from ._metadata import user_metadata
from ._models import Artifact
from ._object_metadata import artifact_metadata
from ._refs import parse_ref
from ._resolver import Resolver


def check_query(metadata: Optional[Mapping[str, Any]], event_limit: int) -> None:
    """Refuse what cannot be asked, before anything is read."""
    if not 1 <= event_limit <= 1000:
        raise SfInvalidInput(f'event_limit must be between 1 and 1000, got {event_limit}')
    for key, value in (metadata or {}).items():
        if not isinstance(value, str):
            raise SfInvalidInput(f'metadata filter {key!r}: values must be strings, got {type(value).__name__}')


class ArtifactReader:
    def __init__(self, api: SfApi, resolver: Resolver) -> None:
        self.api = api
        self.resolver = resolver

    def by_ref(self, listing: List[Artifact], ref: str) -> List[Artifact]:
        """The artifact `ref` means (none when nothing matches: a listing, not an error); for a blob reference, the
        artifacts that hold that blob as a version. Malformed and ambiguous references are errors."""
        parsed = parse_ref(ref, self.api.namespace)
        if parsed.kind == 'blob':
            return [a for a in listing if any(v.uuid == parsed.uuid for v in a.blobs.values())]
        found = self.resolver.match(ref)
        if found is None:
            return []
        return [a for a in listing if a.uuid == found.uuid] or [found]

    def matching(self, listing: List[Artifact], wanted: ArtifactFilter) -> List[Tuple[Artifact, Dict[str, Any]]]:
        """The artifacts `wanted` matches, by namespace, type and name, each with the metadata to show: the view's,
        or for a metadata filter what it was matched against (read from the metadata route where the view has none,
        as some servers leave it out)."""
        read: Dict[str, Dict[str, Any]] = {}

        def metadata(artifact: Artifact) -> Dict[str, Any]:
            if artifact.uuid not in read:
                read[artifact.uuid] = artifact_metadata(self.api, artifact)
            return read[artifact.uuid]

        found = wanted.select(listing, metadata)
        found.sort(key=lambda a: (a.namespace, a.artifact_type, a.name))
        return [(a, read.get(a.uuid, a.metadata)) for a in found]

    def describe(self, artifact: Artifact, metadata: Dict[str, Any], versions: bool,
                 event_limit: Optional[int]) -> Dict[str, Any]:
        """One entry of the result; `event_limit` None: without events."""
        described: Dict[str, Any] = {
            'uuid': artifact.uuid, 'name': artifact.name, 'ref': artifact.ref,
            'namespace': artifact.namespace, 'type': artifact.artifact_type, 'state': artifact.state,
            'shared': artifact.shared, 'source_url': artifact.source_url, 'max_versions': artifact.max_versions,
            'error_message': artifact.error_message, 'instances': list(artifact.instances),
            'latest_version': artifact.index, 'metadata': user_metadata(metadata),
        }
        if versions:
            rows: List[Dict[str, Any]] = [
                {'index': v.index, 'blob_uuid': v.uuid, 'sha512': v.sha512, 'size': v.size,
                 'created': v.fetched_at or v.modified, 'instances': list(v.instances)}
                for v in newest_first(self.api.artifact_versions(artifact.uuid))] if artifact.index else []
            described['versions'] = rows
            # Instances whose disk came from a version older than the newest: the ones to rebuild.
            described['outdated_instances'] = sorted({uuid for row in rows[1:] for uuid in row['instances']}
                                                     - set(rows[0]['instances'] if rows else []))
        if event_limit is not None:
            try:
                described['events'] = self.api.artifact_events(artifact.uuid, event_limit, owner=artifact.namespace)
            except SfError as exc:
                described['events'] = []
                described['events_note'] = f'the server could not return the events of {artifact.ref}: {exc}'
        return described
