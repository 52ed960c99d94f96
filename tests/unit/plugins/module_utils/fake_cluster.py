"""An in-memory Shaken Fist cluster behind the SfApi methods publishing calls, for unit tests of the publish domain.

It keeps the server's rules: versions numbered from 1 and never reused, a blob whose sha512 equals the newest
version's adds nothing (the answer is the unchanged view), max_versions trims the oldest (0 means the default, 3),
uploads are byte buffers (append answers the total, truncate cuts) and a conversion makes a blob whose sha512 is
computed from the bytes it stored. Like SfApi it caches the listing and version lists until a write or a refresh.
Ownership is not enforced on writes (0.7.2 lets trust be enough), so the client's own checks are what is tested.

Tests inject behaviour: hooks that run as another run's request just before or after our conversion, bytes
stored wrongly, a conversion that fails (after storing or not), uploads the server forgot, fetches that take a
few polls. Time only passes in `pause`, which sleeps not at all.
"""

from __future__ import annotations

import hashlib
import time
import uuid as uuidlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional

from ansible_collections.shakenfist.storage.plugins.module_utils._api import SfApi
from ansible_collections.shakenfist.storage.plugins.module_utils._config import ConnectionSettings
from ansible_collections.shakenfist.storage.plugins.module_utils._errors import (
    SfCheckModeWrite,
    SfError,
    SfInvalidInput,
    SfNotFound,
)
from ansible_collections.shakenfist.storage.plugins.module_utils._features import ServerFeatures
from ansible_collections.shakenfist.storage.plugins.module_utils._index import ArtifactIndex, ListingIndex
from ansible_collections.shakenfist.storage.plugins.module_utils._models import (
    Artifact,
    ArtifactVersion,
    Blob,
    ClusterOperation,
    Upload,
    VersionRef,
)
from ansible_collections.shakenfist.storage.plugins.module_utils._plan import Outcome, PlanFailed, execute
from ansible_collections.shakenfist.storage.plugins.module_utils._publish import Publisher
from ansible_collections.shakenfist.storage.plugins.module_utils._publish_state import PublishRequest
from ansible_collections.shakenfist.storage.plugins.module_utils._refs import artifact_name
from ansible_collections.shakenfist.storage.plugins.module_utils._resolver import Resolver

DEFAULT_MAX_VERSIONS = 3
ACTIVE = ('initial', 'created', 'error')
OP_TYPE = 'artifact_fetch_op'
CAPABILITIES = ('blob-search-by-hash', 'artifact-metadata', 'get-cluster-operations')
MIB = 1024 * 1024


def sha512(data: bytes) -> str:
    return hashlib.sha512(data).hexdigest()


@dataclass
class BlobRow:
    uuid: str
    data: bytes
    sha512: Optional[str]
    fetched_at: Optional[float] = None
    state: str = 'created'
    instances: List[str] = field(default_factory=list)


@dataclass
class ArtifactRow:
    uuid: str
    namespace: str
    artifact_type: str
    source_url: str
    state: str = 'created'
    shared: bool = False
    max_versions: int = 0
    highest_index: int = 0
    versions: Dict[int, str] = field(default_factory=dict)  # index -> blob uuid, oldest first
    metadata: Dict[str, Any] = field(default_factory=dict)
    error_message: Optional[str] = None
    op_uuid: Optional[str] = None
    events: List[Dict[str, Any]] = field(default_factory=list)  # besides one per version
    name: Optional[str] = None  # the server's name, when it differs from the one its source_url gives


@dataclass
class Fetch:
    """A cluster operation fetching a URL; it finishes after `remaining` pauses of the client."""

    uuid: str
    artifact_uuid: str
    url: str
    remaining: int
    state: str = 'executing'


@dataclass
class ConvertFault:
    error: SfError
    stored: bool  # the version was stored before the error answer (or the timeout)
    creates_artifact: bool = False  # some servers create the artifact before failing


class Response:
    """What SfApi.open_url returns: a streamed body with headers."""

    def __init__(self, body: bytes, headers: Dict[str, str], status_code: int = 200) -> None:
        self.body = body
        self.headers = headers
        self.status_code = status_code

    @property
    def length(self) -> Optional[int]:
        text = self.headers.get('Content-Length')
        return int(text) if text and text.isdigit() else None

    def blocks(self, size: int) -> Iterator[bytes]:
        for start in range(0, len(self.body), size):
            yield self.body[start:start + size]

    def close(self) -> None:
        pass

    def __enter__(self) -> Response:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class FakeCluster:
    """The SfApi surface publishing uses, over an in-memory server. `writes` records every non-GET request."""

    wait_until = SfApi.wait_until  # the real poller, whose pauses tick this cluster's clock

    def __init__(self, namespace: str = 'ci', *, trusted_by: tuple = (), timeout: float = 0.05,
                 retries: int = 2) -> None:
        self.settings = ConnectionSettings(api_url='https://sf.example/api', namespace=namespace, key='key-123',
                                           timeout=timeout, retries=retries)
        self.read_only = False  # check mode: every write is refused, as the read-only transport does
        self.pauses = 0
        self.trusted_by = set(trusted_by)  # namespaces that trust the caller
        self.capabilities = set(CAPABILITIES)
        self.artifacts: Dict[str, ArtifactRow] = {}
        self.blobs: Dict[str, BlobRow] = {}
        self.uploads: Dict[str, bytearray] = {}
        self.ops: Dict[str, Fetch] = {}
        self.writes: List[tuple] = []
        self.op_polls = 0
        self.clock_ticks = 0  # the server's event clock
        # What fetching a URL gives the cluster: bytes, or an error message; and how many pauses a fetch takes.
        self.remote: Dict[str, Any] = {}
        self.fetch_pauses = 1
        self.forget_finished_ops = False  # servers remove finished operations after a while
        # What the controller host sees at a URL (downloads, HEAD), with extra headers.
        self.web: Dict[str, bytes] = {}
        self.web_headers: Dict[str, Dict[str, str]] = {}
        # Injected behaviour of the next conversion(s).
        self.before_convert: List[Callable[[], Any]] = []
        self.after_convert: List[Callable[[], Any]] = []
        self.store: Callable[[bytes], bytes] = lambda data: data
        self.convert_fault: Optional[ConvertFault] = None
        self.convert_faults_stay = False  # every conversion fails, not only the next one
        self.on_append: Optional[Callable[[int], None]] = None  # hears the call count before each append
        self.report_sha512 = True
        self._index: Optional[ArtifactIndex] = None
        self._versions: Dict[str, List[ArtifactVersion]] = {}

    # Seeding and inspecting (no request recorded)
    @property
    def namespace(self) -> str:
        return self.settings.namespace

    @property
    def url(self) -> str:
        return self.settings.api_url

    @property
    def retries(self) -> int:
        return self.settings.retries

    @property
    def timeout(self) -> float:
        return self.settings.timeout

    def pause(self, attempt: int, reason: str, cap: float = 8.0, base: float = 0.25) -> None:
        self.pauses += 1
        self.tick()

    def open_url(self, url: str, method: str = 'GET', headers: Optional[Dict[str, str]] = None) -> Response:
        """URLs outside the API (controller downloads, check mode's HEAD): `web`."""
        body = self.web.get(url)
        if body is None:
            raise SfNotFound(f'{method} {url} answered HTTP 404', status=404, method=method)
        found = {'Content-Length': str(len(body)), **self.web_headers.get(url, {})}
        return Response(b'' if method == 'HEAD' else body, found)

    @property
    def is_system(self) -> bool:
        return self.namespace == 'system'

    def new_blob(self, data: bytes, fetched_at: Optional[float] = None) -> str:
        uuid = str(uuidlib.uuid4())
        self.blobs[uuid] = BlobRow(uuid, data, sha512(data), fetched_at)
        return uuid

    def seed(self, source_url: str, contents: List[bytes], *, namespace: Optional[str] = None,
             artifact_type: str = 'image', max_versions: int = 0, state: str = 'created', shared: bool = False,
             error_message: Optional[str] = None, op_uuid: Optional[str] = None) -> str:
        row = ArtifactRow(str(uuidlib.uuid4()), namespace or self.namespace, artifact_type, source_url, state,
                          shared, max_versions, error_message=error_message, op_uuid=op_uuid)
        self.artifacts[row.uuid] = row
        for data in contents:
            self.add_version(row.uuid, self.new_blob(data, fetched_at=time.time() - 3600))
        return row.uuid

    def upload_named(self, name: str, contents: List[bytes], **kwargs: Any) -> str:
        namespace = kwargs.get('namespace') or self.namespace
        return self.seed(f'sf://upload/{namespace}/{name}', contents, **kwargs)

    def add_version(self, artifact_uuid: str, blob_uuid: str) -> bool:
        """The server's rule: nothing is added when the newest version has this blob or these bytes."""
        row = self.artifacts[artifact_uuid]
        if row.versions:
            newest = self.blobs[row.versions[max(row.versions)]]
            if newest.uuid == blob_uuid or newest.sha512 == self.blobs[blob_uuid].sha512:
                return False
        row.highest_index += 1
        row.versions[row.highest_index] = blob_uuid
        self._trim(row)
        return True

    def another_run_adds(self, artifact_uuid: str, data: bytes) -> Callable[[], bool]:
        """A hook: another run's conversion of `data` into the artifact, served by the server meanwhile."""
        return lambda: self.add_version(artifact_uuid, self.new_blob(data))

    def _trim(self, row: ArtifactRow) -> None:
        keep = row.max_versions or DEFAULT_MAX_VERSIONS
        for index in sorted(row.versions)[:-keep]:
            del row.versions[index]

    def find(self, source_url: str, namespace: Optional[str] = None) -> Optional[ArtifactRow]:
        """The active artifact with this source URL (owned by `namespace`, default the caller)."""
        owner = namespace or self.namespace
        found = [a for a in self.artifacts.values()
                 if a.source_url == source_url and a.namespace == owner and a.state in ACTIVE]
        return found[0] if found else None

    def indexes(self, artifact_uuid: str) -> List[int]:
        return sorted(self.artifacts[artifact_uuid].versions)

    def sha_of(self, artifact_uuid: str, index: int) -> Optional[str]:
        return self.blobs[self.artifacts[artifact_uuid].versions[index]].sha512

    def wrote(self, call: str) -> List[tuple]:
        return [w for w in self.writes if w[0] == call]

    def fail_next_convert(self, error: SfError, *, stored: bool, creates_artifact: bool = False) -> None:
        self.convert_fault = ConvertFault(error, stored, creates_artifact)

    # Views
    def _visible(self, row: ArtifactRow) -> bool:
        return self.is_system or row.shared or row.namespace == self.namespace or row.namespace in self.trusted_by

    def _view(self, row: ArtifactRow) -> Artifact:
        blobs = {} if row.state == 'deleted' else {
            index: VersionRef(uuid=uuid, size=len(self.blobs[uuid].data)) for index, uuid in row.versions.items()}
        newest = max(blobs) if blobs else 0
        return Artifact(
            uuid=row.uuid, state=row.state, artifact_type=row.artifact_type, source_url=row.source_url,
            namespace=row.namespace, shared=row.shared, max_versions=row.max_versions or DEFAULT_MAX_VERSIONS,
            index=newest, blob_uuid=blobs[newest].uuid if blobs else None, blobs=blobs, metadata=dict(row.metadata),
            error_message=row.error_message,
            last_cluster_operation={'op_type': OP_TYPE, 'op_uuid': row.op_uuid} if row.op_uuid else None)

    def _blob_view(self, blob: BlobRow) -> Dict[str, Any]:
        return {'uuid': blob.uuid, 'state': blob.state, 'size': len(blob.data),
                'sha512': blob.sha512 if self.report_sha512 else None, 'fetched_at': blob.fetched_at,
                'instances': list(blob.instances)}

    def _row(self, uuid: str) -> ArtifactRow:
        row = self.artifacts.get(uuid)
        if row is None or not self._visible(row):
            raise SfNotFound(f'GET /artifacts/{uuid} failed: artifact not found', status=404)
        return row

    # Reads (SfApi)
    def has_capability(self, name: str) -> bool:
        return name in self.capabilities

    @property
    def features(self) -> ServerFeatures:
        return ServerFeatures.from_root_page(' '.join(sorted(self.capabilities)))

    def forget(self) -> None:
        self._index = None
        self._versions.clear()

    def index(self, refresh: bool = False) -> ArtifactIndex:
        if refresh:
            self._index = ArtifactIndex(self._listing())
        elif self._index is None:
            self._index = ListingIndex(self._listing, self.find_named)
        return self._index

    def _listing(self) -> List[Artifact]:
        return [self._view(a) for a in self.artifacts.values() if a.state in ACTIVE and self._visible(a)]

    def find_named(self, name: str) -> Optional[Artifact]:
        """As 0.7.2's GET /artifacts/<name>: active artifacts of that server name in our namespace (system: in any);
        none or several (a 400) are None."""
        found = [row for row in self.artifacts.values()
                 if row.state in ACTIVE and (row.name or artifact_name(row.source_url)) == name
                 and (self.is_system or row.namespace == self.namespace)]
        return self._view(found[0]) if len(found) == 1 else None

    def list_artifacts(self, refresh: bool = False) -> List[Artifact]:
        return self.index(refresh).artifacts

    def get_artifact(self, ref: str) -> Artifact:
        return self._view(self._row(ref))

    def find_artifact(self, ref: str) -> Optional[Artifact]:
        try:
            return self.get_artifact(ref)
        except SfNotFound:
            return None

    def artifact_versions(self, uuid: str, refresh: bool = False) -> List[ArtifactVersion]:
        if uuid not in self._versions or refresh:
            row = self._row(uuid)
            self._versions[uuid] = [ArtifactVersion.model_validate({**self._blob_view(self.blobs[b]), 'index': i})
                                    for i, b in sorted(row.versions.items())]
        return list(self._versions[uuid])

    def get_blob(self, uuid: str) -> Blob:
        if uuid not in self.blobs:
            raise SfNotFound(f'blob {uuid} not found', status=404)
        return Blob.model_validate(self._blob_view(self.blobs[uuid]))

    def find_blob_by_sha512(self, value: str) -> Optional[Blob]:
        if not self.has_capability('blob-search-by-hash'):
            return None
        found = [b for b in self.blobs.values() if b.sha512 == value and b.state == 'created']
        return Blob.model_validate(self._blob_view(found[0])) if found else None

    def get_metadata(self, uuid: str) -> Dict[str, Any]:
        return dict(self._row(uuid).metadata)

    def artifact_events(self, uuid: str, limit: int, owner: Optional[str] = None) -> List[Dict[str, Any]]:
        """One event per version, and the fetch events, newest first, as the server lists them."""
        row = self._row(uuid)
        versions: List[Dict[str, Any]] = [
            {'timestamp': float(index), 'type': 'audit', 'message': f'version {index} added', 'fqdn': 'sf-1',
             'duration': None, 'extra': {}} for index in row.versions]
        return sorted(versions + row.events, key=lambda e: e['timestamp'], reverse=True)[:limit]

    def _event(self, row: ArtifactRow, text: str, **extra: Any) -> None:
        self.clock_ticks += 1
        row.events.append({'timestamp': 1000.0 + self.clock_ticks, 'type': 'audit', 'message': text,
                           'fqdn': 'sf-1', 'duration': None, 'extra': extra})

    def namespace_trusts(self, owner: str, caller: Optional[str] = None) -> bool:
        return (caller or self.namespace) in ('system', owner) or owner in self.trusted_by

    def get_operation(self, op_type: str, uuid: str) -> ClusterOperation:
        self.op_polls += 1
        op = self.ops.get(uuid)
        if op is None:
            raise SfNotFound(f'operation {uuid} not found', status=404)
        return ClusterOperation(operation_type=op_type, uuid=uuid, state=op.state)

    # Writes (SfApi); every one is refused in check mode, as the read-only transport does
    def _write(self, *record: Any, forget: bool = True) -> None:
        if self.read_only:
            raise SfCheckModeWrite(f'refusing to send {record[0]} in check mode')
        self.writes.append(record)
        if forget:
            self.forget()

    def delete_artifact(self, uuid: str) -> Optional[Artifact]:
        self._write('delete_artifact', uuid)
        row = self._row(uuid)
        if row.state == 'deleted':
            return None
        row.state, row.versions = 'deleted', {}
        return self._view(row)

    def delete_version(self, uuid: str, index: int) -> Artifact:
        self._write('delete_version', uuid, index)
        row = self._row(uuid)
        if index not in row.versions:
            raise SfNotFound('artifact index not found', status=404)
        del row.versions[index]
        if not row.versions:
            row.state = 'deleted'
        return self._view(row)

    def set_max_versions(self, uuid: str, max_versions: int) -> None:
        self._write('set_max_versions', uuid, max_versions)
        row = self._row(uuid)
        row.max_versions = max_versions
        self._trim(row)

    def share(self, uuid: str) -> Artifact:
        self._write('share', uuid)
        self._row(uuid).shared = True
        return self._view(self._row(uuid))

    def unshare(self, uuid: str) -> Artifact:
        self._write('unshare', uuid)
        self._row(uuid).shared = False
        return self._view(self._row(uuid))

    def set_metadata(self, uuid: str, key: str, value: Any) -> None:
        if not value:  # as 0.7.2 answers a falsy value
            raise SfInvalidInput(f'PUT /artifacts/{uuid}/metadata/{key} failed: no value specified', status=400)
        self._write('set_metadata', uuid, key)
        self._row(uuid).metadata[key] = value

    def delete_metadata(self, uuid: str, key: str) -> None:
        self._write('delete_metadata', uuid, key)
        self._row(uuid).metadata.pop(key, None)

    def create_upload(self) -> Upload:
        uuid = str(uuidlib.uuid4())
        self._write('create_upload', uuid)
        self.uploads[uuid] = bytearray()
        return Upload(uuid=uuid)

    def _upload(self, uuid: str) -> bytearray:
        if uuid not in self.uploads:
            raise SfNotFound(f'upload {uuid} not found', status=404)
        return self.uploads[uuid]

    def append_upload(self, uuid: str, chunk: bytes, timeout: Optional[float] = None) -> int:
        self._write('append_upload', uuid, len(chunk), forget=False)
        if self.on_append:
            self.on_append(len(self.wrote('append_upload')))
        buffer = self._upload(uuid)
        buffer.extend(chunk)
        return len(buffer)

    def upload_size(self, uuid: str) -> int:
        self._write('upload_size', uuid, forget=False)
        return len(self._upload(uuid))

    def truncate_upload(self, uuid: str, offset: int) -> None:
        self._write('truncate_upload', uuid, offset, forget=False)
        del self._upload(uuid)[offset:]

    def _owned_or_new(self, namespace: str, artifact_type: str, source_url: str, state: str,
                      name: Optional[str] = None) -> ArtifactRow:
        found = self.find(source_url, namespace)
        if found is not None and found.artifact_type == artifact_type:
            return found
        row = ArtifactRow(str(uuidlib.uuid4()), namespace, artifact_type, source_url, state, name=name)
        self.artifacts[row.uuid] = row
        return row

    def convert_upload(self, name: str, *, namespace: str, upload_uuid: Optional[str] = None,
                       blob_uuid: Optional[str] = None, source_url: Optional[str] = None, shared: bool = False,
                       artifact_type: str = 'image') -> Artifact:
        self._write('convert_upload', name, upload_uuid, blob_uuid)
        if bool(upload_uuid) == bool(blob_uuid):
            raise SfInvalidInput('specify one of upload_uuid and blob_uuid', status=400)
        source_url = source_url or f'sf://upload/{self.namespace}/{name}'
        while self.before_convert:
            self.before_convert.pop(0)()
        fault, self.convert_fault = self.convert_fault, (self.convert_fault if self.convert_faults_stay else None)
        if fault and not fault.stored:
            if fault.creates_artifact:
                self._owned_or_new(namespace, artifact_type, source_url, 'initial', name)
            raise fault.error
        if blob_uuid:
            if blob_uuid not in self.blobs or self.blobs[blob_uuid].state != 'created':
                raise SfNotFound('blob not found', status=404)
            new_blob = None
        else:
            data = bytes(self._upload(upload_uuid or ''))
            del self.uploads[upload_uuid or '']
            # The sha512 is the server's own, of the bytes it stored.
            blob_uuid = new_blob = self.new_blob(self.store(data))
        row = self._owned_or_new(namespace, artifact_type, source_url, 'created', name)
        added = self.add_version(row.uuid, blob_uuid)
        if new_blob and not added:
            del self.blobs[new_blob]  # the newest version has these bytes: nothing keeps this blob
        row.state, row.error_message = 'created', None
        answer = self._view(row)
        while self.after_convert:
            self.after_convert.pop(0)()
        if fault:
            raise fault.error
        return answer

    def update_label(self, namespace: str, name: str, blob_uuid: str, max_versions: Optional[int] = None) -> Artifact:
        self._write('update_label', f'{namespace}/{name}', blob_uuid)
        # The server names a label as the request did: `web` in our namespace, `<ns>/web` elsewhere (SfApi).
        row = self._owned_or_new(namespace, 'label', f'sf://label/{namespace}/{name}', 'created',
                                 name if namespace == self.namespace else f'{namespace}/{name}')
        if not row.versions and max_versions:
            row.max_versions = max_versions
        self.add_version(row.uuid, blob_uuid)
        return self._view(row)

    def cache_url(self, url: str, namespace: Optional[str] = None, shared: bool = False) -> Artifact:
        self._write('cache_url', url)
        row = self._owned_or_new(namespace or self.namespace, 'image', url, 'initial')
        row.shared = row.shared or shared
        op = Fetch(str(uuidlib.uuid4()), row.uuid, url, self.fetch_pauses)
        self.ops[op.uuid] = op
        row.op_uuid = op.uuid
        return self._view(row)

    def tick(self) -> None:
        """Time passes: running fetches make progress and finish."""
        for op in self.ops.values():
            if op.state != 'executing':
                continue
            op.remaining -= 1
            if op.remaining > 0:
                continue
            row = self.artifacts[op.artifact_uuid]
            content = self.remote.get(op.url)
            # 0.7.2 (no cluster operations) keeps an artifact with versions as it is when a fetch fails, and
            # only says so in an event; every fetch that ends well writes 'artifact fetch complete'.
            like_0_7_2 = 'get-cluster-operations' not in self.capabilities
            if row.state == 'deleted':
                op.state = 'complete'
            elif not isinstance(content, bytes):
                reason = content or f'fetching {op.url} failed: HTTP 404'
                if like_0_7_2 and row.versions:
                    self._event(row, 'updating image failed, using already cached version', message=reason)
                else:
                    row.state, row.error_message = 'error', reason
                op.state = 'error'
            else:
                self.add_version(row.uuid, self.new_blob(content, fetched_at=time.time()))
                row.state, row.error_message = 'created', None
                self._event(row, 'artifact fetch complete')
                op.state = 'complete'
        if self.forget_finished_ops:
            self.ops = {uuid: op for uuid, op in self.ops.items() if op.state == 'executing'}


def publish(api: FakeCluster, *, check_mode: bool = False, between: Optional[Callable[[], Any]] = None,
            **options: Any) -> Outcome:
    """What sf_image_publish does: plan, then execute (check mode: a read-only transport). `between` runs after
    planning and before the steps: another run changing the cluster meanwhile."""
    options.setdefault('state_dir', None)  # no local state unless a test asks for it
    request = PublishRequest(target=options.pop('target', api.namespace), **options)
    api.read_only = check_mode
    try:
        with Publisher(api, Resolver(api), request, predict=check_mode) as publisher:
            plan = publisher.plan()
            if between is not None:
                between()
            return execute(plan, check_mode)
    finally:
        api.read_only = False


def failing(api: FakeCluster, **options: Any) -> PlanFailed:
    """A publish whose plan failed in a step: the error with the outcome of the steps that ran."""
    try:
        publish(api, **options)
    except PlanFailed as exc:
        return exc
    raise AssertionError('the publish did not fail in a step')


def a_file(directory: Path, data: bytes, name: str = 'image.qcow2') -> str:
    path = directory / name
    path.write_bytes(data)
    return str(path)


def steps(outcome: Outcome) -> List[tuple]:
    return [(step['step'], step['status']) for step in outcome.plan]
