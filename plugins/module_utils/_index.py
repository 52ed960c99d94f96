# Copyright: Shaken Fist storage collection contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One index over an artifact listing: the only place that says what "the label X", "the upload X" or "the
artifact fetched from URL X" means, so the resolver, labels and publishing cannot disagree.

`ListingIndex` reads the listing only when a question needs it: a label or an upload asked for by owner and name is
first looked for by name (docs/name-resolution.md, "Cost"), which costs the same however many artifacts exist.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Iterator, List, Optional

from ._filters import ArtifactFilter
from ._models import Artifact
from ._refs import artifact_name, is_uuid, label_url

UPLOAD_TYPES = ('image', 'other')
ACTIVE_STATES = ('initial', 'created', 'error')  # what the listing and the server's name lookups hold


class ArtifactIndex:
    """A read-only view of one `GET /artifacts` answer (what the caller can see, active states only)."""

    def __init__(self, artifacts: List[Artifact]) -> None:
        self._artifacts = list(artifacts)
        self._by_uuid: Dict[str, Artifact] = {a.uuid: a for a in self._artifacts}

    @property
    def artifacts(self) -> List[Artifact]:
        return self._artifacts

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


class ListingIndex(ArtifactIndex):
    """An index whose listing is read on first need. `find_named(name)` is the server's by-name read (`GET
    /artifacts/<name>`): the one artifact the server finds by that name, or None (not found, or several: 400).

    Two questions are answered from it, each only by an artifact of the asker's namespace that the listing would
    give, so that one answer is every candidate the listing would give:

    * a label asked for by owner and name, by a label with exactly that URL: Shaken Fist keeps at most one active
      label per URL (`POST /label` reuses the label of its URL, under a lock, and labels never turn `error`);
    * an upload asked for by owner and name (what `sf_image_publish` reads, and `sf://upload/<ns>/<name>`), by an
      uploaded artifact of that owner whose URL names it `name`: every upload the listing would give is named so
      on the server too (the server names an upload as its URL does, unless the uploader passed a `source_url`
      naming another upload, which neither sf-client nor this collection does), so a second one would have made
      the by-name read a 400;
    * the image an owner fetched from a URL (what `sf_image_publish` with `url` reads), by an image of that owner
      with exactly that URL, found by the name the server gives a fetched image (the URL's last segment): the
      server keeps at most one image per URL and owner (`Artifact.from_url` reuses it, under a lock).

    Anything else (a 404, a 400, another artifact of that name, another owner, a label created as `<ns>/<name>`,
    whose server name has the slash) reads the listing, as does every other question: a URL copy or a bare name may
    be held by artifacts whose server name differs, or by namespaces the server's name lookup does not search.
    """

    def __init__(self, load: Callable[[], List[Artifact]],
                 find_named: Callable[[str], Optional[Artifact]]) -> None:
        super().__init__([])
        self._load: Optional[Callable[[], List[Artifact]]] = load
        self._find_named = find_named
        self._named: Dict[str, Optional[Artifact]] = {}

    @property
    def loaded(self) -> bool:
        return self._load is None

    @property
    def artifacts(self) -> List[Artifact]:
        if self._load is not None:
            self._artifacts = list(self._load())
            self._by_uuid = {a.uuid: a for a in self._artifacts}
            self._load = None
        return self._artifacts

    def get(self, uuid: str) -> Optional[Artifact]:
        return super().get(uuid) if self.artifacts else None  # the listing read first

    def labels(self, namespace: Optional[str], name: Optional[str] = None) -> List[Artifact]:
        found = self._by_name(namespace, name)
        if found is not None and found.artifact_type == 'label' and found.ref == label_url(found.namespace, found.name):
            return [found]
        return super().labels(namespace, name)

    def uploads(self, namespace: Optional[str], name: str) -> List[Artifact]:
        found = self._by_name(namespace, name)
        if found is not None and found.artifact_type in UPLOAD_TYPES and found.source_url.startswith('sf://upload/'):
            return [found]
        return super().uploads(namespace, name)

    def fetched(self, namespace: Optional[str], url: str) -> List[Artifact]:
        server_name = url.split('/')[-1]  # what 0.7.2 names an image it fetches
        if server_name and server_name == artifact_name(url):
            found = self._by_name(namespace, server_name)
            if found is not None and found.artifact_type == 'image' and found.source_url == url:
                return [found]
        return super().fetched(namespace, url)

    def _by_name(self, namespace: Optional[str], name: Optional[str]) -> Optional[Artifact]:
        """What the server finds by `name`, when the listing is not read yet and it is an active artifact of
        `namespace` that the listing would also call `name`; otherwise None."""
        if self.loaded or not namespace or not name or is_uuid(name):
            return None
        if name not in self._named:
            self._named[name] = self._find_named(name)
        found = self._named[name]
        if found is None or found.namespace != namespace or found.name != name or found.state not in ACTIVE_STATES:
            return None
        return found
