"""Fixtures for the emulator's tests.

`sf_server` is the server under test: the emulator by default. It is an object with `url`, `system_key` and
`kind` ('emulator' or 'real'). Conformance tests use only that, so they can run unchanged against the real
0.7.2 server once `SF_TEST_BACKEND=real` is wired (see `_real_server` below: the hook to fill in).
Tests that need emulator-only features (faults, request log, restarts) use the `emulator` fixture.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from sf_emulator.testing import EmulatorProcess

# pytest runs with --import-mode=importlib: make the shared helper module importable for every test file here.
sys.path.insert(0, str(Path(__file__).resolve().parent))
from sfe_helpers import Api, make_namespace  # noqa: E402, I001

COMPUTE_FILES = {'test_client_compute.py', 'test_instances.py', 'test_snapshots.py', 'test_networks.py',
                 'test_clusterops.py'}
FAST = ['--op-delay', '0.05', '--fetch-delay', '0.05', '--cleaner-interval', '0.2']


@dataclass
class Server:
    url: str
    system_key: str
    kind: str  # 'emulator' or 'real'
    emulator: EmulatorProcess | None = None


def _real_server() -> Server:
    """SF_TEST_BACKEND=real: the real 0.7.2 API from the project's harness, installed and started on demand."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / 'real_server'))
    import harness  # type: ignore[import-not-found]  # noqa: PLC0415

    available, reason = harness.available()
    if not available:
        pytest.skip(f'the real Shaken Fist server cannot run on this machine: {reason}')
    server = harness.ensure_started()
    return Server(url=server.url, system_key=server.system_key, kind='real')


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # The real tier has no hypervisor: instances and networks exist only in the emulator.
    if os.environ.get('SF_TEST_BACKEND', 'emulator') != 'real':
        return
    for item in items:
        if 'emulator' in item.fixturenames or item.path.name in COMPUTE_FILES:
            item.add_marker(pytest.mark.skip(reason='needs instances, networks or emulator-only features'))


@pytest.fixture(scope='session')
def sf_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    if os.environ.get('SF_TEST_BACKEND', 'emulator') == 'real':
        yield _real_server()
        return
    process = EmulatorProcess(tmp_path_factory.mktemp('sf-shared') / 'data', extra_args=FAST)
    with process:
        yield Server(url=process.url, system_key=process.system_key, kind='emulator', emulator=process)


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[EmulatorProcess]:
    """A private emulator for tests that change faults, settings or restart it."""
    with EmulatorProcess(tmp_path / 'data', extra_args=FAST) as process:
        yield process


@pytest.fixture
def system(sf_server: Server) -> Api:
    return Api(sf_server.url, 'system', sf_server.system_key)


@pytest.fixture
def private_system(emulator: EmulatorProcess) -> Api:
    return Api(emulator.url, 'system', emulator.system_key)


@pytest.fixture
def tenant(system: Api) -> Api:
    return make_namespace(system, 'tenant')
