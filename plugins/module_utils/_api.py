# Copyright: Shaken Fist storage collection contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Domain client: one method per Shaken Fist API operation, returning pydantic models.

Knows the API's shapes and quirks, nothing about Ansible. Every answer is read through a `parse` function that
the transport applies, so a malformed answer (missing fields, wrong types, HTML, an empty body) is always a typed
server_error naming the request, never a traceback. The artifact listing is read once per run and dropped
whenever this client writes, so resolving many references costs one listing at most.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any, Callable, Dict, Iterable, Iterator, List, Mapping, Optional, Type, TypeVar

from ._errors import SfError, SfInvalidInput, SfNotFound, SfServerError, SfTimeout, SfUnsupported
from ._features import ServerFeatures
from ._http import BACKOFF_BASE, MAX_BACKOFF, SfTransport
from ._index import ArtifactIndex, ListingIndex
from ._models import (
    ApiModel,
    Artifact,
    ArtifactVersion,
    Blob,
    ClusterOperation,
    Instance,
    Namespace,
    Network,
    NetworkInterface,
    SnapshotRef,
    Upload,
)

M = TypeVar('M', bound=ApiModel)
T = TypeVar('T')

# Polls wait at most this long between looks; LISTING_POLL_CAP for polls whose every look is one cheap listing.
POLL_CAP = 2.0
LISTING_POLL_CAP = 0.5
# A listing poll starts this fast (a delete the server does at once is seen at once) and backs off to its cap.
LISTING_POLL_BASE = 0.05


def one(model: Type[M]) -> Callable[[Any], M]:
    return model.model_validate


def optional(model: Type[M]) -> Callable[[Any], Optional[M]]:
    return lambda raw: None if raw is None else model.model_validate(raw)


def items(raw: Any) -> List[Any]:
    """A list answer (`null`: an empty one)."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise TypeError(f'expected a list, got {type(raw).__name__}')
    return raw


def many(model: Type[M]) -> Callable[[Any], List[M]]:
    return lambda raw: [model.model_validate(item) for item in items(raw)]


def integer(raw: Any) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise TypeError(f'expected an integer, got {type(raw).__name__}')
    return raw


def mapping(raw: Any) -> Dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise TypeError(f'expected an object, got {type(raw).__name__}')
    return raw


def nothing(raw: Any) -> None:
    """Routes that answer `null` (or anything: the answer carries no information we use)."""
    return None


def strings(raw: Any) -> List[str]:
    return [str(item) for item in items(raw)]


def events_list(raw: Any) -> List[Dict[str, Any]]:
    return [mapping(item) for item in items(raw)]


def snapshot_refs(raw: Any) -> Dict[str, SnapshotRef]:
    return {str(device): SnapshotRef.model_validate(item) for device, item in mapping(raw).items()}


METADATA_ROUTES = {'artifact': '/artifacts/{}/metadata', 'instance': '/instances/{}/metadata',
                   'network': '/networks/{}/metadata'}


class Stream:
    """A streamed answer: its status, headers, announced length (None when the server streams without one) and its
    blocks; a context manager that closes it. `url`: the answer is from that URL outside the API, which errors name."""

    def __init__(self, transport: SfTransport, response: Any, url: Optional[str] = None) -> None:
        self._transport = transport
        self._response = response
        self.url = url
        self.status_code: int = response.status_code
        self.headers: Mapping[str, str] = response.headers
        length = response.headers.get('Content-Length')
        self.length: Optional[int] = int(length) if length and length.isdigit() else None
        self._body = transport.body(response, url=url)

    def fill(self, view: memoryview) -> int:
        """Read into the start of `view` until it is full or the body ends; returns the byte count."""
        return self._body.fill(view)

    def blocks(self, size: int) -> Iterator[bytes]:
        return self._body.blocks(size)

    def close(self) -> None:
        self._response.close()

    def __enter__(self) -> Stream:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class SfApi:
    def __init__(self, transport: SfTransport) -> None:
        self.transport = transport
        self._index: Optional[ArtifactIndex] = None
        self._versions: Dict[str, List[ArtifactVersion]] = {}
        self._features: Optional[ServerFeatures] = None

    @property
    def namespace(self) -> str:
        """The namespace the connection authenticates as."""
        return self.transport.namespace

    @property
    def url(self) -> str:
        """The API URL: with the namespace, what names a cluster in local lock names."""
        return self.transport.base_url

    @property
    def features(self) -> ServerFeatures:
        """What the server can do (its root page, read once): the one place code paths are chosen by version."""
        if self._features is None:
            self._features = ServerFeatures.from_root_page(self.transport.capabilities())
        return self._features

    # Pacing: the connection's retry settings and the one backoff schedule, for the domain's own retries and polls
    # (domain code never reaches past this class into the transport).
    @property
    def retries(self) -> int:
        """How many times a failed step is tried again (the `retries` option)."""
        return self.transport.settings.retries

    @property
    def timeout(self) -> float:
        """Seconds one request may take (the `timeout` option)."""
        return self.transport.settings.timeout

    def pause(self, attempt: int, reason: str, cap: float = MAX_BACKOFF, base: float = BACKOFF_BASE) -> None:
        """Sleep on the shared backoff schedule before retry `attempt` (logged with `reason`)."""
        self.transport.pause(attempt, reason, cap=cap, base=base)

    def wait_until(self, check: Callable[[], Optional[T]], timeout: float, describe: str, cap: float = POLL_CAP,
                   hint: Optional[str] = None, base: float = BACKOFF_BASE) -> T:
        """The one poller. Call `check` on the shared backoff schedule (from `base`, at most `cap` seconds apart)
        until it returns something other than None, and return that; a typed `timeout` naming `describe` once
        `timeout` seconds have passed (`timeout` 0: one look). `check` raises to stop early (a failed operation is an
        error at once, not after the deadline)."""
        deadline = time.monotonic() + timeout
        attempt = 0
        while True:
            attempt += 1
            found = check()
            if found is not None:
                return found
            if time.monotonic() >= deadline:
                raise SfTimeout(f'{describe} did not happen within {timeout:.0f}s',
                                hint=hint or 'raise wait_timeout, or look at the object with sf-client')
            self.pause(attempt, f'waiting until {describe}', cap=cap, base=base)

    # URLs outside the API (controller downloads, checking a source URL): the same TLS settings, timeouts and
    # redaction, never the API token; errors name that URL.
    def open_url(self, url: str, method: str = 'GET', headers: Optional[Dict[str, str]] = None) -> Stream:
        return Stream(self.transport, self.transport.open_url(url, method=method, headers=headers), url=url)

    def _read(self, template: str, *segments: Any, parse: Callable[[Any], Any], **kwargs: Any) -> Any:
        return self.transport.request('GET', template, *segments, parse=parse, **kwargs)

    def _write(self, method: str, template: str, *segments: Any, parse: Callable[[Any], Any] = nothing,
               **kwargs: Any) -> Any:
        self.forget()
        return self.transport.request(method, template, *segments, parse=parse, **kwargs)

    def forget(self) -> None:
        """Drop what was read: the next read sees the world as it is now (after our writes or someone else's)."""
        self._index = None
        self._versions.clear()

    # Artifacts
    def index(self, refresh: bool = False) -> ArtifactIndex:
        """Every artifact the caller can see, read on first need and then kept until a write or a refresh (which
        forgets what was read, so the next question sees the world as it is now): a label or an upload asked for
        by owner and name may be found by name without the listing (ListingIndex)."""
        if refresh or self._index is None:
            self._index = ListingIndex(self._listing, self.find_named)
        return self._index

    def _listing(self) -> List[Artifact]:
        return self._read('/artifacts', json={'node': None}, parse=many(Artifact))

    def list_artifacts(self, refresh: bool = False) -> List[Artifact]:
        return self.index(refresh).artifacts

    def get_artifact(self, ref: str) -> Artifact:
        # No `namespace` body on reads: 0.7.2 answers it with 400 (docs/compatibility.md row 18).
        return self._read('/artifacts/{}', ref, parse=one(Artifact))

    def find_artifact(self, ref: str) -> Optional[Artifact]:
        try:
            return self.get_artifact(ref)
        except SfNotFound:
            return None

    def find_named(self, name: str) -> Optional[Artifact]:
        """The one active artifact the server finds by this name, or None: none (404) or several (400). 0.7.2 looks
        in the caller's namespace (system: in every namespace); newer servers then widen to what the caller can see."""
        try:
            return self.get_artifact(name)
        except (SfNotFound, SfInvalidInput):
            return None

    def artifact_versions(self, uuid: str, refresh: bool = False) -> List[ArtifactVersion]:
        if uuid not in self._versions or refresh:
            try:
                self._versions[uuid] = self._read('/artifacts/{}/versions', uuid, parse=many(ArtifactVersion))
            except SfServerError as exc:
                if exc.status != 500:
                    raise
                # 0.7.2 answers 500 when a tenant reads a shared system artifact; the listing and the blob
                # routes (which have no ownership checks) give the same facts.
                self._versions[uuid] = self._versions_from_listing(uuid)
        return self._versions[uuid]

    def _versions_from_listing(self, uuid: str) -> List[ArtifactVersion]:
        artifact = self.index().get(uuid)
        if artifact is None:
            raise SfNotFound(f'artifact {uuid} is not visible to namespace {self.namespace!r}')
        versions = []
        for index, ref in sorted(artifact.blobs.items()):
            blob = self.get_blob(ref.uuid)
            versions.append(ArtifactVersion.model_validate({**blob.model_dump(), 'index': index}))
        return versions

    def delete_artifact(self, uuid: str) -> Optional[Artifact]:
        # Deleting by UUID twice answers 200 null, so a repeat after an unknown outcome is harmless.
        return self._write('DELETE', '/artifacts/{}', uuid, idempotent=True, parse=optional(Artifact))

    def delete_version(self, uuid: str, index: int) -> Artifact:
        return self._write('DELETE', '/artifacts/{}/versions/{}', uuid, index, parse=one(Artifact))

    def set_max_versions(self, uuid: str, max_versions: int) -> None:
        self._write('POST', '/artifacts/{}/versions', uuid, json={'max_versions': max_versions}, idempotent=True)

    def share(self, uuid: str) -> Artifact:
        return self._write('POST', '/artifacts/{}/share', uuid, idempotent=True, parse=one(Artifact))

    def unshare(self, uuid: str) -> Artifact:
        return self._write('POST', '/artifacts/{}/unshare', uuid, parse=one(Artifact))

    def get_metadata(self, uuid: str) -> Dict[str, Any]:
        return self.object_metadata('artifact', uuid)

    def object_metadata(self, kind: str, uuid: str) -> Dict[str, Any]:
        """The metadata of an artifact, instance or network, from its own route (the owner or system may read it)."""
        return self._read(METADATA_ROUTES[kind], uuid, parse=mapping)

    def set_metadata(self, uuid: str, key: str, value: Any) -> None:
        refuse_empty_metadata(key, value)
        self._write('PUT', '/artifacts/{}/metadata/{}', uuid, key, json={'value': value})

    def delete_metadata(self, uuid: str, key: str) -> None:
        """Delete one key; a key that is not there is no change (0.7.2 answers 200 null, newer servers 404)."""
        with contextlib.suppress(SfNotFound):
            self._write('DELETE', '/artifacts/{}/metadata/{}', uuid, key, idempotent=True)

    def artifact_events(self, uuid: str, limit: int, owner: Optional[str] = None) -> List[Dict[str, Any]]:
        """The artifact's events, newest first, at most `limit`. The limit goes to the server when it says it takes
        one; 0.7.2 says so and ignores it (docs/compatibility.md rows 1 and 41), so the list is always cut here.
        `owner` (the artifact's namespace) turns 0.7.2's 500 for another namespace's shared artifact into a typed
        error that says so."""
        body = {'limit': int(limit)} if self.features.events_by_type else None
        try:
            events = self._read('/artifacts/{}/events', uuid, json=body, parse=events_list)
        except SfServerError as exc:
            if exc.status == 500 and owner and owner != self.namespace:
                raise SfUnsupported(
                    f'the server cannot return the events of artifact {uuid} to namespace {self.namespace!r}: it is '
                    f'shared by namespace {owner!r}, and Shaken Fist 0.7.2 fails (HTTP 500) when another namespace '
                    'reads such events', status=500, method='GET', path=f'/artifacts/{uuid}/events',
                    hint=f'read them as namespace {owner!r} or system') from None
            raise
        return events[:limit]

    def cache_url(self, url: str, namespace: Optional[str] = None, shared: bool = False) -> Artifact:
        # The server reuses an owned artifact with this URL, so repeating the request cannot duplicate it.
        body = {'url': url, 'shared': shared, 'namespace': namespace or self.namespace}
        return self._write('POST', '/artifacts', json=body, idempotent=True, parse=one(Artifact))

    # Uploads
    def create_upload(self) -> Upload:
        # An upload nobody converts is invisible to users and expires, so a repeated create is harmless.
        return self._write('POST', '/upload', idempotent=True, parse=one(Upload))

    def append_upload(self, uuid: str, chunk: Any, timeout: Optional[float] = None) -> int:
        """Append raw bytes (bytes or a memoryview, sent without copying); returns the server's total size.
        Never retried here: the caller resumes."""
        return self.transport.request('POST', '/upload/{}', uuid, data=chunk, retries=0, timeout=timeout,
                                      headers={'Content-Type': 'application/octet-stream'}, parse=integer)

    def upload_size(self, uuid: str) -> int:
        """The bytes an upload holds: appending nothing answers the total (there is no read route)."""
        return self.transport.request('POST', '/upload/{}', uuid, data=b'', idempotent=True,
                                      headers={'Content-Type': 'application/octet-stream'}, parse=integer)

    def truncate_upload(self, uuid: str, offset: int) -> None:
        self.transport.request('POST', '/upload/{}/truncate/{}', uuid, int(offset), idempotent=True, parse=nothing)

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
        return self._write('POST', '/artifacts/upload/{}', name, json=body, idempotent=bool(blob_uuid),
                           parse=one(Artifact))

    # Blobs
    def get_blob(self, uuid: str) -> Blob:
        return self._read('/blobs/{}', uuid, parse=one(Blob))

    def find_blob_by_sha512(self, sha512: str) -> Optional[Blob]:
        """A created blob with this sha512, or None (the server answers 200 null on a miss)."""
        if not self.features.blob_search_by_hash:
            return None
        return self._read('/blob_checksums/sha512/{}', sha512, parse=optional(Blob))

    def blob_data(self, uuid: str, offset: int = 0) -> Stream:
        """The blob's bytes from `offset` to the end, streamed. One request without `limit`: 0.7.2 ignores limit,
        and every supported server honours offset (docs/compatibility.md row 2)."""
        params = {'offset': offset} if offset else None
        response = self.transport.request('GET', '/blobs/{}/data', uuid, params=params, stream=True)
        return Stream(self.transport, response)

    # Labels
    def update_label(self, namespace: str, name: str, blob_uuid: str, max_versions: Optional[int] = None) -> Artifact:
        body: Dict[str, Any] = {'blob_uuid': blob_uuid}
        if max_versions:
            body['max_versions'] = max_versions
        # Pointing a label at the blob it already has is skipped by the server: a repeat is harmless. A label in
        # the caller's own namespace goes by its plain name, as the official client does, so the server names the
        # artifact `web` (found by `GET /artifacts/web`), not `<ns>/web`.
        if namespace == self.namespace:
            return self._write('POST', '/label/{}', name, json=body, idempotent=True, parse=one(Artifact))
        return self._write('POST', '/label/{}/{}', namespace, name, json=body, idempotent=True, parse=one(Artifact))

    # Namespaces
    def get_namespace(self, name: str) -> Namespace:
        return self._read('/auth/namespaces/{}', name, parse=one(Namespace))

    def namespace_trusts(self, owner: str, caller: Optional[str] = None) -> bool:
        """Whether namespace `owner` trusts `caller` (default: us); system is trusted everywhere."""
        caller = caller or self.namespace
        if caller in ('system', owner):
            return True
        try:
            record = self.get_namespace(owner)
        except SfError:
            return False
        # 0.7.2 keeps deleted namespaces readable (a soft delete): a deleted namespace trusts nobody.
        return record.state != 'deleted' and caller in record.trust.get('full', [])

    # Instances and snapshots
    def list_instances(self, all_states: bool = False) -> List[Instance]:
        return self._read('/instances', json={'all': all_states}, parse=many(Instance))

    def get_instance(self, ref: str) -> Instance:
        return self._read('/instances/{}', ref, parse=one(Instance))

    def snapshot_instance(self, uuid: str, *, all_disks: bool, device: Optional[str], thin: bool,
                          max_versions: Optional[int] = None, ready_within: Optional[float] = None
                          ) -> Dict[str, SnapshotRef]:
        """Take a snapshot; a 406 (the instance is not ready yet) is retried for `ready_within` seconds."""
        body: Dict[str, Any] = {'all': all_disks, 'device': device, 'thin': thin}
        if max_versions:
            body['max_versions'] = max_versions
        extra: Dict[str, Any] = {} if ready_within is None else {'not_ready_deadline': ready_within}
        return self._write('POST', '/instances/{}/snapshot', uuid, json=body, parse=snapshot_refs, **extra)

    def delete_instance(self, uuid: str) -> None:
        self._write('DELETE', '/instances/{}', uuid)

    # Networks
    def list_networks(self, all_states: bool = False) -> List[Network]:
        return self._read('/networks', json={'all': all_states}, parse=many(Network))

    def network_interfaces(self, uuid: str) -> List[NetworkInterface]:
        return self._read('/networks/{}/interfaces', uuid, parse=many(NetworkInterface))

    def delete_network(self, uuid: str) -> None:
        # 202 with an operation handle on newer servers, 200 with the view on older ones: either way it is queued.
        self._write('DELETE', '/networks/{}', uuid)

    # Namespaces
    def delete_namespace(self, name: str) -> None:
        self._write('DELETE', '/auth/namespaces/{}', name)

    def get_operation(self, op_type: str, uuid: str) -> ClusterOperation:
        return self._read('/clusteroperations/{}/{}', op_type, uuid, parse=one(ClusterOperation))


def refuse_empty_metadata(key: str, value: Any) -> None:
    """0.7.2 answers 400 `no value specified` to a falsy value ('', 0, false, {}, [], null) and newer servers store
    it: refuse it on both, before anything is sent, so a task behaves the same on every server."""
    if not value:
        raise SfInvalidInput(f'metadata key {key!r}: an empty value ({value!r}) cannot be stored (Shaken Fist 0.7.2 '
                             'refuses it)', hint='give the key a non-empty value, or leave it out to delete it '
                             '(metadata_mode: replace)')


def newest_first(versions: Iterable[ArtifactVersion]) -> List[ArtifactVersion]:
    return sorted(versions, key=lambda version: version.index, reverse=True)
