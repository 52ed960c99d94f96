# Copyright: Shaken Fist storage collection contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One index over an artifact listing: the only place that says what "the label X", "the upload X" or "the
artifact fetched from URL X" means, so the resolver, labels and publishing cannot disagree.
"""

from __future__ import annotations

from typing import Any, Dict, Iterator, List, Optional

from ._filters import ArtifactFilter
from ._models import Artifact

UPLOAD_TYPES = ('image', 'other')


class ArtifactIndex:
    """A read-only view of one `GET /artifacts` answer (what the caller can see, active states only)."""

    def __init__(self, artifacts: List[Artifact]) -> None:
        self.artifacts = list(artifacts)
        self._by_uuid: Dict[str, Artifact] = {a.uuid: a for a in self.artifacts}

    def __iter__(self) -> Iterator[Artifact]:
        return iter(self.artifacts)

    def get(self, uuid: str) -> Optional[Artifact]:
        return self._by_uuid.get(uuid)

    def select(self, **criteria: Any) -> List[Artifact]:
        """The artifacts that match an `ArtifactFilter` of these criteria."""
        return ArtifactFilter(**criteria).select(self.artifacts)

    def labels(self, namespace: Optional[str], name: Optional[str] = None) -> List[Artifact]:
        """Labels owned by `namespace` (any visible one when None), called `name` (any when None)."""
        return self.select(types=('label',), source_prefix='sf://label/', namespace=namespace, name=name)

    def uploads(self, namespace: Optional[str], name: str) -> List[Artifact]:
        """Uploaded artifacts (image or other) called `name`, owned by `namespace` or any visible one when None."""
        return self.select(types=UPLOAD_TYPES, source_prefix='sf://upload/', name=name, namespace=namespace)

    def fetched(self, namespace: Optional[str], url: str) -> List[Artifact]:
        """Images the cluster fetched from `url` (a URL or an upstream shorthand), owned by `namespace` or anyone."""
        return self.select(types=('image',), source_url=url, namespace=namespace)

    def snapshots(self, name: str) -> List[Artifact]:
        """Snapshot artifacts called `<instance uuid>/<device>`."""
        return self.select(types=('snapshot',), name=name)

    def of_instance(self, instance_uuid: Optional[str], namespace: Optional[str] = None) -> List[Artifact]:
        """The snapshot artifacts of an instance's disks (`sf://instance/<uuid>/<device>`; any instance's when None),
        owned by `namespace` or any visible one when None."""
        prefix = f'sf://instance/{instance_uuid}/' if instance_uuid is not None else 'sf://instance/'
        return self.select(types=('snapshot',), source_prefix=prefix, namespace=namespace)

    def named(self, namespace: str, name: str) -> List[Artifact]:
        """Anything owned by `namespace` whose name is `name`."""
        return self.select(namespace=namespace, name=name)
