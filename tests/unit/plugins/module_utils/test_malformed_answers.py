"""Every domain call, fed answers no Shaken Fist server should give: each becomes a typed server_error naming the
request (method, path, status, request id), never a KeyError, ValidationError or other traceback."""

from __future__ import annotations

from typing import Any, Callable

import pytest

from ansible_collections.shakenfist.storage.plugins.module_utils._api import SfApi
from ansible_collections.shakenfist.storage.plugins.module_utils._config import ConnectionSettings
from ansible_collections.shakenfist.storage.plugins.module_utils._errors import SfError, SfServerError
from ansible_collections.shakenfist.storage.plugins.module_utils._http import SfTransport

U = '0b8d3f62-5bb3-4b47-9a59-3a4b8d8f1c2e'
CAPABILITIES = b'<html><ul><li>blob-search-by-hash</li><li>artifact-metadata</li></ul></html>'

# Calls that read something back (a model, a list, a number, an object).
READING: dict[str, Callable[[SfApi], Any]] = {
    'list_artifacts': lambda api: api.list_artifacts(),
    'get_artifact': lambda api: api.get_artifact(U),
    'artifact_versions': lambda api: api.artifact_versions(U),
    'delete_artifact': lambda api: api.delete_artifact(U),
    'delete_version': lambda api: api.delete_version(U, 2),
    'share': lambda api: api.share(U),
    'unshare': lambda api: api.unshare(U),
    'get_metadata': lambda api: api.get_metadata(U),
    'cache_url': lambda api: api.cache_url('https://example.com/x.qcow2'),
    'create_upload': lambda api: api.create_upload(),
    'append_upload': lambda api: api.append_upload(U, b'abc'),
    'upload_size': lambda api: api.upload_size(U),
    'convert_upload': lambda api: api.convert_upload('x', namespace='ci', upload_uuid=U),
    'get_blob': lambda api: api.get_blob(U),
    'find_blob_by_sha512': lambda api: api.find_blob_by_sha512('a' * 128),
    'update_label': lambda api: api.update_label('ci', 'web', U),
    'get_namespace': lambda api: api.get_namespace('ci'),
    'list_instances': lambda api: api.list_instances(),
    'get_instance': lambda api: api.get_instance(U),
    'snapshot_instance': lambda api: api.snapshot_instance(U, all_disks=False, device=None, thin=False),
    'get_operation': lambda api: api.get_operation('artifact_fetch_op', U),
}
# Calls whose answer carries nothing (`null`): only a body that is not JSON at all is wrong.
SILENT: dict[str, Callable[[SfApi], Any]] = {
    'set_max_versions': lambda api: api.set_max_versions(U, 3),
    'set_metadata': lambda api: api.set_metadata(U, 'k', 'v'),
    'delete_metadata': lambda api: api.delete_metadata(U, 'k'),
    'truncate_upload': lambda api: api.truncate_upload(U, 0),
}

JSON_WRONG = {
    'missing fields': {'state': 'created'},
    'wrong types': {'uuid': ['not', 'a', 'string'], 'state': 5, 'artifact_type': None, 'source_url': 1,
                    'namespace': {}, 'name': 3, 'index': 'x', 'size': 'big'},
    'a list of junk': [1, 'two', None],
    'a bare string': 'surprise',
    'a boolean': True,
}
NOT_JSON = {
    'an HTML page': b'<html><head><title>Gateway</title></head><body>oops</body></html>',
    'truncated JSON': b'{"uuid": "0b8d3f62-5bb3-4b47-9a59',
    'plain text': b'ok',
}


def api_answering(scripted_server: Any, payload: Any) -> tuple[SfApi, Any]:
    def handler(record: Any) -> tuple[int, Any, dict[str, str]]:
        if record.path == '/':
            return 200, CAPABILITIES, {}
        if record.path == '/auth':
            return 200, {'access_token': 'token-123456', 'token_type': 'Bearer', 'expires_in': 900}, {}
        return 200, payload, {'X-Request-ID': 'req-7'}

    server = scripted_server(handler)
    settings = ConnectionSettings(api_url=server.url, namespace='ci', key='secret-key-1', retries=0, timeout=5)
    return SfApi(SfTransport(settings, sleep=lambda _: None)), server


def assert_server_error(call: Callable[[SfApi], Any], api: SfApi) -> None:
    with pytest.raises(SfError) as caught:
        call(api)
    error = caught.value
    assert isinstance(error, SfServerError), repr(error)
    details = error.to_dict()
    assert details['type'] == 'server_error' and details['status'] == 200 and details['request_id'] == 'req-7'
    assert details['method'] in ('GET', 'POST', 'PUT', 'DELETE') and details['path'].startswith('/')
    assert 'Traceback' not in str(error) and 'secret-key-1' not in str(error) and 'token-123456' not in str(error)


@pytest.mark.parametrize('kind', sorted(JSON_WRONG))
@pytest.mark.parametrize('call', sorted(READING))
def test_wrong_json_is_a_server_error(scripted_server: Any, call: str, kind: str) -> None:
    api, _server = api_answering(scripted_server, JSON_WRONG[kind])
    if call == 'get_metadata' and isinstance(JSON_WRONG[kind], dict):
        assert READING[call](api) == JSON_WRONG[kind]  # any object is valid metadata
        return
    assert_server_error(READING[call], api)


@pytest.mark.parametrize('kind', sorted(NOT_JSON))
@pytest.mark.parametrize('call', sorted(READING) + sorted(SILENT))
def test_a_body_that_is_not_json_is_a_server_error(scripted_server: Any, call: str, kind: str) -> None:
    api, _server = api_answering(scripted_server, NOT_JSON[kind])
    assert_server_error({**READING, **SILENT}[call], api)


# Lists, metadata and "maybe" answers read an empty body as empty (null); everything else needs an answer.
EMPTY_IS_FINE = {'delete_artifact', 'find_blob_by_sha512', 'list_artifacts', 'artifact_versions', 'list_instances',
                 'get_metadata', 'snapshot_instance'}


@pytest.mark.parametrize('call', sorted(set(READING) - EMPTY_IS_FINE))
def test_an_empty_body_is_a_server_error_where_an_answer_is_needed(scripted_server: Any, call: str) -> None:
    api, _server = api_answering(scripted_server, b'')
    assert_server_error(READING[call], api)


@pytest.mark.parametrize('call', sorted(SILENT))
def test_silent_calls_accept_null_and_empty_bodies(scripted_server: Any, call: str) -> None:
    for payload in (None, b''):
        api, _server = api_answering(scripted_server, payload)
        assert SILENT[call](api) is None
