"""docs/compatibility.md rows handled in the collection's own code: one test per row, the row number in its name.

Server answers here are the bytes the real 0.7.2 server sends (tests/real_server/check_real_server.py and
tests/emulator/conformance/test_http_routing.py check them against a running 0.7.2).
"""

from __future__ import annotations

import json
import uuid as uuidlib
from types import SimpleNamespace
from typing import Any
from urllib.parse import unquote

import pytest

from ansible_collections.shakenfist.storage.plugins.module_utils import _errors as errors
from ansible_collections.shakenfist.storage.plugins.module_utils._api import SfApi
from ansible_collections.shakenfist.storage.plugins.module_utils._config import ConnectionSettings
from ansible_collections.shakenfist.storage.plugins.module_utils._http import SfTransport, build_path
from ansible_collections.shakenfist.storage.plugins.module_utils._index import ArtifactIndex
from ansible_collections.shakenfist.storage.plugins.module_utils._label_plan import LabelPlanner
from ansible_collections.shakenfist.storage.plugins.module_utils._labels import LabelRequest
from ansible_collections.shakenfist.storage.plugins.module_utils._models import Artifact, ArtifactVersion, Blob
from ansible_collections.shakenfist.storage.plugins.module_utils._refs import validate_metadata_key, validate_name
from ansible_collections.shakenfist.storage.plugins.module_utils._resolver import Resolver
from ansible_collections.shakenfist.storage.tests.unit.plugins.module_utils.fake_cluster import (
    FakeCluster,
    a_file,
    publish,
)

KEY = 'correct-horse-battery-staple'
TOKEN = 'token-abcdef-123456'
SHA = 'ab' * 64
HTML = {'Content-Type': 'text/html; charset=utf-8'}
NOT_FOUND_HTML = (
    b'<!doctype html>\n<html lang=en>\n<title>404 Not Found</title>\n<h1>Not Found</h1>\n'
    b'<p>The requested URL was not found on the server. If you entered the URL manually please check your spelling'
    b' and try again.</p>\n'
)


def transport(url: str) -> SfTransport:
    settings = ConnectionSettings(api_url=url, namespace='ci', key=KEY, retries=0, timeout=5)
    return SfTransport(settings, sleep=lambda _: None)


def auth_ok(record: Any) -> tuple[int, Any, dict[str, str]] | None:
    if record.path == '/auth':
        return 200, {'access_token': TOKEN, 'token_type': 'Bearer', 'expires_in': 900}, {}
    return None


class CapabilityTransport:
    """Just enough of SfTransport for SfApi: a root page and a record of requests (all answered with null)."""

    namespace = 'ci'

    def __init__(self, root_page: str) -> None:
        self.root_page = root_page
        self.requests: list[tuple[str, str]] = []

    def capabilities(self) -> str:
        return self.root_page

    def request(self, method: str, template: str, *segments: Any, **kwargs: Any) -> Any:
        self.requests.append((method, template))
        return None


def test_row_1_sha512_search_only_with_the_capability() -> None:
    without = CapabilityTransport('<li>blobs: blob-metadata</li>')
    assert SfApi(without).find_blob_by_sha512(SHA) is None
    assert without.requests == []
    with_it = CapabilityTransport('<li>blobs: blob-metadata, blob-search-by-hash</li>')
    assert SfApi(with_it).find_blob_by_sha512(SHA) is None  # 200 null: no such blob
    assert with_it.requests == [('GET', '/blob_checksums/sha512/{}')]


def test_row_7_flask_html_404_is_a_clean_not_found(scripted_server: Any) -> None:
    server = scripted_server(lambda r: auth_ok(r) or (404, NOT_FOUND_HTML, HTML))
    with pytest.raises(errors.SfNotFound) as caught:
        transport(server.url).request('GET', '/blobs/{}/events', 'b-1')
    assert caught.value.message == 'GET /blobs/b-1/events failed: 404 Not Found'
    assert caught.value.status == 404


def test_row_8_blob_views_of_every_server_give_sha512() -> None:
    # The 0.7.2 view (as GET /artifacts/<ref>/versions sends it): top-level sha512, locations, qemu-img keys.
    old = {'uuid': 'b-1', 'state': 'created', 'metadata': {}, 'version': 6, 'size': 13, 'modified': 1.0,
           'fetched_at': 1.5, 'depends_on': None, 'transcodes': {}, 'locations': ['localhost'], 'reference_count': 1,
           'sha512': SHA, 'last_used': None, 'disk size': '4 KiB', 'file format': 'raw', 'mime-type': 'text/plain',
           'virtual size': 512.0, 'instances': [], 'index': 1}
    assert ArtifactVersion.model_validate(old).sha512 == SHA
    # A view with only checksums.sha512, and one without locations: neither is a problem.
    newer = {'uuid': 'b-2', 'state': 'created', 'size': 13, 'checksums': {'sha512': SHA, 'sha256': None}}
    assert Blob.model_validate(newer).sha512 == SHA
    both = {**newer, 'sha512': 'cd' * 64}
    assert Blob.model_validate(both).sha512 == 'cd' * 64  # the top-level field wins
    assert Blob.model_validate({'uuid': 'b-3', 'state': 'created'}).sha512 is None


def test_row_12_an_empty_initial_artifact_is_not_ready_for_lookups() -> None:
    leftover = Artifact(uuid=str(uuidlib.uuid4()), state='initial', artifact_type='image',
                        source_url='sf://upload/ci/web', namespace='ci')
    api = SimpleNamespace(namespace='ci', index=lambda: ArtifactIndex([leftover]), artifact_versions=lambda uuid: [])
    with pytest.raises(errors.SfNotReady) as caught:
        Resolver(api).resolve('web')
    assert 'has no versions yet (state initial)' in caught.value.message


def test_row_16_uploads_name_their_target_namespace_in_source_url(tmp_path: Any) -> None:
    # The conversion names the target namespace both in `namespace` and in an explicit source_url, so 0.7.2's
    # URL match cannot pick another namespace's artifact (and system's upload into ci is sf://upload/ci/...).
    api = FakeCluster('system')
    sent: list[dict[str, Any]] = []
    convert = api.convert_upload

    def spy(name: str, **kwargs: Any) -> Any:
        sent.append(kwargs)
        return convert(name, **kwargs)

    api.convert_upload = spy
    outcome = publish(api, name='web', src=a_file(tmp_path, b'x' * 1000), target='ci', state_dir=str(tmp_path / 's'))
    assert outcome.changed and sent and all(c['namespace'] == 'ci' for c in sent)
    assert {c['source_url'] for c in sent} == {'sf://upload/ci/web'}


def test_row_25_label_max_versions_below_one_is_refused_before_any_request() -> None:
    api = SimpleNamespace(namespace='ci')  # any API call would fail: nothing is sent
    for wanted in (0, -1):
        with pytest.raises(errors.SfInvalidInput, match='max_versions must be 1 or more'):
            planner = LabelPlanner(api, None, LabelRequest(name='web', target='x', max_versions=wanted))
            planner.plan_present()


def test_row_42_names_that_a_decoded_path_would_change_are_refused() -> None:
    # Servers percent-decode before routing: a quoted `/` still adds a path level. Clients drop `.` and `..`.
    for bad in ('a/b', '.', '..', 'tab\there', 'nul\x00'):
        with pytest.raises(errors.SfInvalidInput):
            validate_name(bad)
        with pytest.raises(errors.SfInvalidInput):
            validate_metadata_key(bad)
    with pytest.raises(errors.SfInvalidInput):
        validate_metadata_key('')
    for good in ('debian:12', 'a+b', '50%off', 'caf\u00e9', '..x', 'x.'):
        assert validate_name(good) == good and validate_metadata_key(good) == good
        # What the server routes on (the decoded segment) is the name itself.
        assert unquote(build_path('/label/{}/{}', 'ci', good)) == f'/label/ci/{good}'


def test_row_43_flask_restful_405_message_is_reported(scripted_server: Any) -> None:
    body = b'{"message": "The method is not allowed for the requested URL."}\n'
    answer = (405, body, {'Content-Type': 'application/json', 'Allow': 'OPTIONS, GET, HEAD'})
    server = scripted_server(lambda r: auth_ok(r) or answer)
    with pytest.raises(errors.SfError) as caught:
        transport(server.url).request('DELETE', '/blobs/{}', 'b-1')
    assert caught.value.message == 'DELETE /blobs/b-1 failed: The method is not allowed for the requested URL.'
    assert caught.value.status == 405


def test_row_45_redirects_are_not_followed(scripted_server: Any) -> None:
    page = b'<!doctype html>\n<html lang=en>\n<title>Redirecting...</title>\n'
    server = scripted_server(lambda r: auth_ok(r) or (308, page, {**HTML, 'Location': 'http://elsewhere/artifacts'}))
    with pytest.raises(errors.SfError) as caught:
        transport(server.url).request('POST', '/artifacts', json={'url': 'http://x/y'})
    assert 'unexpected redirect to http://elsewhere/artifacts' in caught.value.message
    assert server.paths() == ['POST /auth', 'POST /artifacts']  # a write is never re-sent elsewhere


def test_row_46_error_bodies_without_a_newline(scripted_server: Any) -> None:
    body = json.dumps({'error': 'artifact not found', 'status': 404}).encode()
    server = scripted_server(lambda r: auth_ok(r) or (404, body, {'Content-Type': 'application/json'}))
    with pytest.raises(errors.SfNotFound) as caught:
        transport(server.url).request('GET', '/artifacts/{}', 'web')
    assert caught.value.message == 'GET /artifacts/web failed: artifact not found'


def test_row_9_a_first_chunk_that_fails_starts_a_new_upload(tmp_path: Any) -> None:
    # 0.7.2 cannot truncate an upload that holds no data (500, even to 0): start a new upload instead.
    from ansible_collections.shakenfist.storage.plugins.module_utils._upload import upload_file

    class NoDataNoTruncate:
        def __init__(self) -> None:
            self.uploads: dict[str, bytearray] = {}
            self.calls = 0
            self.pause = lambda *args, **kwargs: None

        def create_upload(self) -> Any:
            uuid = f'u-{len(self.uploads) + 1}'
            self.uploads[uuid] = bytearray()
            return SimpleNamespace(uuid=uuid)

        def append_upload(self, uuid: str, chunk: bytes) -> int:
            self.calls += 1
            if self.calls == 1:
                raise errors.SfTransportError('connection reset before any byte was stored')
            self.uploads[uuid] += chunk
            return len(self.uploads[uuid])

        def truncate_upload(self, uuid: str, offset: int) -> None:
            if not self.uploads[uuid]:
                raise errors.SfServerError('server error: FileNotFoundError()', status=500)
            del self.uploads[uuid][offset:]

    path = tmp_path / 'f.img'
    path.write_bytes(b'x' * 200_000)
    api = NoDataNoTruncate()
    created: list[str] = []
    result = upload_file(api, str(path), 200_000, chunk_size=64 * 1024, on_created=created.append)
    assert result.upload_uuid == 'u-2' and created == ['u-1', 'u-2'] and bytes(api.uploads['u-2']) == b'x' * 200_000


def test_row_12_an_empty_artifact_left_by_a_refused_conversion_is_removed(tmp_path: Any) -> None:
    # The blob found by sha512 vanished before the conversion: 404, and 0.7.2 leaves an empty artifact behind.
    api = FakeCluster('ci')
    api.upload_named('other', [b'z' * 500])
    api.fail_next_convert(errors.SfNotFound('blob not found', status=404), stored=False, creates_artifact=True)
    with pytest.raises(errors.SfError) as caught:
        publish(api, name='web', src=a_file(tmp_path, b'z' * 500), state_dir=str(tmp_path / 's'))
    assert caught.value.kind == 'not_found'
    assert api.find('sf://upload/ci/web') is None or api.find('sf://upload/ci/web').state == 'deleted'


def test_row_13_a_blob_that_is_not_created_is_refused_before_any_write() -> None:
    blob = str(uuidlib.uuid4())
    deleted = Blob(uuid=blob, state='deleted', size=5, sha512=SHA)
    api = SimpleNamespace(namespace='ci', get_blob=lambda uuid: deleted)
    with pytest.raises(errors.SfNotReady, match='state deleted'):
        Resolver(api).resolve(f'sf://blob/{blob}')


def test_row_21_another_namespaces_unshared_artifact_is_not_found_by_uuid() -> None:
    # 0.7.2 answers the GET anyway; the resolver hides what newer servers hide.
    hidden = Artifact(uuid=str(uuidlib.uuid4()), state='created', artifact_type='image',
                      source_url='sf://upload/system/x', namespace='system', blobs={1: {'uuid': 'b'}})
    api = SimpleNamespace(namespace='ci', find_artifact=lambda ref: hidden, namespace_trusts=lambda owner: False,
                          index=lambda: ArtifactIndex([]))
    with pytest.raises(errors.SfNotFound):
        Resolver(api).resolve(hidden.uuid)


def test_row_32_a_deleted_namespace_trusts_nobody(scripted_server: Any) -> None:
    record = {'name': 'team', 'state': 'deleted', 'keys': [], 'trust': {'full': ['system', 'ci']}}
    server = scripted_server(lambda r: auth_ok(r) or (200, record, {}))
    assert not SfApi(transport(server.url)).namespace_trusts('team')
    live = {**record, 'state': 'created'}
    server = scripted_server(lambda r: auth_ok(r) or (200, live, {}))
    assert SfApi(transport(server.url)).namespace_trusts('team')


def test_row_42_label_metadata_keys_a_decoded_path_would_change_are_refused() -> None:
    api = SimpleNamespace(namespace='ci')  # any API call would fail: nothing is sent
    for bad in ('a/b', '..', ''):
        with pytest.raises(errors.SfInvalidInput):
            LabelPlanner(api, None, LabelRequest(name='web', target='x', metadata={bad: 1})).plan_present()


@pytest.mark.parametrize('root, body', [
    (b'<li>artifacts: artifact-metadata</li>', b''),  # 0.7.2: no events-by-type, so no limit sent
    (b'<li>events: events-by-type</li>', b'{"limit": 2}'),
])
def test_row_41_event_limit_sent_only_to_servers_that_take_it(scripted_server: Any, root: bytes,
                                                              body: bytes) -> None:
    events = [{'timestamp': float(n), 'type': 'audit', 'message': f'event {n}'} for n in (3, 2, 1)]

    def answer(record: Any) -> tuple[int, Any, dict[str, str]]:
        if record.path == '/':
            return 200, root, {}
        return auth_ok(record) or (200, events, {})

    server = scripted_server(answer)
    found = SfApi(transport(server.url)).artifact_events('a-1', 2)
    assert [e['message'] for e in found] == ['event 3', 'event 2']
    asked = [r for r in server.requests if r.path == '/artifacts/a-1/events']
    assert len(asked) == 1 and json.loads(asked[0].body or b'null') == (json.loads(body) if body else None)


@pytest.mark.parametrize(('owner', 'kind'), [('system', errors.SfUnsupported), ('ci', errors.SfServerError),
                                             (None, errors.SfServerError)])
def test_events_of_a_shared_artifact_another_namespace_owns_are_a_typed_error_on_0_7_2(
        scripted_server: Any, owner: str | None, kind: type[errors.SfError]) -> None:
    """0.7.2 answers 500 (an AttributeError's text) when a tenant reads the events of a shared system artifact."""
    def answer(record: Any) -> tuple[int, Any, dict[str, str]]:
        if record.path == '/':
            return 200, b'<li>events: events-by-type</li>', {}
        return auth_ok(record) or (500, {'error': "'SyslogAdapter' object has no attribute 'with_object'",
                                         'status': 500}, {})

    server = scripted_server(answer)
    with pytest.raises(kind) as raised:
        SfApi(transport(server.url)).artifact_events('a-1', 2, owner=owner)
    if kind is errors.SfUnsupported:
        assert 'SyslogAdapter' not in str(raised.value) and "shared by namespace 'system'" in str(raised.value)
        assert raised.value.hint == "read them as namespace 'system' or system"


@pytest.mark.parametrize('value', [2 ** 53, 10 ** 30, -1, 1.5, True, '3'])
def test_counts_are_refused_beyond_what_a_server_stores_exactly(value: object) -> None:
    """max_versions 1e30 reached the server, which answered 500 after adding the version (issue 18, point 5)."""
    from ansible_collections.shakenfist.storage.plugins.module_utils._refs import MAX_COUNT, validate_count
    with pytest.raises(errors.SfInvalidInput, match=r'max_versions must be 0 or more, a whole number up to '):
        validate_count(value, 'max_versions', 0)
    assert validate_count(MAX_COUNT, 'max_versions', 0) == MAX_COUNT and validate_count(0, 'max_versions', 0) == 0
