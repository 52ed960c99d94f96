"""Helpers for the compute tests (networks, instances, snapshots, cluster operations)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from sfe_helpers import Api, unique

# Short timings for a private emulator: everything asynchronous finishes in well under a second.
COMPUTE_FAST = [
    '--op-delay', '0.05', '--fetch-delay', '0.05', '--cleaner-interval', '0.2',
    '--network-delay', '0.05', '--network-wait-poll', '0.05',
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
