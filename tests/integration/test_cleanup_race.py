"""A cleanup racing a publish: while the cleanup's delete is held by the server, another job publishes into the
namespace. The cleanup deletes exactly what its plan read and reports that; the new image stays (issue 18,
point 3). Checked with the API, not with the code under test."""

from __future__ import annotations

import os
import time
from pathlib import Path

from tests.integration.cleanup_play import cleanup_task, emulator_only
from tests.integration.forks import saved_results, start_forks
from tools.sfsupport.backend import Backend

pytestmark = emulator_only

CLEANUP = cleanup_task()


def publish(backend: Backend, namespace: str, key: str, name: str) -> str:
    upload = backend.call('POST', '/upload', namespace=namespace, key=key)
    backend.send_bytes(f'/upload/{upload["uuid"]}', os.urandom(4096), namespace=namespace, key=key)
    made = backend.call('POST', f'/artifacts/upload/{name}', {'upload_uuid': upload['uuid']}, namespace=namespace,
                        key=key)
    return str(made['uuid'])


def test_an_image_published_while_the_cleanup_runs_is_not_deleted(backend: Backend, tmp_path: Path) -> None:
    namespace, key = backend.new_namespace('race')
    planned = {publish(backend, namespace, key, f'old-{n}') for n in range(3)}
    backend.emulator.add_fault(method='DELETE', path=r'^/artifacts/', count=1, kind='latency', seconds=4)
    mark = backend.request_mark()  # the emulator may be shared with earlier tests, which list /artifacts too
    cleanup = start_forks(tmp_path, {'sf_api_url': backend.url, 'sf_namespace': namespace, 'sf_key': key},
                          CLEANUP, {'host0': {'system_key': backend.system_key, 'target': namespace}}, forks=1)
    deadline = time.monotonic() + 60
    while not any(r['method'] == 'GET' and r['path'] == '/artifacts' and r.get('namespace') == 'system'
                  for r in backend.emulator.request_log(since=mark)):  # the plan has read the namespace
        assert cleanup.poll() is None and time.monotonic() < deadline, 'the cleanup never read the namespace'
        time.sleep(0.05)
    time.sleep(1)  # its first delete is held by the server now
    late = publish(backend, namespace, key, 'late')
    output = cleanup.communicate(timeout=300)[0]
    outcome = saved_results(tmp_path, {'host0': {}}, output)['host0']
    assert not outcome.get('failed'), outcome.get('msg')
    assert {a['uuid'] for a in outcome['deleted']['artifacts']} == planned
    left = [a['uuid'] for a in backend.call('GET', '/artifacts', namespace=namespace, key=key)
            if a['state'] != 'deleted']
    assert left == [late]
