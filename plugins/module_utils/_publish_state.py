# Copyright: Shaken Fist storage collection contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What publishing reads and remembers: the request, what a name or URL holds now, what this run did, and what a
source of content (a file, a URL) gets from the run that publishes it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Set, Tuple

from ._api import SfApi, newest_first
from ._errors import SfAmbiguousReference
from ._local_state import DEFAULT_STATE_DIR, Locks, StateDir
from ._metadata import user_metadata
from ._models import Artifact, ArtifactVersion
from ._options import Options, option, wait_option, wait_timeout_option
from ._plan import Plan

MIB = 1024 * 1024


@dataclass
class PublishRequest(Options):
    """What sf_image_publish was asked for; the fields are its options (Publisher.validate() checks the rest)."""

    target: str = option(type='str', name='target_namespace', unset='')  # '': the caller's own namespace
    name: Optional[str] = option(type='str')
    src: Optional[str] = option(type='path')
    url: Optional[str] = option(type='str')
    fetch: str = option('cluster', type='str', choices=['cluster', 'controller'])
    artifact_type: str = option('image', type='str', choices=['image', 'other'], name='type')
    shared: Optional[bool] = option(type='bool')
    max_versions: Optional[int] = option(type='int')
    label: Optional[str] = option(type='str')
    label_create: bool = option(True, type='bool')
    prune_unused: bool = option(False, type='bool')
    keep_newest: int = option(1, type='int')
    metadata: Optional[Dict[str, Any]] = option(type='dict')
    metadata_mode: str = option('merge', type='str', choices=['merge', 'replace'])
    checksum: Optional[str] = option(type='str')
    wait: bool = wait_option()
    wait_timeout: float = wait_timeout_option()
    state: str = option('present', type='str', choices=['present', 'absent'])
    version: Optional[int] = option(type='int')
    chunk_size: int = option(16, type='int', convert=lambda mib: mib * MIB)  # the option in MiB, the field in bytes
    checksum_cache: bool = option(True, type='bool')
    state_dir: Optional[str] = option(DEFAULT_STATE_DIR, type='path', name='checksum_cache_dir')


@dataclass
class Current:
    """What an artifact holds now: the artifact and its versions, newest first."""

    artifact: Optional[Artifact] = None
    versions: List[ArtifactVersion] = field(default_factory=list)

    @property
    def newest(self) -> Optional[ArtifactVersion]:
        return self.versions[0] if self.versions else None

    @property
    def indexes(self) -> Set[int]:
        return {v.index for v in self.versions} | set(self.artifact.blobs if self.artifact else ())

    def summary(self) -> Dict[str, Any]:
        """What diff mode compares."""
        artifact, newest = self.artifact, self.newest
        return {
            'exists': artifact is not None,
            'state': artifact.state if artifact else None,
            'version': newest.index if newest else None,
            'versions': sorted(v.index for v in self.versions),
            'sha512': newest.sha512 if newest else None,
            'size': newest.size if newest else None,
            'shared': artifact.shared if artifact else None,
            'max_versions': artifact.max_versions if artifact else None,
        }


def current_of(api: SfApi, artifact: Optional[Artifact]) -> Current:
    if artifact is None:
        return Current()
    versions = newest_first(api.artifact_versions(artifact.uuid, refresh=True)) if artifact.blobs else []
    return Current(artifact, versions)


def only_one(found: List[Artifact], what: str) -> Optional[Artifact]:
    if len(found) > 1:
        raise SfAmbiguousReference(
            f'{len(found)} artifacts are {what}',
            candidates=[{'ref': f'sf://artifact/{a.uuid}', 'uuid': a.uuid, 'state': a.state} for a in found],
            hint='delete the extra ones by UUID (sf_image_publish with name: sf://artifact/<uuid> and state: absent)')
    return found[0] if found else None


def read_upload(api: SfApi, namespace: str, name: str, refresh: bool = False) -> Current:
    """The upload artifact `name` owned by `namespace` (several are an error the user must sort out)."""
    found = api.index(refresh).uploads(namespace, name)
    return current_of(api, only_one(found, f'named {name!r} in namespace {namespace!r}'))


def read_fetched(api: SfApi, namespace: str, url: str, refresh: bool = False) -> Current:
    """The image `namespace` owns that the cluster fetches from `url`."""
    found = api.index(refresh).fetched(namespace, url)
    return current_of(api, only_one(found, f'fetched from {url} in namespace {namespace!r}'))


def read_uuid(api: SfApi, uuid: str) -> Current:
    """The artifact `uuid`, by one cheap read (a listing can take a second on a busy 0.7.2 cluster); none if deleted."""
    artifact = api.find_artifact(uuid)
    return current_of(api, None if artifact is None or artifact.state == 'deleted' else artifact)


@dataclass
class PublishRun:
    """What this run learned and did while its steps ran; the result is built from it."""

    sha512: Optional[str] = None
    upload_uuid: Optional[str] = None
    keep_upload: bool = False  # a conversion may still be using it: leave it, and its record, to the next run
    reuse_blob: Optional[str] = None
    uploaded_bytes: int = 0
    resumed_bytes: int = 0
    throughput: Optional[float] = None
    artifact: Optional[Artifact] = None
    created: bool = False  # this run's write created the artifact
    version: Optional[ArtifactVersion] = None
    label: Optional[Dict[str, Any]] = None
    url_check: Optional[Dict[str, Any]] = None
    pruned: Optional[List[Dict[str, Any]]] = None  # prune_unused's report, per version

    def result(self) -> Dict[str, Any]:
        result: Dict[str, Any] = {'uploaded_bytes': self.uploaded_bytes, 'resumed_bytes': self.resumed_bytes,
                                  'reused_blob': bool(self.reuse_blob)}
        if self.sha512:
            result['sha512'] = self.sha512
        if self.throughput:
            result['throughput'] = self.throughput
        artifact = self.artifact
        if artifact is not None:
            result['artifact'] = {
                'uuid': artifact.uuid, 'namespace': artifact.namespace, 'name': artifact.name,
                'type': artifact.artifact_type, 'state': artifact.state, 'shared': artifact.shared,
                'max_versions': artifact.max_versions, 'source_url': artifact.source_url,
                'error_message': artifact.error_message, 'metadata': user_metadata(artifact.metadata)}
            result['ref'] = artifact.ref
        version = self.version
        if version is not None:
            result['version'] = {'index': version.index, 'blob_uuid': version.uuid, 'sha512': version.sha512,
                                 'size': version.size}
            result['disk_base'] = f'sf://blob/{version.uuid}'
        for key in ('label', 'url_check', 'pruned'):
            if getattr(self, key) is not None:
                result[key] = getattr(self, key)
        return result


@dataclass
class PublishContext:
    """All a source of content (_publish_file.py, _publish_url.py) gets from the run that publishes it. The source
    reads what its name or URL holds, then adds its steps to the plan the run starts over that."""

    api: SfApi
    request: PublishRequest
    run: PublishRun
    predict: bool  # the plan will be shown, not applied (check mode)
    state: Optional[StateDir]
    locks: Locks
    log: Callable[[str], None]
    # The steps every source shares, placed by the source: retention and sharing (`existing`: the artifact is there,
    # so they go before a new version), and the label (pointing at (blob, sha512) when that is known already).
    settings: Callable[[Plan, bool], None]
    label: Callable[[Plan, Optional[Tuple[str, Optional[str]]]], None]
    warnings: List[str] = field(default_factory=list)
    cleanup: List[Callable[[], Any]] = field(default_factory=list)  # when the run ends, whether or not it failed

    def lock_artifact(self) -> None:
        """Serialise changes to one artifact among runs on this host, so each sees the version the one before it
        added and retention (max_versions) is applied before the next run adds a version."""
        name = self.request.name or self.request.url or ''
        if self.locks.take(f'artifact:{self.api.url}:{self.request.target}:{name}'):
            self.log(f'holding the local lock for artifact {name!r}')
