# Copyright: Shaken Fist storage collection contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What changed between two looks at the artifacts: the pure diff behind the sf_artifact_events event source.

A look is a `Seen` map (artifact uuid -> SeenArtifact: namespace, name, type and versions {index: blob uuid}). The
diff returns one event (a plain dict) per change, in a fixed order: versions added, labels moved, versions deleted,
then artifacts and labels deleted; within each, by namespace, name, artifact uuid and version. So an image
published and labelled between two looks reads in the order it was done. Labels are followed by where they point
(their newest version), not by their history: a label's trimmed or deleted old version that does not move it emits
nothing. No Ansible imports, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, FrozenSet, Iterable, List, Mapping, Optional, Tuple

from ._models import Artifact

ARTIFACT_TYPES = ('image', 'label', 'snapshot', 'other')
EVENT_TYPES = ('version_added', 'label_moved', 'version_deleted', 'artifact_deleted', 'label_deleted')
PHASE = {name: position for position, name in enumerate(EVENT_TYPES)}
PHASE['label_deleted'] = PHASE['artifact_deleted']


@dataclass(frozen=True)
class SeenArtifact:
    uuid: str
    namespace: str
    name: str
    artifact_type: str
    versions: Mapping[int, str] = field(default_factory=dict)  # index -> blob uuid

    @classmethod
    def of(cls, artifact: Artifact) -> SeenArtifact:
        return cls(artifact.uuid, artifact.namespace, artifact.name, artifact.artifact_type,
                   {int(index): ref.uuid for index, ref in artifact.blobs.items()})

    @property
    def newest(self) -> Optional[int]:
        return max(self.versions) if self.versions else None

    def to_json(self) -> Dict[str, Any]:
        return {'namespace': self.namespace, 'name': self.name, 'type': self.artifact_type,
                'versions': {str(index): blob for index, blob in sorted(self.versions.items())}}

    @classmethod
    def from_json(cls, uuid: str, raw: Any) -> SeenArtifact:
        """Raises ValueError (or KeyError, TypeError) on anything but what to_json wrote."""
        if not isinstance(raw, dict) or not isinstance(raw.get('versions'), dict):
            raise ValueError(f'artifact {uuid}: not an object with versions')
        for key in ('namespace', 'name', 'type'):
            if not isinstance(raw[key], str):
                raise ValueError(f'artifact {uuid}: {key} is not a string')
        versions = {int(index): str(blob) for index, blob in raw['versions'].items()}
        return cls(uuid, raw['namespace'], raw['name'], raw['type'], versions)


Seen = Dict[str, SeenArtifact]


@dataclass(frozen=True)
class Scope:
    """Which artifacts are watched. `namespaces` None: every namespace the caller can see. A shared artifact of
    another namespace only with `include_shared`; `names` and `types` narrow further when given."""

    namespaces: Optional[FrozenSet[str]]
    include_shared: bool = False
    names: Optional[FrozenSet[str]] = None
    types: Optional[FrozenSet[str]] = None

    def covers(self, artifact: Artifact) -> bool:
        if self.types is not None and artifact.artifact_type not in self.types:
            return False
        if self.names is not None and artifact.name not in self.names:
            return False
        if self.namespaces is None or artifact.namespace in self.namespaces:
            return True
        return self.include_shared and artifact.shared

    def to_json(self) -> Dict[str, Any]:
        def listed(values: Optional[FrozenSet[str]]) -> Optional[List[str]]:
            return None if values is None else sorted(values)

        return {'namespaces': listed(self.namespaces), 'include_shared': self.include_shared,
                'names': listed(self.names), 'types': listed(self.types)}


def seen_in(listing: Iterable[Artifact], scope: Scope) -> Seen:
    return {artifact.uuid: SeenArtifact.of(artifact) for artifact in listing if scope.covers(artifact)}


class BlobOwners:
    """Which image (any artifact but a label) holds a blob at which version, from every artifact known: a label's
    event names the image and version it points at. An image in the label's own namespace is preferred, then its
    newest version."""

    def __init__(self, *looks: Iterable[SeenArtifact]) -> None:
        self._owners: Dict[str, Dict[Tuple[str, int], Dict[str, Any]]] = {}
        for look in looks:
            for artifact in look:
                if artifact.artifact_type == 'label':
                    continue
                for index, blob in artifact.versions.items():
                    self._owners.setdefault(blob, {})[(artifact.uuid, index)] = {
                        'namespace': artifact.namespace, 'name': artifact.name, 'artifact_uuid': artifact.uuid,
                        'artifact_type': artifact.artifact_type, 'version': index}

    def image_of(self, blob: Optional[str], namespace: str) -> Optional[Dict[str, Any]]:
        owners = list(self._owners.get(blob or '', {}).values())
        if not owners:
            return None
        best = max(owners, key=lambda o: (o['namespace'] == namespace, o['version'], o['artifact_uuid']))
        return dict(best)


def changes(before: Seen, after: Seen, owners: Optional[BlobOwners] = None) -> List[Dict[str, Any]]:
    """Every change from `before` to `after`, as events in the order the module docstring gives."""
    owners = owners or BlobOwners(before.values(), after.values())
    found: List[Tuple[Tuple[Any, ...], Dict[str, Any]]] = []

    def add(event: Dict[str, Any], artifact: SeenArtifact, version: int) -> None:
        key = (PHASE[event['type']], artifact.namespace, artifact.name, artifact.uuid, version)
        found.append((key, event))

    for uuid in sorted(set(before) | set(after)):
        old, new = before.get(uuid), after.get(uuid)
        if new is None and old is not None:
            add(_gone(old, owners), old, 0)
        elif new is not None and new.artifact_type == 'label':
            for event, version in _label_moves(old, new, owners):
                add(event, new, version)
        elif new is not None:
            for event, version in _version_changes(old, new):
                add(event, new, version)
    return [item[1] for item in sorted(found, key=lambda item: item[0])]


def _base(artifact: SeenArtifact, kind: str) -> Dict[str, Any]:
    event = {'type': kind, 'namespace': artifact.namespace, 'name': artifact.name, 'artifact_uuid': artifact.uuid,
             'artifact_type': artifact.artifact_type}
    if artifact.artifact_type == 'label':
        event['label'] = artifact.name
    return event


def _version_changes(old: Optional[SeenArtifact], new: SeenArtifact) -> Iterable[Tuple[Dict[str, Any], int]]:
    # New to the watcher is new when it had no version yet: a server lists an upload or a fetch before its first
    # version exists (0.7.2 does), so a poll can see the artifact empty and its first version a poll later.
    known = dict(old.versions) if old else {}
    for index in sorted(set(new.versions) - set(known)):
        yield {**_base(new, 'version_added'), 'version': index, 'blob_uuid': new.versions[index],
               'newest': index == new.newest, 'new_artifact': not known}, index
    for index in sorted(set(known) - set(new.versions)):
        yield {**_base(new, 'version_deleted'), 'version': index, 'blob_uuid': known[index]}, index


def _label_moves(old: Optional[SeenArtifact], new: SeenArtifact,
                 owners: BlobOwners) -> Iterable[Tuple[Dict[str, Any], int]]:
    """A label's newest version is where it points: each version added past the old newest is one move (a label
    moved twice between looks moves twice); a newest version deleted moves it back to the newest left."""
    at = old.newest if old else None
    if new.newest is None or new.newest == at:
        return
    blobs = dict(old.versions) if old else {}
    blobs.update(new.versions)
    later = [index for index in sorted(new.versions) if at is None or index > at]
    for index in later or [new.newest]:
        yield _moved(new, at, blobs.get(at) if at is not None else None, index, blobs[index], owners), index
        at = index


def _moved(label: SeenArtifact, from_version: Optional[int], from_blob: Optional[str], to_version: int,
           to_blob: str, owners: BlobOwners) -> Dict[str, Any]:
    return {**_base(label, 'label_moved'), 'from_version': from_version, 'from_blob': from_blob,
            'from_image': owners.image_of(from_blob, label.namespace), 'to_version': to_version, 'to_blob': to_blob,
            'to_image': owners.image_of(to_blob, label.namespace), 'who': None}


def _gone(old: SeenArtifact, owners: BlobOwners) -> Dict[str, Any]:
    if old.artifact_type == 'label':
        blob = old.versions.get(old.newest) if old.newest is not None else None
        return {**_base(old, 'label_deleted'), 'version': old.newest, 'blob_uuid': blob,
                'image': owners.image_of(blob, old.namespace)}
    return {**_base(old, 'artifact_deleted'),
            'versions': [{'version': index, 'blob_uuid': blob} for index, blob in sorted(old.versions.items())]}
