# Copyright: Shaken Fist storage collection contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""pydantic models of the API objects this collection reads.

Response models ignore unknown fields (servers add fields over time) and are frozen. Typing uses Optional/List
because pydantic evaluates annotations at runtime and modules must run on Python 3.9.
"""

from __future__ import annotations

import traceback
from typing import Any, Dict, List, Optional

from ._refs import artifact_name, upload_url

try:
    from pydantic import BaseModel, ConfigDict, Field, model_validator

    HAS_PYDANTIC = True
    PYDANTIC_IMPORT_ERROR: Optional[str] = None
except ImportError:  # pragma: no cover - exercised by ansible-test sanity's import test
    HAS_PYDANTIC = False
    PYDANTIC_IMPORT_ERROR = traceback.format_exc()

    class BaseModel:  # type: ignore[no-redef]
        """Stand-in so this file imports without pydantic; the module base refuses to run without it."""

    def ConfigDict(**kwargs: Any) -> Any:  # type: ignore[no-redef]  # noqa: N802
        return kwargs

    def Field(*args: Any, **kwargs: Any) -> Any:  # type: ignore[no-redef]  # noqa: N802
        return None

    def model_validator(*args: Any, **kwargs: Any) -> Any:  # type: ignore[no-redef]
        return lambda func: func


class ApiModel(BaseModel):
    # defer_build: a model's validator is built on its first use, so a run pays only for the models it reads.
    model_config = ConfigDict(extra='ignore', frozen=True, populate_by_name=True, defer_build=True)

    def carries(self, name: str) -> bool:
        """Whether the server's answer had this field (a default stands in for one it left out: 0.7.2's network
        listing has no `metadata`, which is not the same as empty metadata)."""
        return name in self.model_fields_set


class VersionRef(ApiModel):
    """One entry of an artifact's `blobs` map (keyed by version index)."""

    uuid: str
    size: Optional[int] = None
    reference_count: Optional[int] = None
    depends_on: Optional[str] = None
    instances: List[str] = Field(default_factory=list)


class Artifact(ApiModel):
    uuid: str
    state: str
    artifact_type: str
    source_url: str
    namespace: str
    shared: bool = False
    max_versions: int = 0
    index: int = 0
    blob_uuid: Optional[str] = None
    blobs: Dict[int, VersionRef] = Field(default_factory=dict)
    metadata: Dict[str, Any] = Field(default_factory=dict)
    error_message: Optional[str] = None
    instances: List[str] = Field(default_factory=list)
    last_cluster_operation: Optional[Dict[str, Any]] = None

    @property
    def name(self) -> str:
        """The name the server gives the artifact, derived from its source_url (the view has no name field)."""
        return artifact_name(self.source_url)

    @property
    def ref(self) -> str:
        """The explicit reference that names this artifact and nothing else."""
        url = self.source_url
        if self.artifact_type == 'label' and url.startswith('sf://label/'):
            return url
        if self.artifact_type == 'snapshot':
            return f'sf://snapshot/{self.uuid}'
        if url.startswith('sf://upload/'):
            return upload_url(self.namespace, self.name)
        return f'sf://artifact/{self.uuid}'

    @property
    def op_uuid(self) -> Optional[str]:
        """The UUID of the artifact's latest cluster operation (a URL fetch), when the server records one."""
        op = self.last_cluster_operation or {}
        value = op.get('op_uuid')
        return str(value) if value else None


class Blob(ApiModel):
    uuid: str
    state: str
    size: Optional[int] = None
    sha512: Optional[str] = None
    reference_count: Optional[int] = None
    depends_on: Optional[str] = None
    instances: List[str] = Field(default_factory=list)
    modified: Optional[float] = None
    fetched_at: Optional[float] = None
    checksums: Dict[str, Optional[str]] = Field(default_factory=dict)

    @model_validator(mode='before')
    @classmethod
    def _sha512_from_checksums(cls, data: Any) -> Any:
        # 0.7.2 sends only the top-level sha512; newer servers also send checksums.sha512. Either will do.
        if isinstance(data, dict) and not data.get('sha512'):
            checksums = data.get('checksums')
            if isinstance(checksums, dict) and checksums.get('sha512'):
                return {**data, 'sha512': checksums['sha512']}
        return data


class ArtifactVersion(Blob):
    """A blob view as returned by GET /artifacts/<ref>/versions, with its version index."""

    index: int


class Upload(ApiModel):
    uuid: str
    node: Optional[str] = None
    created_at: Optional[float] = None


class Namespace(ApiModel):
    name: str
    state: str = 'created'
    keys: List[str] = Field(default_factory=list)
    trust: Dict[str, List[str]] = Field(default_factory=dict)
    metadata: Dict[str, Any] = Field(default_factory=dict)


class Instance(ApiModel):
    uuid: str
    name: str
    namespace: str
    state: str
    metadata: Dict[str, Any] = Field(default_factory=dict)
    disk_spec: List[Dict[str, Any]] = Field(default_factory=list)
    disks: List[Dict[str, Any]] = Field(default_factory=list)
    interfaces: List[Dict[str, Any]] = Field(default_factory=list)  # each with the `network_uuid` it is on
    uefi: bool = False
    error_message: Optional[str] = None
    last_cluster_operation: Optional[Dict[str, Any]] = None


class Network(ApiModel):
    uuid: str
    name: Optional[str] = None
    namespace: str
    state: str
    metadata: Dict[str, Any] = Field(default_factory=dict)
    last_cluster_operation: Optional[Dict[str, Any]] = None


class NetworkInterface(ApiModel):
    """One entry of GET /networks/<uuid>/interfaces: what a network delete waits for on 0.7.2."""

    uuid: str
    network_uuid: Optional[str] = None
    instance_uuid: Optional[str] = None
    state: Optional[str] = None


class SnapshotRef(ApiModel):
    """One device of a POST /instances/<ref>/snapshot answer."""

    source_url: str
    artifact_uuid: str
    blob_uuid: str


class ClusterOperation(ApiModel):
    operation_type: str
    uuid: str
    state: str
    tasks: List[str] = Field(default_factory=list)
    error_message: Optional[str] = None
