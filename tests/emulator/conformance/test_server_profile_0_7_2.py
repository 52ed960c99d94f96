"""Conformance: the answers of a Shaken Fist 0.7.2 server where newer servers and today's emulator differ.

Part 1 pins what the real 0.7.2 answers (status, body, headers) on the routes this collection and the emulator
serve, for every difference that a server without a hypervisor can show. It runs against the real 0.7.2 server
(SF_TEST_BACKEND=real) and against an emulator that reports `server_profile: 0.7.2` at `GET /_emulator/info`. An
emulator without that key has no 0.7.2 profile yet: the part is skipped there.

Part 2 pins what an emulator started with `--server-profile latest` keeps of today's (newer) behaviour. It starts
its own emulator and is skipped when the emulator does not know that flag.

Raw HTTP through http.client: query strings and JSON bodies (on GET too) reach the server exactly as written.
Names are random because 0.7.2 never reuses a namespace name. Networks made here are never deleted: the real
tier has no network node, so a network delete there never finishes.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import secrets
import socket
import struct
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from sf_emulator.testing import EmulatorProcess

PROFILE = '0.7.2'
EMULATOR_ARGS = ['--op-delay', '0.05', '--fetch-delay', '0.05', '--cleaner-interval', '0.2']
EVENTS_TIMEOUT = 30.0  # 0.7.2 writes events from a separate daemon, up to about 10 s late

# GET / of 0.7.2, group by group, exactly as it lists them.
CAPABILITIES_072 = {
    'admin': ['cluster-cacert'],
    'agent-operations': ['agentoperations-crud', 'instance-agentoperations', 'instance-agentoperations-all'],
    'artifacts': ['artifact-metadata', 'artifact-upload-types'],
    'blobs': ['blob-metadata', 'blob-search-by-hash'],
    'events': ['events-by-type'],
    'instances': ['pure-affinity', 'spice-vdi-console', 'vdi-console-helper', 'instance-put-blob',
                  'instance-execute', 'instance-get'],
    'networkinterfaces': ['interface-metadata'],
    'nodes': ['node-get', 'node-metadata'],
}
NEWER_CAPABILITIES = ('network-delete-async', 'get-cluster-operations', 'blob-data-limit', 'blob-events',
                      'blob-single-checksum', 'cluster-resources', 'list-addresses')
# flask-restful marshals the 0.7.2 network listing to exactly these keys.
NETWORK_LISTING_KEYS = {'uuid', 'vxlan_id', 'netblock', 'provide_dhcp', 'provide_nat', 'namespace', 'name', 'state'}
# The single-network view of a network without NAT (a NAT network may add routing keys).
NETWORK_VIEW_KEYS = {'uuid', 'state', 'metadata', 'version', 'name', 'namespace', 'netblock', 'provide_dhcp',
                     'provide_nat', 'floating_gateway', 'vxid'}
FALSY_VALUES: list[Any] = ['', 0, False, {}, [], None]
NO_VALUE = {'error': 'no value specified', 'status': 400}
BAD_OFFSET = {'error': "server error: <UnprocessableEntity '422: Unprocessable Entity'>", 'status': 500}
SHARED_READ_500 = {'error': 'server error: AttributeError("\'SyslogAdapter\' object has no attribute '
                            '\'with_object\'")', 'status': 500}


# --- raw HTTP -----------------------------------------------------------------------------------------------------
@dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def content_type(self) -> str | None:
        return self.headers.get('Content-Type')

    def shown(self) -> tuple[int, Any]:
        """(status, parsed body): what a user sees of an API answer (the raw bytes when it is not JSON)."""
        try:
            return self.status, self.json()
        except ValueError:
            return self.status, self.body


class Client:
    """One namespace's raw HTTP client; it authenticates once."""

    def __init__(self, url: str, namespace: str, key: str) -> None:
        split = urlsplit(url)
        self.url, self.host, self.port, self.namespace = url, split.hostname or '127.0.0.1', split.port or 80, namespace
        self.token = ''  # not sent by the authenticating request below
        self.token = self.send('POST', '/auth', {'namespace': namespace, 'key': key}, auth=False).json()['access_token']

    def send(self, method: str, target: str, body: Any = None, *, data: bytes | None = None,
             auth: bool = True) -> Answer:
        """`body` goes out as JSON (None: no body); `data` as raw bytes."""
        connection = http.client.HTTPConnection(self.host, self.port, timeout=60)
        try:
            connection.putrequest(method, target, skip_accept_encoding=True)
            payload = data if data is not None else b'' if body is None else json.dumps(body).encode()
            if auth:
                connection.putheader('Authorization', f'Bearer {self.token}')
            if data is not None or body is not None:
                connection.putheader('Content-Type', 'application/json' if data is None else 'application/octet-stream')
            connection.putheader('Content-Length', str(len(payload)))
            connection.endheaders(payload)
            response = connection.getresponse()
            return Answer(response.status, response.headers, response.read())
        finally:
            connection.close()

    def chunk_sizes(self, target: str) -> tuple[list[int], bytes]:
        """GET `target` over a raw socket: the size of every HTTP chunk of the answer, and the bytes they carry."""
        with socket.create_connection((self.host, self.port), timeout=60) as sock:
            sock.sendall(f'GET {target} HTTP/1.1\r\nHost: {self.host}\r\nAuthorization: Bearer {self.token}\r\n'
                         'Connection: close\r\n\r\n'.encode())
            raw = b''.join(iter(lambda: sock.recv(1 << 20), b''))
        head, _, rest = raw.partition(b'\r\n\r\n')
        assert b'transfer-encoding: chunked' in head.lower(), head
        sizes, data = [], b''
        while True:
            line, _, rest = rest.partition(b'\r\n')
            size = int(line, 16)
            sizes.append(size)
            data, rest = data + rest[:size], rest[size + 2:]
            if not size:
                return sizes, data

    def ok(self, method: str, target: str, body: Any = None) -> Any:
        answer = self.send(method, target, body)
        assert answer.status == 200, (method, target, answer.status, answer.body)
        return answer.json()

    def upload(self, name: str, data: bytes) -> dict[str, Any]:
        """Upload bytes and convert them into the artifact `name`; returns the artifact view."""
        upload = self.ok('POST', '/upload')['uuid']
        answer = self.send('POST', f'/upload/{upload}', data=data)
        assert answer.shown() == (200, len(data)), answer.body
        return dict(self.ok('POST', f'/artifacts/upload/{name}', {'upload_uuid': upload}))

    def new_namespace(self, prefix: str) -> Client:
        name, key = unique(prefix), secrets.token_urlsafe(16)
        self.ok('POST', '/auth/namespaces', {'namespace': name, 'key_name': 'main', 'key': key})
        return Client(self.url, name, key)


def unique(prefix: str) -> str:
    return f'{prefix}-{secrets.token_hex(4)}'


def capabilities(page: bytes) -> dict[str, list[str]]:
    """The `<li>group: a, b</li>` items of the root page."""
    text = page.decode()
    return {group: [name.strip() for name in names.split(',')]
            for group, names in re.findall(r'<li>\s*([^<:]+):\s*([^<]*?)\s*</li>', text)}


def wait_for_events(client: Client, artifact_uuid: str, at_least: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + EVENTS_TIMEOUT
    while True:
        events = client.ok('GET', f'/artifacts/{artifact_uuid}/events')
        if len(events) >= at_least or time.monotonic() > deadline:
            assert len(events) >= at_least, f'only {len(events)} events after {EVENTS_TIMEOUT:.0f}s'
            return list(events)
        time.sleep(0.5)


# --- part 1: the 0.7.2 answers ------------------------------------------------------------------------------------
@pytest.fixture(scope='module')
def sf072(sf_server: Any) -> Client:
    """The server under test as system, once it is known to answer as 0.7.2 does."""
    system = Client(sf_server.url, 'system', sf_server.system_key)
    if sf_server.kind == 'emulator':
        info = system.ok('GET', '/_emulator/info')
        profile = info.get('server_profile')
        if profile is None:
            pytest.skip('the emulator has no 0.7.2 server profile yet (GET /_emulator/info has no server_profile)')
        if profile != PROFILE:
            pytest.skip(f'the emulator runs server profile {profile!r}, not {PROFILE}')
    return system


@pytest.fixture(scope='module')
def tenant(sf072: Client) -> Client:
    return sf072.new_namespace('p072')


@dataclass
class Uploaded:
    artifact: dict[str, Any]
    data: bytes

    @property
    def uuid(self) -> str:
        return str(self.artifact['uuid'])

    @property
    def blob(self) -> str:
        return str(self.artifact['blob_uuid'])


@pytest.fixture(scope='module')
def uploaded(sf072: Client) -> Uploaded:
    data = b'0123456789abcdef' * 4 + secrets.token_hex(8).encode()
    return Uploaded(sf072.upload(unique('p072'), data), data)


@pytest.fixture(scope='module')
def network(sf072: Client) -> dict[str, Any]:
    """A network without NAT (never deleted: see the module docstring)."""
    netblock = f'10.{secrets.randbelow(250) + 1}.{secrets.randbelow(250)}.0/24'
    return dict(sf072.ok('POST', '/networks', {'netblock': netblock, 'provide_dhcp': True, 'provide_nat': False,
                                               'name': unique('p072')}))


@pytest.fixture(scope='module')
def metadata_paths(sf072: Client, uploaded: Uploaded, network: dict[str, Any], tenant: Client) -> dict[str, str]:
    return {
        'artifact': f'/artifacts/{uploaded.uuid}/metadata',
        'network': f'/networks/{network["uuid"]}/metadata',
        'namespace': f'/auth/namespaces/{tenant.namespace}/metadata',
        'blob': f'/blobs/{uploaded.blob}/metadata',
    }


@pytest.fixture(scope='module')
def shared(sf072: Client) -> Iterator[dict[str, Any]]:
    """A shared system artifact; unshared and deleted afterwards, so no other namespace's listing keeps it."""
    artifact = sf072.upload(unique('p072-shared'), b'shared ' + secrets.token_bytes(16))
    sf072.ok('POST', f'/artifacts/{artifact["uuid"]}/share')
    yield artifact
    sf072.send('POST', f'/artifacts/{artifact["uuid"]}/unshare')
    sf072.send('DELETE', f'/artifacts/{artifact["uuid"]}')


def test_root_page_lists_exactly_the_072_capabilities(sf072: Client) -> None:
    answer = sf072.send('GET', '/', auth=False)
    assert (answer.status, answer.content_type) == (200, 'text/html; charset=utf-8')
    assert capabilities(answer.body) == CAPABILITIES_072
    # Clients test capabilities as substrings of the page: none of the newer ones may appear anywhere.
    assert [name for name in NEWER_CAPABILITIES if name.encode() in answer.body] == []


@pytest.mark.parametrize('body', [None, {'all': True}], ids=['active', 'all'])
def test_network_listing_has_eight_keys_and_no_metadata(sf072: Client, network: dict[str, Any], body: Any) -> None:
    listed = [entry for entry in sf072.ok('GET', '/networks', body) if entry['uuid'] == network['uuid']]
    assert len(listed) == 1
    entry = listed[0]
    assert set(entry) == NETWORK_LISTING_KEYS
    assert entry['vxlan_id'] == 0  # the listing's vxlan_id is never filled in; the view's vxid is the real one
    view = sf072.ok('GET', f'/networks/{network["uuid"]}')
    assert {key: view[key] for key in NETWORK_LISTING_KEYS - {'vxlan_id', 'state'}} == \
        {key: entry[key] for key in NETWORK_LISTING_KEYS - {'vxlan_id', 'state'}}


def test_network_view_has_metadata_and_vxid(sf072: Client, network: dict[str, Any]) -> None:
    view = sf072.ok('GET', f'/networks/{network["uuid"]}')
    assert set(view) == NETWORK_VIEW_KEYS
    assert view['metadata'] == {} and isinstance(view['vxid'], int) and view['floating_gateway'] is None
    assert set(network) == NETWORK_VIEW_KEYS  # the create answer is the same view


def test_network_interfaces_of_an_unused_network_is_an_empty_list(sf072: Client, network: dict[str, Any]) -> None:
    # What sf_namespace_cleanup reads before a network delete (a 0.7.2 delete waits for these interfaces).
    answer = sf072.send('GET', f'/networks/{network["uuid"]}/interfaces')
    assert (answer.status, answer.json()) == (200, [])


def test_network_create_with_metadata_is_refused(sf072: Client) -> None:
    name = unique('p072-md')
    answer = sf072.send('POST', '/networks', {'netblock': '10.250.0.0/24', 'provide_dhcp': True,
                                              'provide_nat': False, 'name': name, 'metadata': {'a': 'b'}})
    assert answer.shown() == (400, {'error': "NetworksEndpoint.post() got an unexpected keyword argument "
                                             "'metadata'", 'status': 400})
    assert [n for n in sf072.ok('GET', '/networks', {'all': True}) if n['name'] == name] == []


@pytest.mark.parametrize('noun', ['artifact', 'network', 'namespace', 'blob'])
def test_falsy_metadata_values_are_refused(sf072: Client, metadata_paths: dict[str, str], noun: str) -> None:
    base = metadata_paths[noun]
    put = {repr(value): sf072.send('PUT', f'{base}/falsy', {'value': value}).shown() for value in FALSY_VALUES}
    post = {repr(value): sf072.send('POST', base, {'key': 'falsy', 'value': value}).shown()
            for value in FALSY_VALUES}
    expected = {repr(value): (400, NO_VALUE) for value in FALSY_VALUES}
    assert (put, post) == (expected, expected)
    assert 'falsy' not in sf072.ok('GET', base)


@pytest.mark.parametrize('noun', ['artifact', 'network', 'namespace', 'blob'])
def test_metadata_writes_and_deletes_answer_200_null(sf072: Client, metadata_paths: dict[str, str],
                                                     noun: str) -> None:
    base, key = metadata_paths[noun], unique('k')
    for method, target, body in (('PUT', f'{base}/{key}', {'value': 'one'}),
                                 ('POST', base, {'key': f'{key}-2', 'value': 'two'}),
                                 ('DELETE', f'{base}/{key}', None),
                                 ('DELETE', f'{base}/{unique("never-set")}', None)):  # a missing key: not a 404
        answer = sf072.send(method, target, body)
        assert (answer.status, answer.content_type, answer.body) == (200, 'application/json', b'null\n'), \
            (method, target)
    stored = sf072.ok('GET', base)
    assert (key in stored, stored.get(f'{key}-2')) == (False, 'two')


def test_any_namespace_that_knows_a_blobs_uuid_reads_and_writes_its_metadata(tenant: Client,
                                                                            uploaded: Uploaded) -> None:
    """Blobs have no namespace: 0.7.2's metadata routes check the token and that the blob exists, nothing else
    (the API docs say admin only; no check enforces it). A tenant writes, reads and deletes the system's blob's
    metadata, and an unknown blob is a 404 for everyone."""
    base, key = f'/blobs/{uploaded.blob}/metadata', unique('tenant-k')
    assert tenant.send('PUT', f'{base}/{key}', {'value': 'from a tenant'}).shown() == (200, None)
    assert tenant.ok('GET', base)[key] == 'from a tenant'
    assert tenant.send('DELETE', f'{base}/{key}').shown() == (200, None)
    assert key not in tenant.ok('GET', base)
    missing = f'/blobs/{uuid.uuid4()}/metadata'
    assert tenant.send('PUT', f'{missing}/{key}', {'value': 'x'}).shown() == (404, {'error': 'blob not found',
                                                                                      'status': 404})


def test_unknown_event_type_is_a_500_once_the_artifact_has_events(sf072: Client, uploaded: Uploaded) -> None:
    wait_for_events(sf072, uploaded.uuid, at_least=1)
    answer = sf072.send('GET', f'/artifacts/{uploaded.uuid}/events', {'event_type': 'no-such-type'})
    assert answer.shown() == (500, {'error': 'server error: InvalidEventType()', 'status': 500})


def test_another_namespace_reading_a_shared_artifacts_events_is_a_500(tenant: Client,
                                                                      shared: dict[str, Any]) -> None:
    answer = tenant.send('GET', f'/artifacts/{shared["uuid"]}/events')
    assert answer.shown() == (500, SHARED_READ_500)


def test_event_limit_is_read_from_the_body_only(sf072: Client, uploaded: Uploaded) -> None:
    base = f'/artifacts/{uploaded.uuid}/events'
    wait_for_events(sf072, uploaded.uuid, at_least=2)
    assert len(sf072.ok('GET', f'{base}?limit=1')) >= 2  # the query string is not read at all
    assert len(sf072.ok('GET', base, {'limit': 1})) == 1
    assert sf072.ok('GET', base, {'limit': 0}) == []
    answer = sf072.send('GET', base, {'limit': '1'})  # not coerced: the server subtracts from it
    assert answer.shown() == (400, {'error': "unsupported operand type(s) for -: 'str' and 'int'", 'status': 400})


def test_blob_data_is_streamed_as_text_without_content_length(sf072: Client, uploaded: Uploaded) -> None:
    answer = sf072.send('GET', f'/blobs/{uploaded.blob}/data')
    assert (answer.status, answer.content_type, answer.body) == (200, 'text/plain; charset=utf-8', uploaded.data)
    assert (answer.headers.get('Content-Length'), answer.headers.get('Transfer-Encoding')) == (None, 'chunked')


def test_blob_data_comes_in_8_kib_chunks_as_gunicorn_frames_each_read(sf072: Client) -> None:
    # 0.7.2 reads the blob file 8 KiB at a time from the offset; gunicorn sends each read as one chunk.
    data = secrets.token_bytes(20_000)
    blob = sf072.upload(unique('p072-chunks'), data)['blob_uuid']
    assert sf072.chunk_sizes(f'/blobs/{blob}/data') == ([8192, 8192, 3616, 0], data)
    assert sf072.chunk_sizes(f'/blobs/{blob}/data?offset=100') == ([8192, 8192, 3516, 0], data[100:])


def test_blob_data_offset_comes_from_the_query_and_limit_is_ignored(sf072: Client, uploaded: Uploaded) -> None:
    base, data = f'/blobs/{uploaded.blob}/data', uploaded.data
    assert sf072.send('GET', f'{base}?offset=10').body == data[10:]
    assert sf072.send('GET', f'{base}?offset=10&limit=5').body == data[10:]
    assert sf072.send('GET', f'{base}?limit=5').body == data
    assert sf072.send('GET', f'{base}?offset={len(data) + 100}').body == b''
    assert sf072.send('GET', base, {'offset': 10}).body == data  # a body offset is overwritten by the query's 0
    answer = sf072.send('GET', base, {'limit': 5})
    assert answer.shown() == (400, {'error': "BlobDataEndpoint.get() got an unexpected keyword argument 'limit'",
                                    'status': 400})


@pytest.mark.parametrize('offset', ['abc', '', '1.5'])
def test_blob_data_non_numeric_offset_is_a_500(sf072: Client, uploaded: Uploaded, offset: str) -> None:
    answer = sf072.send('GET', f'/blobs/{uploaded.blob}/data?offset={offset}')
    assert answer.shown() == (500, BAD_OFFSET)


def test_blob_data_negative_offset_closes_the_connection_unanswered(sf072: Client, uploaded: Uploaded) -> None:
    # The seek fails while the stream starts, before any header is sent.
    with pytest.raises(http.client.RemoteDisconnected):
        sf072.send('GET', f'/blobs/{uploaded.blob}/data?offset=-1')


@pytest.mark.parametrize('line', [b'GET /\r\n', b'GET\r\n', b'GET / HTTP/x\r\n'])
def test_a_request_line_without_a_valid_version_is_a_400_and_closed_at_once(sf072: Client, line: bytes) -> None:
    """gunicorn in front of 0.7.2 answers an HTTP/0.9 or garbled request line at once, then closes: no wait for
    headers that never come. (The wording of the page differs: gunicorn's against http.server's.)"""
    with socket.create_connection((sf072.host, sf072.port), timeout=10) as sock:
        sock.sendall(line)
        received = b''
        while chunk := sock.recv(65536):  # a timeout here (no answer, or the connection left open) fails the test
            received += chunk
    head = received.split(b'\r\n\r\n', 1)[0].split(b'\r\n')
    assert head[0].split(b' ')[:2] == [b'HTTP/1.1', b'400'] and b'Connection: close' in head[1:], received


# Every GET route the collection or the emulator serves, with the 0.7.2 class that answers it.
GET_ROUTES = [
    ('/', 'Root'),
    ('/artifacts', 'ArtifactsEndpoint'),
    ('/artifacts/{artifact}', 'ArtifactEndpoint'),
    ('/artifacts/{name}', 'ArtifactEndpoint'),
    ('/artifacts/{artifact}/versions', 'ArtifactVersionsEndpoint'),
    ('/artifacts/{artifact}/metadata', 'ArtifactMetadatasEndpoint'),
    ('/artifacts/{artifact}/events', 'ArtifactEventsEndpoint'),
    ('/blobs', 'BlobsEndpoint'),
    ('/blobs/{blob}', 'BlobEndpoint'),
    ('/blobs/{blob}/metadata', 'BlobMetadatasEndpoint'),
    ('/blobs/{blob}/data', 'BlobDataEndpoint'),
    ('/blob_checksums/sha512/{sha512}', 'BlobChecksumsEndpoint'),
    ('/networks', 'NetworksEndpoint'),
    ('/networks/{network}', 'NetworkEndpoint'),
    ('/networks/{network}/metadata', 'NetworkMetadatasEndpoint'),
    ('/networks/{network}/events', 'NetworkEventsEndpoint'),
    ('/networks/{network}/interfaces', 'NetworkInterfacesEndpoint'),
    ('/instances', 'InstancesEndpoint'),
    ('/auth/namespaces', 'AuthNamespacesEndpoint'),
    ('/label/system/{name}', 'LabelEndpoint'),
]


@pytest.mark.parametrize(('template', 'endpoint'), GET_ROUTES, ids=[t for t, _ in GET_ROUTES])
def test_get_routes_refuse_a_namespace_in_the_body(sf072: Client, uploaded: Uploaded, network: dict[str, Any],
                                                   template: str, endpoint: str) -> None:
    target = template.format(artifact=uploaded.uuid, name=uploaded.artifact['source_url'].rsplit('/', 1)[-1],
                             blob=uploaded.blob, sha512='0' * 128, network=network['uuid'])
    answer = sf072.send('GET', target, {'namespace': 'system'})
    assert answer.shown() == (400, {'error': f"{endpoint}.get() got an unexpected keyword argument 'namespace'",
                                    'status': 400})


def test_a_body_namespace_replaces_the_path_namespace(sf072: Client, tenant: Client) -> None:
    # Body keys become handler arguments and win over path parameters, so this reads system, not the tenant.
    view = sf072.ok('GET', f'/auth/namespaces/{tenant.namespace}', {'namespace': 'system'})
    assert (view['name'], view['trust']) == ('system', {'full': ['system']})  # system lists itself as trusted


NOT_FOUND = {'error': 'artifact not found', 'status': 404}


def test_names_are_looked_up_in_the_callers_namespace_only(sf072: Client, tenant: Client,
                                                           shared: dict[str, Any]) -> None:
    # from_db_by_ref filters names by the caller's namespace: another namespace's artifact is a 404 by name even
    # when it is shared, or its namespace trusts the caller; by UUID the same artifacts are found.
    shared_name = shared['source_url'].rsplit('/', 1)[-1]
    assert tenant.send('GET', f'/artifacts/{shared_name}').shown() == (404, NOT_FOUND)
    trusting = sf072.new_namespace('p072-trusting')
    sf072.ok('POST', f'/auth/namespaces/{trusting.namespace}/trust', {'external_namespace': tenant.namespace})
    theirs = trusting.upload(unique('p072-theirs'), b'theirs ' + secrets.token_bytes(8))
    their_name = theirs['source_url'].rsplit('/', 1)[-1]
    assert tenant.send('GET', f'/artifacts/{their_name}').shown() == (404, NOT_FOUND)
    assert tenant.send('GET', f'/artifacts/{their_name}/versions').shown() == (404, NOT_FOUND)
    assert tenant.ok('GET', f'/artifacts/{theirs["uuid"]}')['uuid'] == theirs['uuid']


def test_systems_name_lookup_covers_every_namespace_at_once(sf072: Client, tenant: Client) -> None:
    # namespace_filter('system') passes every artifact: one of system's own and one of a tenant are ambiguous.
    name = unique('p072-both')
    own = sf072.upload(name, b'system ' + secrets.token_bytes(8))
    theirs = tenant.upload(name, b'tenant ' + secrets.token_bytes(8))
    assert sf072.send('GET', f'/artifacts/{name}').shown() == (
        400, {'error': f'multiple artifacts have the name "{name}" in namespace "system"', 'status': 400})
    assert tenant.ok('GET', f'/artifacts/{name}')['uuid'] == theirs['uuid']
    assert sf072.ok('GET', f'/artifacts/{own["uuid"]}')['uuid'] == own['uuid']


def test_a_label_is_found_by_the_name_it_was_posted_as(tenant: Client) -> None:
    # POST /label names the label as written: `web` is found by name, `<ns>/web` is not (its name has the slash).
    blob = tenant.upload(unique('p072-lbl'), b'label ' + secrets.token_bytes(8))['blob_uuid']
    plain, prefixed = unique('p072-plain'), unique('p072-prefixed')
    made = tenant.ok('POST', f'/label/{plain}', {'blob_uuid': blob})
    assert made['source_url'] == f'sf://label/{tenant.namespace}/{plain}'
    found = tenant.ok('GET', f'/artifacts/{plain}')
    assert (found['uuid'], found['artifact_type']) == (made['uuid'], 'label')
    other = tenant.ok('POST', f'/label/{tenant.namespace}/{prefixed}', {'blob_uuid': blob})
    assert other['source_url'] == f'sf://label/{tenant.namespace}/{prefixed}'
    assert tenant.send('GET', f'/artifacts/{prefixed}').shown() == (404, NOT_FOUND)
    assert other['uuid'] in {a['uuid'] for a in tenant.ok('GET', '/artifacts')}


def test_converting_a_broken_qcow2_upload_is_a_500_from_qemu_img(sf072: Client) -> None:
    # A qcow2 magic and version, then a header qemu-img cannot open (cluster bits 0).
    data = b'QFI\xfb' + struct.pack('>I', 3) + bytes(64) + secrets.token_bytes(8)
    upload = sf072.ok('POST', '/upload')['uuid']
    assert sf072.send('POST', f'/upload/{upload}', data=data).shown() == (200, len(data))
    name = unique('p072-qcow2')
    answer = sf072.send('POST', f'/artifacts/upload/{name}', {'upload_uuid': upload})
    assert answer.status == 500, answer.body
    error = answer.json()
    path = r"[^']+/blobs/[0-9a-f]{2}/[0-9a-f-]{36}"
    assert re.fullmatch(r"server error: ProcessExecutionError\('', \"qemu-img: Could not open '" + path +
                        r"': [^\"]+\\n\", 1, 'qemu-img info --force-share " + path + r"', None\)",
                        error['error']), error
    assert error['status'] == 500
    # The artifact was made before the conversion failed: it stays, `initial` and without versions.
    left = [a for a in sf072.ok('GET', '/artifacts') if a['source_url'] == f'sf://upload/system/{name}']
    assert [(a['state'], a['blobs']) for a in left] == [('initial', {})]
    sf072.send('DELETE', f'/artifacts/{left[0]["uuid"]}')


# --- part 2: what `--server-profile latest` keeps ------------------------------------------------------------------
@pytest.fixture(scope='module')
def latest(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Client]:
    """System on a private emulator started with `--server-profile latest`."""
    if os.environ.get('SF_TEST_BACKEND', 'emulator') == 'real':
        pytest.skip('the latest profile is an emulator setting; the real tier checks 0.7.2 only')
    process = EmulatorProcess(Path(tmp_path_factory.mktemp('sf-latest')) / 'data',
                              extra_args=[*EMULATOR_ARGS, '--server-profile', 'latest'])
    try:
        process.start()
    except RuntimeError as exc:
        if '--server-profile' in str(exc):
            pytest.skip('this emulator does not know --server-profile')
        raise
    try:
        system = Client(process.url, 'system', process.system_key)
        assert system.ok('GET', '/_emulator/info').get('server_profile') == 'latest'
        yield system
    finally:
        process.stop()


def test_latest_advertises_the_newer_capabilities(latest: Client) -> None:
    page = latest.send('GET', '/', auth=False).body
    assert [name for name in ('network-delete-async', 'get-cluster-operations', 'blob-data-limit')
            if name.encode() not in page] == []


def test_latest_network_listing_carries_metadata(latest: Client) -> None:
    created = latest.ok('POST', '/networks', {'netblock': '10.9.8.0/24', 'name': unique('latest')})
    latest.ok('PUT', f'/networks/{created["uuid"]}/metadata/colour', {'value': 'blue'})
    listed = [n for n in latest.ok('GET', '/networks') if n['uuid'] == created['uuid']]
    assert [n.get('metadata') for n in listed] == [{'colour': 'blue'}]
    answer = latest.send('DELETE', f'/networks/{created["uuid"]}')
    assert answer.status == 202 and answer.json()['op_type'] == 'net_op'


def test_latest_metadata_keeps_falsy_values_and_404s_a_missing_key(latest: Client) -> None:
    artifact = latest.upload(unique('latest'), b'latest ' + secrets.token_bytes(8))
    base = f'/artifacts/{artifact["uuid"]}/metadata'
    assert latest.send('PUT', f'{base}/empty', {'value': ''}).status == 200
    assert latest.ok('GET', base) == {'empty': ''}
    assert latest.send('DELETE', f'{base}/never-set').status == 404


def test_latest_blob_data_honours_limit_with_a_content_length(latest: Client) -> None:
    data = b'0123456789' + secrets.token_bytes(8)
    blob = latest.upload(unique('latest'), data)['blob_uuid']
    answer = latest.send('GET', f'/blobs/{blob}/data?offset=2&limit=3')
    assert (answer.status, answer.body, answer.headers.get('Content-Length')) == (200, data[2:5], '3')


def test_latest_reads_narrow_by_a_body_namespace_and_unknown_event_types_are_empty(latest: Client) -> None:
    artifact = latest.upload(unique('latest'), b'latest ' + secrets.token_bytes(8))
    assert latest.ok('GET', f'/artifacts/{artifact["uuid"]}', {'namespace': 'system'})['uuid'] == artifact['uuid']
    assert latest.ok('GET', f'/artifacts/{artifact["uuid"]}/events', {'event_type': 'no-such-type'}) == []
