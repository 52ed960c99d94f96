# Copyright: Shaken Fist storage collection contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Domain client: one method per Shaken Fist API operation, returning pydantic models.

Knows the API's shapes and quirks, nothing about Ansible. The artifact listing is read once per run and
dropped whenever this client writes, so resolving many references costs one listing.
"""

from __future__ import annotations

from typing import Any, Dict, Iterable, List, Optional

from ._errors import SfError, SfNotFound, SfServerError
from ._http import SfTransport
from ._models import Artifact, ArtifactVersion, Blob, ClusterOperation, Instance, Namespace, SnapshotRef, Upload


class SfApi:
    def __init__(self, transport: SfTransport) -> None:
        self.transport = transport
        self._listing: Optional[List[Artifact]] = None
        self._versions: Dict[str, List[ArtifactVersion]] = {}

    @property
    def namespace(self) -> str:
        """The namespace the connection authenticates as."""
        return self.transport.namespace

    @property
    def is_system(self) -> bool:
        return self.transport.namespace == 'system'

    def has_capability(self, name: str) -> bool:
        return self.transport.has_capability(name)

    def _write(self, method: str, template: str, *segments: Any, **kwargs: Any) -> Any:
        self._listing = None
        self._versions.clear()
        return self.transport.request(method, template, *segments, **kwargs)

    # Artifacts
    def list_artifacts(self, refresh: bool = False) -> List[Artifact]:
        if self._listing is None or refresh:
            raw = self.transport.request('GET', '/artifacts', json={'node': None}) or []
            self._listing = [Artifact.model_validate(item) for item in raw]
        return self._listing

    def get_artifact(self, ref: str, namespace: Optional[str] = None) -> Artifact:
        body = {'namespace': namespace} if namespace else None
        return Artifact.model_validate(self.transport.request('GET', '/artifacts/{}', ref, json=body))

    def find_artifact(self, ref: str) -> Optional[Artifact]:
        try:
            return self.get_artifact(ref)
        except SfNotFound:
            return None

    def artifact_versions(self, uuid: str, refresh: bool = False) -> List[ArtifactVersion]:
        if uuid not in self._versions or refresh:
            try:
                raw = self.transport.request('GET', '/artifacts/{}/versions', uuid) or []
                self._versions[uuid] = [ArtifactVersion.model_validate(item) for item in raw]
            except SfServerError:
                # 0.7.2 answers 500 when a tenant reads a shared system artifact; the listing and the blob
                # routes (which have no ownership checks) give the same facts.
                self._versions[uuid] = self._versions_from_listing(uuid)
        return self._versions[uuid]

    def _versions_from_listing(self, uuid: str) -> List[ArtifactVersion]:
        artifact = next((a for a in self.list_artifacts() if a.uuid == uuid), None)
        if artifact is None:
            raise SfNotFound(f'artifact {uuid} is not visible to namespace {self.namespace!r}')
        versions = []
        for index, ref in sorted(artifact.blobs.items()):
            blob = self.get_blob(ref.uuid)
            versions.append(ArtifactVersion.model_validate({**blob.model_dump(), 'index': index}))
        return versions

    def delete_artifact(self, uuid: str) -> Optional[Artifact]:
        # Deleting by UUID twice answers 200 null, so a repeat after an unknown outcome is harmless.
        raw = self._write('DELETE', '/artifacts/{}', uuid, idempotent=True)
        return Artifact.model_validate(raw) if raw else None

    def delete_version(self, uuid: str, index: int) -> Artifact:
        return Artifact.model_validate(self._write('DELETE', '/artifacts/{}/versions/{}', uuid, index))

    def set_max_versions(self, uuid: str, max_versions: int) -> None:
        self._write('POST', '/artifacts/{}/versions', uuid, json={'max_versions': max_versions}, idempotent=True)

    def share(self, uuid: str) -> Artifact:
        return Artifact.model_validate(self._write('POST', '/artifacts/{}/share', uuid, idempotent=True))

    def unshare(self, uuid: str) -> Artifact:
        return Artifact.model_validate(self._write('POST', '/artifacts/{}/unshare', uuid))

    def get_metadata(self, uuid: str) -> Dict[str, Any]:
        return self.transport.request('GET', '/artifacts/{}/metadata', uuid) or {}

    def set_metadata(self, uuid: str, key: str, value: Any) -> None:
        self._write('PUT', '/artifacts/{}/metadata/{}', uuid, key, json={'value': value})

    def delete_metadata(self, uuid: str, key: str) -> None:
        self._write('DELETE', '/artifacts/{}/metadata/{}', uuid, key, idempotent=True)

    def cache_url(self, url: str, namespace: Optional[str] = None, shared: bool = False) -> Artifact:
        # The server reuses an owned artifact with this URL, so repeating the request cannot duplicate it.
        body = {'url': url, 'shared': shared, 'namespace': namespace or self.namespace}
        return Artifact.model_validate(self._write('POST', '/artifacts', json=body, idempotent=True))

    # Uploads
    def create_upload(self) -> Upload:
        # An upload nobody converts is invisible to users and expires, so a repeated create is harmless.
        return Upload.model_validate(self._write('POST', '/upload', idempotent=True))

    def append_upload(self, uuid: str, chunk: bytes, timeout: Optional[float] = None) -> int:
        """Append raw bytes; returns the server's total size. Never retried here: the caller resumes."""
        size = self.transport.request('POST', '/upload/{}', uuid, data=chunk, retries=0, timeout=timeout,
                                      headers={'Content-Type': 'application/octet-stream'})
        return int(size)

    def truncate_upload(self, uuid: str, offset: int) -> None:
        self.transport.request('POST', '/upload/{}/truncate/{}', uuid, int(offset), idempotent=True)

    def convert_upload(
        self,
        name: str,
        *,
        namespace: str,
        upload_uuid: Optional[str] = None,
        blob_uuid: Optional[str] = None,
        source_url: Optional[str] = None,
        shared: bool = False,
        artifact_type: str = 'image',
    ) -> Artifact:
        body: Dict[str, Any] = {'namespace': namespace, 'shared': shared}
        if upload_uuid:
            body['upload_uuid'] = upload_uuid
        if blob_uuid:
            body['blob_uuid'] = blob_uuid
        if source_url:
            body['source_url'] = source_url
        if artifact_type != 'image':
            body['artifact_type'] = artifact_type
        # Adding the same blob again is skipped by the server's version rules: a repeat is harmless.
        return Artifact.model_validate(self._write('POST', '/artifacts/upload/{}', name, json=body,
                                                   idempotent=bool(blob_uuid)))

    # Blobs
    def get_blob(self, uuid: str) -> Blob:
        return Blob.model_validate(self.transport.request('GET', '/blobs/{}', uuid))

    def find_blob_by_sha512(self, sha512: str) -> Optional[Blob]:
        """A created blob with this sha512, or None (the server answers 200 null on a miss)."""
        if not self.has_capability('blob-search-by-hash'):
            return None
        raw = self.transport.request('GET', '/blob_checksums/sha512/{}', sha512)
        return Blob.model_validate(raw) if raw else None

    # Labels
    def update_label(self, namespace: str, name: str, blob_uuid: str, max_versions: Optional[int] = None) -> Artifact:
        body: Dict[str, Any] = {'blob_uuid': blob_uuid}
        if max_versions:
            body['max_versions'] = max_versions
        # Pointing a label at the blob it already has is skipped by the server: a repeat is harmless.
        raw = self._write('POST', '/label/{}/{}', namespace, name, json=body, idempotent=True)
        return Artifact.model_validate(raw)

    # Namespaces
    def get_namespace(self, name: str) -> Namespace:
        return Namespace.model_validate(self.transport.request('GET', '/auth/namespaces/{}', name))

    def list_namespaces(self) -> List[Namespace]:
        return [Namespace.model_validate(item) for item in self.transport.request('GET', '/auth/namespaces') or []]

    def namespace_trusts(self, owner: str, caller: Optional[str] = None) -> bool:
        """Whether namespace `owner` trusts `caller` (default: us); system is trusted everywhere."""
        caller = caller or self.namespace
        if caller in ('system', owner):
            return True
        try:
            record = self.get_namespace(owner)
        except SfError:
            return False
        return caller in record.trust.get('full', [])

    # Instances and snapshots
    def list_instances(self, all_states: bool = False) -> List[Instance]:
        raw = self.transport.request('GET', '/instances', json={'all': all_states}) or []
        return [Instance.model_validate(item) for item in raw]

    def get_instance(self, ref: str, namespace: Optional[str] = None) -> Instance:
        body = {'namespace': namespace} if namespace else None
        return Instance.model_validate(self.transport.request('GET', '/instances/{}', ref, json=body))

    def snapshot_instance(self, uuid: str, *, all_disks: bool, device: Optional[str], thin: bool,
                          max_versions: Optional[int] = None) -> Dict[str, SnapshotRef]:
        body: Dict[str, Any] = {'all': all_disks, 'device': device, 'thin': thin}
        if max_versions:
            body['max_versions'] = max_versions
        raw = self._write('POST', '/instances/{}/snapshot', uuid, json=body) or {}
        return {device_name: SnapshotRef.model_validate(item) for device_name, item in raw.items()}

    def instance_snapshots(self, uuid: str) -> List[Dict[str, Any]]:
        return list(self.transport.request('GET', '/instances/{}/snapshot', uuid) or [])

    def get_operation(self, op_type: str, uuid: str) -> ClusterOperation:
        raw = self.transport.request('GET', '/clusteroperations/{}/{}', op_type, uuid)
        return ClusterOperation.model_validate(raw)


def newest_first(versions: Iterable[ArtifactVersion]) -> List[ArtifactVersion]:
    return sorted(versions, key=lambda version: version.index, reverse=True)
