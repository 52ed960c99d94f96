"""The HTTP framework: root page, health, auth, error shapes, body handling, request ids, emulator admin."""

from __future__ import annotations

import json
import socket
import time
import uuid
from pathlib import Path

import pytest
import requests
from sfe_helpers import Api, make_namespace, unique

from sf_emulator.profiles import LATEST
from sf_emulator.testing import USER_AGENT, EmulatorProcess

CLIENT_CAPABILITIES = [
    'agentoperations-crud', 'artifact-metadata', 'artifact-upload-types', 'blob-data-limit', 'blob-events',
    'blob-metadata', 'blob-search-by-hash', 'blob-single-checksum', 'cluster-cacert', 'cluster-operation-chain',
    'cluster-operations-by-target', 'cluster-resources', 'events-by-type', 'extra-dns-entries',
    'get-cluster-operations', 'get-instance-namespace', 'get-network-namespace', 'hot-plug-interface',
    'instance-agentoperations', 'instance-agentoperations-all', 'instance-execute', 'instance-get',
    'instance-put-blob', 'instance-screenshot', 'interface-metadata', 'list-addresses', 'network-delete-async',
    'node-get', 'node-metadata', 'node-process-metrics', 'provide-dns', 'route-addresses', 'vdi-console-helper',
    'vdi-console-proxy',
]


@pytest.mark.server_profile('latest')  # the newest capability list
def test_root_page_lists_every_capability(emulator: EmulatorProcess) -> None:
    answer = requests.get(emulator.url + '/', allow_redirects=False)
    assert answer.status_code == 200
    assert answer.headers['Content-Type'].startswith('text/html')
    for capability in CLIENT_CAPABILITIES + [c for names in LATEST.capabilities.values() for c in names]:
        assert capability in answer.text


def test_health_checks_need_no_token(emulator: EmulatorProcess) -> None:
    assert requests.get(emulator.url + '/livez').text == 'ok'
    assert requests.get(emulator.url + '/readyz').text == 'ready'
    assert requests.get(emulator.url + '/healthz').text == 'ready'


def test_every_answer_has_a_request_id(emulator: EmulatorProcess) -> None:
    ids = set()
    for path in ('/', '/livez', '/artifacts', '/no/such/route'):
        answer = requests.get(emulator.url + path, headers={'Accept': 'application/json'})
        ids.add(str(uuid.UUID(answer.headers['X-Request-ID'], version=4)))
    assert len(ids) == 4


def test_auth_token_shape_and_errors(private_system: Api) -> None:
    url = private_system.url
    answer = requests.post(url + '/auth', json={'namespace': 'system', 'key': private_system.key})
    assert answer.status_code == 200
    body = answer.json()
    assert body['token_type'] == 'Bearer' and body['expires_in'] == 900
    header, payload, _ = body['access_token'].split('.')
    claims = json.loads(__import__('base64').urlsafe_b64decode(payload + '=='))
    assert claims['sub'] == 'system:deploy' and claims['nonce']
    cases = [
        ({'key': 'x'}, 400, 'missing namespace in request'),
        ({'namespace': 'system'}, 400, 'missing key in request'),
        ({'namespace': 'system', 'key': 5}, 400, 'key is not a string'),
        ({'namespace': 'nope-nope', 'key': 'x'}, 404, 'namespace not found'),
        ({'namespace': 'system', 'key': 'wrong'}, 401, 'unauthorized'),
    ]
    for body, status, message in cases:
        answer = requests.post(url + '/auth', json=body)
        assert (answer.status_code, answer.json()) == (status, {'error': message, 'status': status})


def test_bad_token_is_401_for_api_clients_and_302_for_browsers(emulator: EmulatorProcess) -> None:
    url = emulator.url + '/auth/namespaces'
    bad = {'Authorization': 'Bearer not.a.token'}
    answer = requests.get(url, headers={**bad, 'Accept': 'application/json'}, allow_redirects=False)
    assert answer.status_code == 401 and answer.json()['status'] == 401
    answer = requests.get(url, headers={**bad, 'Accept': 'text/html'}, allow_redirects=False)
    assert answer.status_code == 302 and answer.headers['Location'] == '/'
    # No Accept header at all counts as a browser too.
    with socket.create_connection(('127.0.0.1', emulator.port)) as sock:
        sock.sendall(b'GET /auth/namespaces HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer a.b.c\r\n'
                     b'Connection: close\r\n\r\n')
        assert sock.recv(100).startswith(b'HTTP/1.1 302')
    answer = requests.get(url, headers={'Accept': 'application/json'})
    assert answer.status_code == 401


def test_expired_token_is_refused(tmp_path: Path) -> None:
    with EmulatorProcess(tmp_path / 'd', extra_args=['--token-duration', '1']) as sf:
        api = Api(sf.url, 'system', sf.system_key)
        api.login()
        assert api.call('GET', '/auth/namespaces').status_code == 200
        time.sleep(2.1)
        assert api.call('GET', '/auth/namespaces').status_code == 401


def test_key_delete_and_rotation_invalidate_tokens(private_system: Api) -> None:
    tenant = make_namespace(private_system)
    tenant.login()
    assert tenant.call('GET', '/auth/namespaces').status_code == 200
    private_system.ok('POST', f'/auth/namespaces/{tenant.namespace}/keys', {'key_name': 'main', 'key': 'rotated'})
    assert tenant.call('GET', '/auth/namespaces').status_code == 401
    tenant.key = 'rotated'
    tenant.login()
    assert tenant.call('GET', '/auth/namespaces').status_code == 200
    private_system.ok('DELETE', f'/auth/namespaces/{tenant.namespace}/keys/main')
    assert tenant.call('GET', '/auth/namespaces').status_code == 401


def test_unexpected_body_key_and_non_object_bodies(private_system: Api) -> None:
    status, message = private_system.error('GET', '/auth/namespaces', {'foo': 1})
    assert status == 400 and "unexpected keyword argument 'foo'" in message
    for raw in (b'[1, 2]', b'"text"', b'42', b'{not json'):
        answer = private_system.call('GET', '/auth/namespaces', data=raw)
        assert answer.status_code == 400 and answer.json()['status'] == 400
    assert private_system.call('GET', '/auth/namespaces', data=b'null').status_code == 200


def test_unknown_route_and_method(private_system: Api) -> None:
    # Flask's own answers, not the API's {"error", "status"} shape (conformance/test_http_routing.py has the rest).
    answer = private_system.call('GET', '/no/such/thing')
    assert (answer.status_code, answer.headers['Content-Type']) == (404, 'text/html; charset=utf-8')
    assert '<title>404 Not Found</title>' in answer.text
    answer = private_system.call('PATCH', '/auth/namespaces')
    assert (answer.status_code, answer.headers['Content-Type']) == (405, 'application/json')
    assert answer.json() == {'message': 'The method is not allowed for the requested URL.'}
    assert answer.headers['Allow'] == 'GET, HEAD, OPTIONS, POST'


def test_request_log_and_faults_see_the_decoded_path(emulator: EmulatorProcess) -> None:
    api = Api(emulator.url, 'system', emulator.system_key)
    emulator.add_fault(kind='fail', method='GET', path='^/artifacts/a:b$', count=1, status=503, message='boom')
    assert api.error('GET', '/artifacts/a%3Ab') == (503, 'boom')
    assert api.error('GET', '/artifacts/a%3Ab') == (404, 'artifact not found')
    paths = [e['path'] for e in emulator.request_log() if e['user_agent'] != USER_AGENT]
    assert paths[-2:] == ['/artifacts/a:b', '/artifacts/a:b']


def test_admin_route_refuses_tenants(private_system: Api) -> None:
    tenant = make_namespace(private_system)
    assert tenant.error('POST', '/auth/namespaces', {'namespace': 'x'}) == (401, 'unauthorized')
    assert tenant.error('GET', '/_emulator/requests') == (401, 'unauthorized')


def test_request_log_since_and_clear(emulator: EmulatorProcess) -> None:
    requests.get(emulator.url + '/livez')
    entries = [e for e in emulator.request_log() if e['user_agent'] != USER_AGENT]
    last = entries[-1]
    assert last['path'] == '/livez' and last['method'] == 'GET' and last['status'] == 200
    assert last['duration'] >= 0 and last['bytes_out'] == 2
    requests.get(emulator.url + '/readyz')
    newer = emulator.request_log(since=last['id'])
    assert [e['path'] for e in newer if e['user_agent'] != USER_AGENT] == ['/readyz']
    emulator.clear_request_log()
    assert [e for e in emulator.request_log() if e['path'] in ('/livez', '/readyz')] == []


def test_fail_fault_matches_method_path_and_count(emulator: EmulatorProcess) -> None:
    emulator.add_fault(kind='fail', method='GET', path='^/livez$', count=2, status=503, message='boom')
    answers = [requests.get(emulator.url + '/livez') for _ in range(3)]
    assert [a.status_code for a in answers] == [503, 503, 200]
    assert answers[0].json() == {'error': 'boom', 'status': 503}
    assert requests.get(emulator.url + '/readyz').status_code == 200


def test_not_ready_and_latency_faults(emulator: EmulatorProcess) -> None:
    emulator.add_fault(kind='not_ready', path='^/readyz$', count=1)
    assert requests.get(emulator.url + '/readyz').status_code == 406
    emulator.add_fault(kind='latency', path='^/livez$', seconds=0.5, count=1)
    started = time.monotonic()
    requests.get(emulator.url + '/livez')
    assert time.monotonic() - started >= 0.5


def test_drop_fault_cuts_the_body(emulator: EmulatorProcess) -> None:
    emulator.add_fault(kind='drop', method='POST', path='^/auth$', after_bytes=10, count=1)
    with pytest.raises(requests.ConnectionError):
        requests.post(emulator.url + '/auth', data=b'x' * (4 * 1024 * 1024))
    answer = requests.post(emulator.url + '/auth', json={'namespace': 'system', 'key': emulator.system_key})
    assert answer.status_code == 200


def test_drop_fault_drops_at_the_end_of_a_shorter_body(emulator: EmulatorProcess, private_system: Api) -> None:
    """A drop point past the body's end drops once the whole body arrived, and the request is not handled."""
    name = unique('dropped')
    emulator.add_fault(kind='drop', method='POST', path='^/auth/namespaces$', after_bytes=1 << 20, count=1)
    with pytest.raises(requests.ConnectionError):
        private_system.call('POST', '/auth/namespaces', {'namespace': name, 'key_name': 'k', 'key': 'secret-1'})
    assert private_system.call('GET', f'/auth/namespaces/{name}').status_code == 404
    emulator.add_fault(kind='drop', method='GET', path='^/livez$', after_bytes=10, count=1)
    with pytest.raises(requests.ConnectionError):
        requests.get(emulator.url + '/livez')  # no body at all
    assert requests.get(emulator.url + '/livez').status_code == 200
    dropped = [e for e in emulator.request_log() if e['path'] in ('/auth/namespaces', '/livez')]
    assert [e['status'] for e in dropped] == [0, 0, 200]


def test_fail_after_fault_handles_the_request_then_answers_an_error(emulator: EmulatorProcess,
                                                                    private_system: Api) -> None:
    name = unique('doomed')
    art = private_system.upload_bytes(name, b'bytes', namespace='system')
    emulator.add_fault(kind='fail_after', method='DELETE', path='^/artifacts/', count=1)
    assert private_system.error('DELETE', f'/artifacts/{art["uuid"]}') == (500, 'injected fault')
    assert private_system.ok('GET', f'/artifacts/{art["uuid"]}')['state'] == 'deleted'  # it was done
    # Whatever the handler answered (a 404: no artifact of that name now), the fault's status is the answer.
    emulator.add_fault(kind='fail_after', method='DELETE', path='^/artifacts/', status=502, message='gateway')
    assert private_system.error('DELETE', f'/artifacts/{name}') == (502, 'gateway')
    assert private_system.error('DELETE', f'/artifacts/{name}')[0] == 404  # the fault was used up
    listed = emulator.add_fault(kind='fail_after', path='^/nothing$')
    assert (listed['kind'], listed['status'], listed['message']) == ('fail_after', 500, 'injected fault')


def test_expire_tokens_fault(emulator: EmulatorProcess) -> None:
    api = Api(emulator.url, 'system', emulator.system_key)
    api.login()
    assert api.call('GET', '/auth/namespaces').status_code == 200
    emulator.add_fault(kind='expire_tokens')
    assert api.call('GET', '/auth/namespaces').status_code == 401
    api.login()  # a token issued right after the fault works
    assert api.call('GET', '/auth/namespaces').status_code == 200


def test_fault_validation_and_clear(emulator: EmulatorProcess) -> None:
    with pytest.raises(RuntimeError, match='400'):
        emulator.add_fault(kind='explode')
    emulator.add_fault(kind='fail', path='^/livez$', count=None)
    assert requests.get(emulator.url + '/livez').status_code == 503
    emulator.clear_faults()
    assert requests.get(emulator.url + '/livez').status_code == 200


def test_config_get_and_set(emulator: EmulatorProcess) -> None:
    values = emulator.set_config(op_delay=0.5, token_duration=60)
    assert values['op_delay'] == 0.5 and values['token_duration'] == 60
    answer = requests.post(emulator.url + '/auth', json={'namespace': 'system', 'key': emulator.system_key})
    assert answer.json()['expires_in'] == 60
    with pytest.raises(RuntimeError, match='400'):
        emulator.set_config(op_delay='soon')
    with pytest.raises(RuntimeError, match='400'):
        emulator.set_config(no_such_setting=1)


def test_keep_alive_reuses_one_connection(emulator: EmulatorProcess) -> None:
    with socket.create_connection(('127.0.0.1', emulator.port)) as sock:
        stream = sock.makefile('rb')
        for _ in range(3):
            sock.sendall(b'GET /livez HTTP/1.1\r\nHost: x\r\n\r\n')
            status = stream.readline()
            assert status.startswith(b'HTTP/1.1 200')
            length = 0
            while (line := stream.readline()) not in (b'\r\n', b''):
                if line.lower().startswith(b'content-length:'):
                    length = int(line.split(b':')[1])
            assert stream.read(length) == b'ok'


def test_emulator_info_and_fault_listing(emulator: EmulatorProcess) -> None:
    info = emulator._call('GET', '/_emulator/info')
    assert 'POST /upload/<upload_uuid>' in info['routes'] and 'artifact_fetch' in info['job_kinds']
    assert 'op_delay' in info['settings']
    emulator.add_fault(kind='latency', path='^/nothing$', seconds=0.1, count=3)
    listed = emulator._call('GET', '/_emulator/faults')
    assert [(f['kind'], f['count'], f['path']) for f in listed] == [('latency', 3, '^/nothing$')]
    emulator.clear_faults()
    assert emulator._call('GET', '/_emulator/faults') == []


def test_no_admin_routes_serves_without_the_emulator_routes(tmp_path: Path) -> None:
    with EmulatorProcess(tmp_path / 'd', extra_args=['--no-admin-routes']) as sf:
        api = Api(sf.url, 'system', sf.system_key)
        unrouted = api.call('GET', '/no/such/thing')
        for method, path in (('GET', '/_emulator/requests'), ('POST', '/_emulator/faults'), ('DELETE',
                             '/_emulator/faults'), ('GET', '/_emulator/config'), ('PATCH', '/_emulator/info'),
                             ('OPTIONS', '/_emulator/config')):
            answer = api.call(method, path, {} if method == 'POST' else None)
            assert (answer.status_code, answer.headers['Content-Type'], answer.content) == (
                404, unrouted.headers['Content-Type'], unrouted.content), (method, path)
            assert 'Allow' not in answer.headers
        with pytest.raises(RuntimeError, match='404'):
            sf.add_fault(kind='fail', path='^/livez$', status=500)
        assert api.ok('GET', '/auth/namespaces')  # the API itself is all there
        assert requests.get(sf.url + '/livez').status_code == 200
