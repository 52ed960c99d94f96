"""Fixtures for the emulator's tests.

`sf_server` is the server under test: the emulator by default. It is an object with `url`, `system_key`, `kind`
('emulator' or 'real') and `profile` (the server release it answers as). Conformance tests use only that, so they
run unchanged against the real 0.7.2 server (`SF_TEST_BACKEND=real`, see `_real_server` below).
Tests that need emulator-only features (faults, request log, restarts) use the `emulator` fixture.

Server profiles: the emulator runs its default profile (0.7.2) unless a test is marked
`@pytest.mark.server_profile('latest')` (or a module sets `pytestmark`): then `system`, `tenant`, `emulator` and the
compute files' own emulators answer as that profile (the shared ones from a second emulator started only when such a
test runs). Tests that pin what newer servers do carry that mark; everything else runs once, on the default. The
real tier skips tests marked with another profile than 0.7.2.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from sf_emulator.testing import EmulatorProcess

# pytest runs with --import-mode=importlib: make the shared helper module importable for every test file here.
sys.path.insert(0, str(Path(__file__).resolve().parent))
from sfe_helpers import Api, make_namespace, marked_profile  # noqa: E402, I001
from compute_helpers import COMPUTE_FAST  # noqa: E402, I001

from sf_emulator.profiles import DEFAULT  # noqa: E402

COMPUTE_FILES = {'test_client_compute.py', 'test_instances.py', 'test_snapshots.py', 'test_networks.py',
                 'test_clusterops.py', 'test_profile_072_compute.py'}
FAST = ['--op-delay', '0.05', '--fetch-delay', '0.05', '--cleaner-interval', '0.2']


@dataclass
class Server:
    url: str
    system_key: str
    kind: str  # 'emulator' or 'real'
    profile: str  # the server release it answers as: '0.7.2' or 'latest'
    emulator: EmulatorProcess | None = None


def _real_server() -> Server:
    """SF_TEST_BACKEND=real: the real 0.7.2 API from the project's harness, installed and started on demand."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / 'real_server'))
    import harness  # noqa: PLC0415

    available, reason = harness.available()
    if not available:
        pytest.skip(f'the real Shaken Fist server cannot run on this machine: {reason}')
    server = harness.ensure_started()
    return Server(url=server.url, system_key=server.system_key, kind='real', profile='0.7.2')


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line('markers', 'server_profile(name): run on an emulator started with --server-profile name')


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # The real tier has no hypervisor: instances and networks exist only in the emulator.
    if os.environ.get('SF_TEST_BACKEND', 'emulator') != 'real':
        return
    for item in items:
        if 'emulator' in getattr(item, 'fixturenames', ()) or item.path.name in COMPUTE_FILES:
            item.add_marker(pytest.mark.skip(reason='needs instances, networks or emulator-only features'))
        elif marked_profile(item) not in (None, '0.7.2'):
            item.add_marker(pytest.mark.skip(reason='pins what newer servers answer; the real tier runs 0.7.2'))


@pytest.fixture(scope='session')
def sf_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    if os.environ.get('SF_TEST_BACKEND', 'emulator') == 'real':
        yield _real_server()
        return
    process = EmulatorProcess(tmp_path_factory.mktemp('sf-shared') / 'data', extra_args=FAST)
    with process:
        yield Server(url=process.url, system_key=process.system_key, kind='emulator', profile=DEFAULT,
                     emulator=process)


@pytest.fixture(scope='session')
def shared_by_profile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str], Server]]:
    """Shared emulators of the other profiles, each started when a test marked with it first runs."""
    started: dict[str, Server] = {}

    def get(profile: str) -> Server:
        if profile not in started:
            process = EmulatorProcess(tmp_path_factory.mktemp(f'sf-shared-{profile}') / 'data', extra_args=FAST,
                                      server_profile=profile).start()
            started[profile] = Server(url=process.url, system_key=process.system_key, kind='emulator',
                                      profile=profile, emulator=process)
        return started[profile]

    try:
        yield get
    finally:
        for server in started.values():
            assert server.emulator is not None
            server.emulator.stop()


@pytest.fixture
def server(request: pytest.FixtureRequest, sf_server: Server) -> Server:
    """The shared server for this test: `sf_server`, or one of the profile the test is marked with."""
    profile = marked_profile(request.node)
    if sf_server.kind == 'real' or profile in (None, sf_server.profile):
        return sf_server
    return request.getfixturevalue('shared_by_profile')(profile)


@pytest.fixture
def emulator(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[EmulatorProcess]:
    """A private emulator for tests that change faults, settings or restart it (in the test's profile)."""
    with EmulatorProcess(tmp_path / 'data', extra_args=FAST, server_profile=marked_profile(request.node)) as process:
        yield process


@pytest.fixture
def system(server: Server) -> Api:
    return Api(server.url, 'system', server.system_key)


@pytest.fixture
def private_system(emulator: EmulatorProcess) -> Api:
    return Api(emulator.url, 'system', emulator.system_key)


@pytest.fixture
def tenant(system: Api) -> Api:
    return make_namespace(system, 'tenant')


@pytest.fixture
def compute(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[EmulatorProcess]:
    """A private emulator with short compute timings, for the networks, instances, snapshots and cluster-operation
    tests (in the test's profile)."""
    with EmulatorProcess(tmp_path / 'data', extra_args=COMPUTE_FAST,
                         server_profile=marked_profile(request.node)) as process:
        yield process


@pytest.fixture
def admin(compute: EmulatorProcess) -> Api:
    """The system namespace of the `compute` emulator."""
    return Api(compute.url, 'system', compute.system_key)
