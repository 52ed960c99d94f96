# Copyright: Shaken Fist storage collection contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reading artifacts as sf_artifact_info shows them: the listing (or what one reference means), filtered, each
described with its versions and events when asked. Nothing matching is an empty answer, never an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

from ._api import SfApi, newest_first
from ._errors import SfError, SfInvalidInput
from ._filters import ArtifactFilter
from ._metadata import user_metadata
from ._models import Artifact
from ._object_metadata import artifact_metadata
from ._options import Options, option
from ._refs import parse_ref
from ._resolver import Resolver


@dataclass
class ArtifactQuery(Options):
    """What sf_artifact_info was asked for; the fields are its options."""

    name: Optional[str] = option(type='str')  # a shell-style pattern
    ref: Optional[str] = option(type='str')
    types: Optional[List[str]] = option(type='list', elements='str', choices=['image', 'label', 'snapshot', 'other'],
                                        name='type')
    owner: Optional[str] = option(type='str')
    shared: Optional[bool] = option(type='bool')
    metadata: Optional[Dict[str, Any]] = option(type='dict')
    versions: bool = option(True, type='bool')
    events: bool = option(False, type='bool')
    event_limit: int = option(100, type='int')

    def validate(self) -> None:
        """Refuse what cannot be asked, before anything is read."""
        if not 1 <= self.event_limit <= 1000:
            raise SfInvalidInput(f'event_limit must be between 1 and 1000, got {self.event_limit}')
        for key, value in (self.metadata or {}).items():
            if not isinstance(value, str):
                raise SfInvalidInput(f'metadata filter {key!r}: values must be strings, got {type(value).__name__}')


class ArtifactReader:
    def __init__(self, api: SfApi, resolver: Resolver, query: ArtifactQuery) -> None:
        self.api = api
        self.resolver = resolver
        self.query = query

    def listing(self) -> List[Artifact]:
        """Every artifact the caller can see (the query checked first)."""
        self.query.validate()
        return self.api.list_artifacts()

    def read(self, listing: List[Artifact]) -> List[Dict[str, Any]]:
        """The entries the query selects from `listing`, described."""
        query = self.query
        if query.ref:
            listing = self.by_ref(listing, query.ref)
        wanted = ArtifactFilter(pattern=query.name, types=query.types, namespace=query.owner or None,
                                shared=query.shared, metadata=query.metadata)
        limit = query.event_limit if query.events else None
        return [self.describe(artifact, metadata, query.versions, limit)
                for artifact, metadata in self.matching(listing, wanted)]

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
