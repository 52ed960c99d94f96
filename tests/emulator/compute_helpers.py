"""Helpers for the compute tests (networks, instances, snapshots, cluster operations)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from sfe_helpers import Api, unique

# Short timings for a private emulator: everything asynchronous finishes in well under a second.
COMPUTE_FAST = [
    '--op-delay', '0.05', '--fetch-delay', '0.05', '--cleaner-interval', '0.2',
    '--network-delay', '0.05', '--network-wait-poll', '0.05', '--instance-create-delay', '0.05',
    '--instance-delete-delay', '0.05', '--instance-poll', '0.05', '--snapshot-delay', '0.1',
]


def wait_for(check: Callable[[], Any], timeout: float = 15.0, interval: float = 0.05, what: str = 'condition') -> Any:
    """Poll `check` until it returns something truthy; fail the test with `what` on timeout."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f'timed out waiting for {what} (last: {last!r})')


def create_network(api: Api, name: str | None = None, netblock: str = '10.0.0.0/24', **extra: Any) -> dict[str, Any]:
    body = {'netblock': netblock, 'name': name or unique('net'), 'provide_dhcp': True, 'provide_nat': True,
            'namespace': None}
    body.update(extra)
    network = api.ok('POST', '/networks', body)
    return wait_for(lambda: _state_is(api, f'/networks/{network["uuid"]}', 'created'), what='network created')


def _state_is(api: Api, path: str, state: str) -> Any:
    view = api.ok('GET', path)
    return view if view['state'] == state else None


def wait_state(api: Api, path: str, states: str | tuple[str, ...], timeout: float = 15.0) -> dict[str, Any]:
    wanted = (states,) if isinstance(states, str) else states
    return wait_for(lambda: (lambda v: v if v['state'] in wanted else None)(api.ok('GET', path)),
                    timeout=timeout, what=f'{path} in {wanted}')


def wait_op(api: Api, handle: dict[str, str], timeout: float = 15.0) -> dict[str, Any]:
    """Poll an op handle to a terminal state, like the client's _poll_cluster_operation."""
    path = f'/clusteroperations/{handle["op_type"]}/{handle["op_uuid"]}'
    return wait_state(api, path, ('complete', 'error', 'abort'), timeout)


class ImageServer:
    """A local HTTP server of the test's own, serving fixed bytes per path (stands in for images.shakenfist.com)."""

    def __init__(self, files: dict[str, bytes]) -> None:
        import http.server
        import threading

        self.files = dict(files)
        self.requests: list[str] = []
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                owner.requests.append(self.path)
                body = owner.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header('Content-Length', str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self._server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.url = f'http://127.0.0.1:{self._server.server_address[1]}/'
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> ImageServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def instance_body(name: str, disks: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    """What the 0.8.3 client's create_instance sends."""
    body: dict[str, Any] = {
        'name': name, 'cpus': 1, 'memory': 1024, 'network': [], 'ssh_key': None, 'user_data': None,
        'namespace': None, 'video': {'model': 'cirrus', 'memory': 16384}, 'configdrive': 'openstack-disk',
        'metadata': {}, 'side_channels': None, 'uefi': False, 'secure_boot': False, 'nvram_template': None,
        'disk': disks,
    }
    body.update(extra)
    return body


def disk(base: str | None, size: int = 8) -> dict[str, Any]:
    return {'size': size, 'base': base, 'bus': None, 'type': 'disk'}
