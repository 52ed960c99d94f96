#!/usr/bin/env python3
"""End-to-end check of the harness and of the 0.7.2 behaviour recorded in docs/compatibility.md.

    python tests/real_server/check_real_server.py [--state-dir D] [--keep-running]
    python tests/real_server/check_real_server.py --url URL --key=SYSTEM_KEY   # any server, e.g. the emulator

Starts the real server through the harness's Python API (installing it if needed), then talks to it with
plain HTTP (urllib) and with the official client (sf-client 0.8.3): auth, namespaces, the upload protocol,
artifacts, blobs, labels, events, and each known 0.7.2 quirk. Then it stops the server, starts it again
(state must survive), and stops it, unless --keep-running. Prints one line per check; exit 1 if any failed.
Standard library only. Not collected by pytest (not named test_*): the real test tier is separate.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import http.client
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # noqa: E402

RESULTS: list[tuple[bool, str, str]] = []


def check(name: str, ok: bool, detail: Any = '') -> bool:
    RESULTS.append((ok, name, str(detail)))
    print(f'{"PASS" if ok else "FAIL"}  {name}{"" if ok else f"  -- {detail}"}', flush=True)
    return ok


class Api:
    def __init__(self, url: str) -> None:
        self.url = url
        self.token: str | None = None

    def call(self, method: str, path: str, body: Any = None, raw: bytes | None = None) -> tuple[int, Any]:
        headers = {'Content-Type': 'application/json'}
        data = json.dumps(body).encode() if body is not None else None
        if raw is not None:
            headers['Content-Type'] = 'application/octet-stream'
            data = raw
        if self.token:
            headers['Authorization'] = f'Bearer {self.token}'
        request = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                status, payload = response.status, response.read()
        except urllib.error.HTTPError as e:
            status, payload = e.code, e.read()
        try:
            return status, json.loads(payload) if payload else None
        except ValueError:
            return status, payload.decode(errors='replace')

    def login(self, namespace: str, key: str) -> tuple[int, Any]:
        self.token = None
        status, body = self.call('POST', '/auth', {'namespace': namespace, 'key': key})
        if status == 200:
            self.token = body['access_token']
        return status, body


def raw_call(api: Api, method: str, target: str, body: Any = None) -> tuple[int, dict[str, str], bytes]:
    """Send `target` byte for byte (urllib would re-quote some escapes): (status, headers, body)."""
    split = urlsplit(api.url)
    connection = http.client.HTTPConnection(split.hostname or '127.0.0.1', split.port or 80, timeout=60)
    try:
        connection.putrequest(method, target, skip_accept_encoding=True)
        data = json.dumps(body).encode() if body is not None else b''
        if api.token:
            connection.putheader('Authorization', f'Bearer {api.token}')
        if body is not None:
            connection.putheader('Content-Type', 'application/json')
        connection.putheader('Content-Length', str(len(data)))
        connection.endheaders(data)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def upload(api: Api, name: str, data: bytes, **extra: Any) -> tuple[int, Any]:
    """The raw upload protocol: POST /upload, append in chunks, then turn the upload into an artifact."""
    status, created = api.call('POST', '/upload')
    if status != 200:
        return status, created
    size = None
    for start in range(0, len(data), 4096):
        _, size = api.call('POST', f'/upload/{created["uuid"]}', raw=data[start : start + 4096])
    check(f'upload {name}: appending chunks returns the new size', size == len(data), size)
    return api.call('POST', f'/artifacts/upload/{name}', {'upload_uuid': created['uuid'], **extra})


def name_of(artifact: dict[str, Any]) -> str:
    """0.7.2 (like newer servers) has no `name` in the artifact view: the name ends source_url."""
    return str(artifact.get('source_url', '')).rsplit('/', 1)[-1]


def blob_uuid_of(artifact: dict[str, Any]) -> str | None:
    blobs = artifact.get('blobs') or {}
    index = str(artifact.get('index'))
    entry = blobs.get(index) or blobs.get(artifact.get('index')) or {}
    return entry.get('uuid') or artifact.get('blob_uuid')


def run_http_checks(server: harness.RealServer, tag: str) -> dict[str, Any]:
    api = Api(server.url)
    status, body = api.login('system', server.system_key)
    check('POST /auth as system returns a token lasting 900 s', status == 200 and body.get('expires_in') == 900, body)
    status, body = Api(server.url).login('system', 'wrong-key')
    check('POST /auth with a wrong key is refused (401)', status == 401, (status, body))

    status, root = api.call('GET', '/')
    missing = [c for c in ('blob-data-limit', 'blob-events', 'blob-single-checksum') if c not in str(root)]
    check(
        'GET / lists blob-search-by-hash but not blob-data-limit/blob-events/blob-single-checksum',
        status == 200 and 'blob-search-by-hash' in str(root) and len(missing) == 3,
        missing,
    )

    ns, ns_key = f'chk-{tag}', 'ns-secret-key'
    status, body = api.call('POST', '/auth/namespaces', {'namespace': ns, 'key_name': 'k1', 'key': ns_key})
    check('POST /auth/namespaces creates a namespace with a first key', status == 200, (status, body))
    other = Api(server.url)
    status, _ = other.login(ns, ns_key)
    check('the new namespace key authenticates', status == 200, status)

    data = os.urandom(10000) + b'real-server-check ' + tag.encode()
    sha512 = hashlib.sha512(data).hexdigest()
    name = f'art-{tag}'
    status, artifact = upload(api, name, data)
    check('POST /artifacts/upload/<name> with upload_uuid creates an artifact', status == 200, (status, artifact))
    blob = blob_uuid_of(artifact) if isinstance(artifact, dict) else None
    check('the artifact names its blob', bool(blob), artifact)

    status, listing = api.call('GET', '/artifacts')
    check('GET /artifacts lists it', status == 200 and any(name_of(a) == name for a in listing), status)
    check(
        'artifact views have no name field (newer servers neither)', all('name' not in a for a in listing), listing[:1]
    )
    status, by_name = api.call('GET', f'/artifacts/{name}')
    check('GET /artifacts/<name> finds it', status == 200 and by_name.get('uuid') == artifact.get('uuid'), status)

    status, found = api.call('GET', f'/blob_checksums/sha512/{sha512}')
    found_uuid = (found or {}).get('uuid')
    check('GET /blob_checksums/sha512/<hash> finds the blob', status == 200 and found_uuid == blob, found)
    status, unknown = api.call('GET', f'/blob_checksums/sha512/{"0" * 128}')
    check('quirk: GET /blob_checksums/sha512/<unknown> is 200 with null', status == 200 and unknown is None, status)
    status, blob_view = api.call('GET', f'/blobs/{blob}')
    check(
        'GET /blobs/<uuid> has sha512, size and locations [localhost]',
        status == 200
        and blob_view.get('size') == len(data)
        and blob_view.get('locations') == ['localhost']
        and (blob_view.get('checksums') or {}).get('sha512', blob_view.get('sha512')) == sha512,
        blob_view,
    )
    status, payload = api.call('GET', f'/blobs/{blob}/data')
    check('GET /blobs/<uuid>/data returns the bytes', status == 200, status)

    # Labels
    label = f'lbl-{tag}'
    status, lbl = api.call('POST', f'/label/{label}', {'blob_uuid': blob})
    check('POST /label/<name> with a blob_uuid creates a label', status == 200, (status, lbl))
    status, _ = api.call('GET', f'/label/{label}')
    check('quirk: GET /label/<name> is 500', status == 500, status)
    status, _ = api.call('DELETE', f'/label/{label}')
    check('quirk: DELETE /label/<name> is 500', status == 500, status)
    status, _ = api.call('POST', f'/label/system/{label}', {'blob_uuid': blob})
    check('POST /label/<ns>/<name> works too', status == 200, status)
    bad_label = f'lbl-bad-{tag}'
    status, _ = api.call('POST', f'/label/{bad_label}', {'blob_uuid': str(uuid.uuid4())})
    _, listing = api.call('GET', '/artifacts')
    leftovers = [a.get('state') for a in listing if name_of(a) == bad_label]
    check(
        'quirk: POST /label/<name> with an unknown blob is 500 and leaves an initial artifact',
        status == 500 and leftovers == ['initial'],
        (status, leftovers),
    )
    bad_art = f'art-bad-{tag}'
    status, _ = api.call('POST', f'/artifacts/upload/{bad_art}', {'blob_uuid': str(uuid.uuid4())})
    _, listing = api.call('GET', '/artifacts')
    leftovers = [a.get('state') for a in listing if name_of(a) == bad_art]
    check(
        'quirk: /artifacts/upload with an unknown blob_uuid is 404 and leaves an initial artifact',
        status == 404 and leftovers == ['initial'],
        (status, leftovers),
    )
    status, lbl_art = api.call('GET', f'/artifacts/{lbl["uuid"]}')
    check('the label artifact has type label', status == 200 and lbl_art.get('artifact_type') == 'label', lbl_art)
    status, _ = api.call('DELETE', f'/artifacts/{lbl["uuid"]}')
    check('a label is removed with DELETE /artifacts/<uuid>', status == 200, status)

    # Artifact from an existing blob, deletion and the reference count
    twin = f'twin-{tag}'
    status, twin_art = api.call('POST', f'/artifacts/upload/{twin}', {'blob_uuid': blob, 'artifact_type': 'other'})
    check('an artifact_type=other artifact can reuse a blob', status == 200, (status, twin_art))
    status, gone = api.call('DELETE', f'/artifacts/{twin_art["uuid"]}')
    check('DELETE /artifacts/<uuid> deletes', status == 200, (status, gone))
    status, again = api.call('DELETE', f'/artifacts/{twin_art["uuid"]}')
    check('quirk: deleting an already deleted artifact is 200 with null', status == 200 and again is None, status)
    status, by_uuid = api.call('GET', f'/artifacts/{twin_art["uuid"]}')
    check('quirk: GET a deleted artifact by UUID is 200 state deleted', by_uuid.get('state') == 'deleted', by_uuid)
    status, _ = api.call('GET', f'/artifacts/{twin}')
    check('GET a deleted artifact by name is 404', status == 404, status)

    # Cross-namespace visibility
    status, _ = other.call('GET', f'/artifacts/{artifact["uuid"]}')
    check('quirk: another namespace can GET an unshared system artifact by UUID', status == 200, status)
    status, _ = other.call('DELETE', f'/artifacts/{artifact["uuid"]}')
    check('... but not delete it (404)', status == 404, status)
    shared = f'shared-{tag}'
    status, shared_art = api.call('POST', f'/artifacts/upload/{shared}', {'blob_uuid': blob, 'shared': True})
    check('a shared system artifact can be made', status == 200 and shared_art.get('shared') is True, shared_art)
    status, _ = other.call('GET', f'/artifacts/{shared_art["uuid"]}')
    check('quirk: another namespace GETting a shared system artifact by UUID is 500', status == 500, status)
    status, _ = other.call('GET', f'/artifacts/{shared}')
    check('quirk: ... and 404 by name', status == 404, status)
    _, listing = other.call('GET', '/artifacts')
    check('shared artifacts show in the other namespace list', any(name_of(a) == shared for a in listing), listing)

    into = f'into-{tag}'
    status, into_art = upload(api, into, b'into another namespace', namespace=ns)
    check(
        'quirk: system uploading with namespace=X gets source_url sf://upload/system/<name>',
        status == 200
        and into_art.get('namespace') == ns
        and into_art.get('source_url') == f'sf://upload/system/{into}',
        into_art,
    )

    # Keys and namespace deletion
    status, _ = api.call('PUT', f'/auth/namespaces/{ns}/keys/k1', {'key': 'replacement'})
    check('quirk: PUT /auth/namespaces/<ns>/keys/<key> is 500', status == 500, status)
    status, _ = api.call('POST', f'/auth/namespaces/{ns}/keys', {'key_name': 'k1', 'key': 'replacement-key'})
    check('POST /auth/namespaces/<ns>/keys with the same name replaces the key', status == 200, status)
    status, _ = Api(server.url).login(ns, 'replacement-key')
    check('... and the replacement authenticates', status == 200, status)
    status, _ = api.call('DELETE', f'/auth/namespaces/{ns}')
    check('DELETE /auth/namespaces/<ns> (artifact left in it)', status in (200, 400), status)
    empty_ns = f'chk-empty-{tag}'
    api.call('POST', '/auth/namespaces', {'namespace': empty_ns, 'key_name': 'k', 'key': 'empty-key'})
    status, _ = api.call('DELETE', f'/auth/namespaces/{empty_ns}')
    check('DELETE /auth/namespaces/<empty ns> succeeds', status == 200, status)
    status, shown = api.call('GET', f'/auth/namespaces/{empty_ns}')
    check('quirk: a deleted namespace stays, state deleted', status == 200 and shown.get('state') == 'deleted', shown)
    status, _ = Api(server.url).login(empty_ns, 'empty-key')
    check('quirk: keys of a deleted namespace still authenticate', status == 200, status)
    status, recreated = api.call('POST', '/auth/namespaces', {'namespace': empty_ns, 'key_name': 'k', 'key': 'x-key'})
    check(
        'quirk: re-creating a deleted namespace name returns the deleted namespace',
        status == 200 and (recreated or {}).get('state') == 'deleted',
        (status, recreated),
    )

    # Events go through the eventlog daemon (it polls etcd every 10 s when idle)
    deadline = time.monotonic() + 40
    events: Any = []
    while time.monotonic() < deadline:
        status, events = api.call('GET', f'/artifacts/{artifact["uuid"]}/events')
        if status == 200 and events:
            break
        time.sleep(2)
    check('GET /artifacts/<uuid>/events returns events (eventlog daemon works)', bool(events), (status, events))
    return {'name': name, 'uuid': artifact['uuid'], 'blob': blob, 'sha512': sha512, 'size': len(data)}


def run_difference_checks(server: harness.RealServer, tag: str) -> None:
    """0.7.2 behaviour that differs from the newest server (docs/compatibility.md rows named in each check)."""
    api = Api(server.url)
    api.login('system', server.system_key)
    status, _ = Api(server.url).call('GET', '/livez')
    check('row 6: /livez is 404', status == 404, status)
    ns_a, ns_b = f'da-{tag}', f'db-{tag}'
    for ns in (ns_a, ns_b):
        api.call('POST', '/auth/namespaces', {'namespace': ns, 'key_name': 'k', 'key': f'{ns}-key'})
    status, again = api.call('POST', '/auth/namespaces', {'namespace': ns_a})
    check('row 33: creating an existing namespace is 200 with it', status == 200 and again.get('name') == ns_a, status)
    status, _ = api.call('POST', f'/auth/namespaces/{ns_a}/keys', {'key_name': 'gen'})
    check('row 35: a key without a secret is 400', status == 400, status)
    status, _ = api.call('POST', f'/auth/namespaces/{ns_a}/keys', {'key_name': 'sfk', 'key': 'sfk_' + 'x' * 90})
    check('row 36: an sfk_ secret longer than 72 characters is accepted', status == 200, status)
    a, b = Api(server.url), Api(server.url)
    a.login(ns_a, f'{ns_a}-key')
    b.login(ns_b, f'{ns_b}-key')

    _, up = api.call('POST', '/upload')
    status, _ = api.call('POST', f'/upload/{up["uuid"]}/truncate/5')
    check('row 9: truncating an upload with no data is 500', status == 500, status)
    status, body = api.call('POST', f'/upload/{up["uuid"]}/truncate/0')
    check('row 9: ... even to 0 (FileNotFoundError)', status == 500 and 'FileNotFoundError' in str(body), body)
    api.call('POST', f'/upload/{up["uuid"]}', raw=b'0123456789')
    status, _ = api.call('POST', f'/upload/{up["uuid"]}/truncate/20')
    check('row 11: truncating beyond the end is 200', status == 200, status)
    api.call('POST', f'/upload/{up["uuid"]}/truncate/10')
    status, art = api.call('POST', f'/artifacts/upload/d-{tag}', {'upload_uuid': up['uuid']})
    blob = art['blob_uuid']
    status, payload = api.call('GET', f'/blobs/{blob}/data?offset=1&limit=2')
    check('row 2: the limit query of blob data is ignored', status == 200 and str(payload) == '123456789', payload)
    status, _ = api.call('GET', f'/blob_checksums/sha256/{"0" * 64}')
    check('row 3: /blob_checksums/sha256/... is not routed (404)', status == 404, status)
    status, view = a.call('GET', f'/blobs/{blob}')
    check('row 8: a non-system caller sees blob locations', view.get('locations') == ['localhost'], view)

    status, body = api.call('GET', f'/artifacts/d-{tag}', {'namespace': 'system'})
    check('row 18: GET /artifacts/<ref> with a body namespace is 400', status == 400, (status, body))
    api.call('POST', f'/artifacts/upload/u-{tag}', {'blob_uuid': blob, 'namespace': ns_a})
    status, second = api.call('POST', f'/artifacts/upload/u-{tag}', {'blob_uuid': blob})
    check(
        'row 16: a later system upload without namespace lands in the other namespace',
        second.get('namespace') == ns_a,
        second,
    )
    explicit = {'blob_uuid': blob, 'source_url': f'sf://upload/system/x-{tag}'}
    api.call('POST', f'/artifacts/upload/x-{tag}', {'blob_uuid': blob, 'namespace': ns_a,
                                                   'source_url': f'sf://upload/{ns_a}/x-{tag}'})
    status, third = api.call('POST', f'/artifacts/upload/x-{tag}', explicit)
    check(
        'row 16: with an explicit source_url per namespace, system gets its own artifact',
        status == 200 and third.get('namespace') == 'system' and third.get('source_url') == explicit['source_url'],
        third,
    )
    api.call('POST', f'/artifacts/upload/dup-{tag}', {'blob_uuid': blob})
    a.call('POST', f'/artifacts/upload/dup-{tag}', {'blob_uuid': blob})
    status, body = api.call('GET', f'/artifacts/dup-{tag}')
    check('row 19: system name lookup with its own and another namespace copy is 400', status == 400, (status, body))

    status, _ = a.call('POST', f'/label/system/la-{tag}', {'blob_uuid': blob})
    check('row 30: namespace A can create a label in system', status == 200, status)
    status, _ = a.call('POST', f'/label/{ns_b}/lb-{tag}', {'blob_uuid': blob})
    check('row 30: namespace A can create a label in an untrusted namespace B', status == 200, status)
    status, _ = api.call('POST', f'/label/a/b/c-{tag}', {'blob_uuid': blob})
    check('row 31: a label name with two slashes is 500', status == 500, status)

    a.call('POST', f'/auth/namespaces/{ns_a}/trust', {'external_namespace': ns_b})
    _, own = a.call('POST', f'/artifacts/upload/own-{tag}', {'blob_uuid': blob})
    status, _ = b.call('GET', f'/artifacts/own-{tag}')
    check('row 23: a trusted namespace cannot GET by name (404)', status == 404, status)
    status, gone = b.call('DELETE', f'/artifacts/{own["uuid"]}')
    check('row 23: ... but can DELETE by UUID', status == 200 and (gone or {}).get('state') == 'deleted', status)

    _, versions_art = api.call('POST', f'/artifacts/upload/v-{tag}', {'blob_uuid': blob})
    status, _ = api.call('POST', f'/artifacts/{versions_art["uuid"]}/versions', {'max_versions': -1})
    _, after = api.call('GET', f'/artifacts/{versions_art["uuid"]}')
    check(
        'row 25: max_versions -1 is accepted and trims the only version',
        status == 200 and not after.get('blobs'),
        after,
    )

    same = b'same bytes ' + tag.encode()
    _, first = upload(api, f'same-{tag}', same)
    _, again = upload(api, f'same-{tag}', same)
    check(
        'row 14: the same bytes uploaded again to one artifact add no version',
        (again.get('index'), again.get('blob_uuid')) == (first.get('index'), first.get('blob_uuid')),
        (first, again),
    )
    a.call('POST', f'/artifacts/upload/two-{tag}', {'blob_uuid': blob})
    b.call('POST', f'/artifacts/upload/two-{tag}', {'blob_uuid': blob})
    status, body = api.call('GET', f'/artifacts/two-{tag}')
    check('row 20: system looking up a name two other namespaces hold is 400 "… in namespace "system""',
          status == 400 and 'in namespace "system"' in str(body), (status, body))
    for target in ('system', ns_b):  # B does not trust A
        status, placed = upload(a, f'into-{target}-{tag}', os.urandom(64), namespace=target)
        check(f'row 47: a tenant uploading into {"system" if target == "system" else "an untrusted namespace"} is 404',
              status == 404 and placed == {'error': 'namespace not found', 'status': 404}, (status, placed))
    _, lone = upload(api, f'lone-{tag}', os.urandom(64))
    api.call('DELETE', f'/artifacts/{lone["uuid"]}')
    _, lone_blob = api.call('GET', f'/blobs/{lone["blob_uuid"]}')
    status, body = api.call('POST', f'/artifacts/upload/reuse-{tag}', {'blob_uuid': lone['blob_uuid']})
    check('row 13: a deleted blob in blob_uuid is 500 BlobDeleted',
          lone_blob.get('state') == 'deleted' and status == 500 and 'BlobDeleted' in str(body),
          (lone_blob.get('state'), status, body))


NOT_FOUND_HTML = (
    b'<!doctype html>\n<html lang=en>\n<title>404 Not Found</title>\n<h1>Not Found</h1>\n'
    b'<p>The requested URL was not found on the server. If you entered the URL manually please check your spelling'
    b' and try again.</p>\n'
)
HTML = 'text/html; charset=utf-8'


def run_routing_checks(server: harness.RealServer, tag: str) -> None:
    """How paths are decoded and what answers when no handler runs (docs/compatibility.md rows 5, 7, 10, 42-46)."""
    api = Api(server.url)
    api.login('system', server.system_key)
    _, up = api.call('POST', '/upload')
    api.call('POST', f'/upload/{up["uuid"]}', raw=b'routing check ' + tag.encode())
    status, _, body = raw_call(api, 'POST', f'/artifacts/upload/pct-{tag}%3Av1', {'upload_uuid': up['uuid']})
    art = json.loads(body) if status == 200 else {}
    check('row 42: an artifact name is percent-decoded (%3A is :)',
          art.get('source_url') == f'sf://upload/system/pct-{tag}:v1', (status, body[:300]))
    blob = art.get('blob_uuid')
    status, _, body = raw_call(api, 'POST', f'/label/system/pct-{tag}-debian%3A12', {'blob_uuid': blob})
    check('row 42: a label name is percent-decoded', status == 200
          and json.loads(body).get('source_url') == f'sf://label/system/pct-{tag}-debian:12', (status, body[:300]))
    status, _, body = raw_call(api, 'POST', f'/label/system%2Fpct-{tag}-slash', {'blob_uuid': blob})
    check('row 42: %2F in a label path separates namespace and label',
          status == 200 and json.loads(body).get('source_url') == f'sf://label/system/pct-{tag}-slash', body[:300])
    status, _, body = raw_call(api, 'GET', f'/artifacts/{art.get("uuid")}%2Fversions')
    check('row 42: %2F is a path separator before routing (…%2Fversions reaches the versions route)',
          status == 200 and isinstance(json.loads(body), list), (status, body[:200]))
    base = f'/artifacts/{art.get("uuid")}/metadata'
    keys = {'k%3Ay': 'k:y', 'a+b': 'a+b', 'sp%20ace': 'sp ace', 'e%C3%A9': 'e\u00e9', 'bad%FFz': 'bad\ufffdz',
            'odd%zz': 'odd%zz', 'tail%': 'tail%'}
    for key in keys:
        raw_call(api, 'PUT', f'{base}/{key}', {'value': key})
    status, stored = api.call('GET', base)
    check('row 42: metadata keys: UTF-8 (bad bytes U+FFFD), + stays +, %zz and a lone % stay as written',
          status == 200 and all(stored.get(name) == key for key, name in keys.items()), stored)
    status, headers, body = raw_call(api, 'PUT', f'{base}/a%2Fb', {'value': 'x'})
    check('row 42: a key with %2F is not reachable (HTML 404)', (status, body) == (404, NOT_FOUND_HTML), status)

    for method, target in (('GET', '/no/such/route'), ('PATCH', '/no/such/route')):
        status, headers, body = raw_call(Api(server.url), method, target)
        check(f"row 7: {method} on an unrouted path is Flask's HTML 404",
              (status, headers.get('Content-Type'), body) == (404, HTML, NOT_FOUND_HTML), (status, headers, body))
    status, headers, body = raw_call(Api(server.url), 'PATCH', '/auth/namespaces')
    allow = {m.strip() for m in headers.get('Allow', '').split(',')}
    check("row 43: a wrong method is flask-restful's JSON 405 with Allow, before authentication",
          (status, headers.get('Content-Type'), body) ==
          (405, 'application/json', b'{"message": "The method is not allowed for the requested URL."}\n')
          and allow == {'GET', 'HEAD', 'POST', 'OPTIONS'}, (status, headers, body))
    status, headers, body = raw_call(Api(server.url), 'OPTIONS', '/artifacts')
    check('row 44: OPTIONS on a known path is 200, empty, with Allow',
          (status, body) == (200, b'') and 'DELETE' in headers.get('Allow', ''), (status, headers))
    merged = f'/artifacts/{art.get("uuid")}?x=1'
    status, headers, body = raw_call(api, 'GET', merged.replace('/artifacts/', '/artifacts//'))
    check('row 45: // inside a path is a 308 to the merged path',
          status == 308 and headers.get('Location', '').endswith(merged), (status, headers))
    status, headers, body = raw_call(api, 'GET', f'//artifacts/{art.get("uuid")}')
    check('row 45: extra leading slashes are dropped (200)', status == 200, status)
    status, headers, body = raw_call(api, 'GET', '/artifacts/no-such-artifact')
    check('row 46: API errors are json.dumps() without a trailing newline',
          body == b'{"error": "artifact not found", "status": 404}', body)
    for target in (f'/blobs/{blob}/checksum/sha512', f'/blobs/{blob}/events'):
        status, headers, body = raw_call(api, 'GET', target)
        check(f'row 5: GET {target.replace(str(blob), "<uuid>")} is not routed (HTML 404)',
              (status, body) == (404, NOT_FOUND_HTML), status)
    _, pending = api.call('POST', '/upload')
    api.call('POST', f'/upload/{pending["uuid"]}', raw=b'0123456789')
    for offset in ('-1', 'abc'):
        status, headers, body = raw_call(api, 'POST', f'/upload/{pending["uuid"]}/truncate/{offset}')
        check(f'row 10: truncate/{offset} is routed and fails in the handler (500)',
              status == 500 and body.startswith(b'{"error": "server error: '), (status, body))


def run_client_checks(server: harness.RealServer, tag: str) -> None:
    env = dict(os.environ, **server.env())

    def sf(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(server.sf_client), *args], env=env, capture_output=True, text=True, timeout=120)

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / 'image.bin'
        path.write_bytes(os.urandom(3 * 1024 * 1024 + 17))
        first = sf('artifact', 'upload', f'cli-{tag}', str(path))
        new_blob = first.returncode == 0 and 'Uploading new blob' in first.stdout
        check('sf-client artifact upload (new blob)', new_blob, first)
        second = sf('artifact', 'upload', f'cli2-{tag}', str(path))
        check(
            'sf-client artifact upload of the same bytes recycles the blob',
            second.returncode == 0 and 'Recycling existing blob' in second.stdout,
            second,
        )
        listing = sf('--json', 'artifact', 'list')
        names = [name_of(a) for a in json.loads(listing.stdout or '[]')] if listing.returncode == 0 else []
        check('sf-client --json artifact list shows both', {f'cli-{tag}', f'cli2-{tag}'} <= set(names), listing)
        text = sf('artifact', 'list')
        check('sf-client artifact list (text)', text.returncode == 0 and f'cli-{tag}' in text.stdout, text)
        missing = sf('artifact', 'show', f'no-such-{tag}')
        check('sf-client reports errors on stdout', missing.returncode != 0 or 'not found' in missing.stdout, missing)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--state-dir', type=Path)
    parser.add_argument('--keep-running', action='store_true', help='skip the restart round and leave it running')
    parser.add_argument('--url', help='check another server (the emulator, say) instead: no harness, no restart')
    parser.add_argument('--key', help="that server's system key (with --url)")
    args = parser.parse_args()

    if args.url:
        # The expectations are 0.7.2's: against another server each FAIL is a difference to record.
        other = harness.RealServer(url=args.url.rstrip('/'), system_key=args.key or '', state_dir=Path('.'))
        run_http_checks(other, uuid.uuid4().hex[:8])
        run_difference_checks(other, uuid.uuid4().hex[:8])
        run_routing_checks(other, uuid.uuid4().hex[:8])
        client = harness._Layout(harness.resolve_state_dir(args.state_dir)).venv_client / 'bin' / 'sf-client'
        if client.exists():
            run_client_checks(dataclasses.replace(other, state_dir=harness.resolve_state_dir(args.state_dir)), 'o')
        failed = [name for ok, name, _ in RESULTS if not ok]
        print(f'{len(RESULTS) - len(failed)} passed, {len(failed)} failed')
        return 1 if failed else 0

    ok, reason = harness.available()
    print(f'available: {ok} ({reason})')
    if not ok:
        return 1
    tag = uuid.uuid4().hex[:8]
    started = time.monotonic()
    server = harness.ensure_started(args.state_dir)
    print(f'ensure_started: {time.monotonic() - started:.1f}s -> {server.url} kind={server.kind}', flush=True)
    check('RealServer has kind real', server.kind == 'real', server.kind)
    kept = run_http_checks(server, tag)
    run_difference_checks(server, tag)
    run_routing_checks(server, tag)
    run_client_checks(server, tag)

    if not args.keep_running:
        stopped = harness.stop(args.state_dir)
        check('stop() stops api, eventlog and etcd', sorted(stopped) == ['api', 'etcd', 'eventlog'], stopped)
        check('nothing answers on the API port after stop', not harness._auth_ok(server.url, server.system_key), '')
        started = time.monotonic()
        again = harness.ensure_started(args.state_dir)
        print(f'restart with existing state: {time.monotonic() - started:.1f}s', flush=True)
        check('the system key survives a restart', again.system_key == server.system_key, again)
        api = Api(again.url)
        api.login('system', again.system_key)
        status, art = api.call('GET', f'/artifacts/{kept["name"]}')
        check('artifacts survive a restart', status == 200 and art.get('uuid') == kept['uuid'], (status, art))
        status, payload = api.call('GET', f'/blobs/{kept["blob"]}/data')
        check('blob data survives a restart', status == 200, status)
        same = harness.ensure_started(args.state_dir)
        check('ensure_started on a running server returns it as is', same == again and not same.started_here, same)
        check('stop() again', len(harness.stop(args.state_dir)) == 3, '')

    failed = [name for ok, name, _ in RESULTS if not ok]
    print(f'{len(RESULTS) - len(failed)} passed, {len(failed)} failed')
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
