"""Property tests of the connection options every module shares, through the real settings and transport.

The module property tests give the modules an in-memory cluster, so the transport never sees `timeout`,
`validate_certs` or `ca_path`. Here generated values go through resolve_settings and one request of the real
transport to a local port nobody listens on: the settings are refused with invalid_input, or the request fails with
a typed error (connection refused). Nothing else may come out: at the module boundary that is an internal_error.
"""

from __future__ import annotations

import contextlib
import socket
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.shakenfist.storage.plugins.module_utils._config import resolve_settings
from ansible_collections.shakenfist.storage.plugins.module_utils._errors import SfError, SfInvalidInput
from ansible_collections.shakenfist.storage.plugins.module_utils._http import SfTransport
from ansible_collections.shakenfist.storage.tests.unit.plugins.hypothesis_support import (
    PATHS,
    bool_like,
    edge_numbers,
    json_values,
)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        return int(probe.getsockname()[1])


PORT = closed_port()


def request_with(scheme: str = 'http', **options: Any) -> None:
    """resolve_settings, then one GET; raises what they raise."""
    settings = resolve_settings({'api_url': f'{scheme}://127.0.0.1:{PORT}', 'namespace': 'ci', 'key': 'k3y-secret',
                                 **options}, environ={}, config_files=[])
    SfTransport(settings, sleep=lambda delay: None).request('GET', '/artifacts')


# Every number, infinities, NaN and values beyond the platform clock included: each is a request or a typed error.
finite_timeouts = st.one_of(edge_numbers, st.floats())


@given(timeout=st.one_of(st.none(), finite_timeouts), retries=st.one_of(st.none(), st.integers(-2, 2)),
       validate_certs=bool_like, ca_path=st.one_of(st.none(), st.sampled_from(['/dev/null', ''])),
       scheme=st.sampled_from(['http', 'https']))
def test_connection_options_give_a_typed_error_or_a_request(timeout: Any, retries: Any, validate_certs: Any,
                                                            ca_path: Any, scheme: str) -> None:
    if isinstance(timeout, str):
        timeout = None  # AnsibleModule converts strings (or refuses them) before the settings see them
    try:
        request_with(scheme, timeout=timeout, retries=retries, validate_certs=validate_certs, ca_path=ca_path)
    except SfError:
        return
    raise AssertionError('a request to a closed port succeeded')


@given(value=st.one_of(json_values, st.sampled_from(PATHS)))
def test_an_unexpected_type_for_any_option_never_escapes_as_another_exception(value: Any) -> None:
    for option in ('api_url', 'namespace', 'key'):
        with contextlib.suppress(SfInvalidInput):
            resolve_settings({'api_url': 'http://127.0.0.1:1', 'namespace': 'ci', 'key': 'k3y-secret',
                              option: value}, environ={}, config_files=[])


@pytest.mark.parametrize('timeout', [float('nan'), float('inf'), 1e12, 1e300])
def test_timeouts_that_are_not_usable_are_invalid_input(timeout: float) -> None:
    with pytest.raises(SfError):
        request_with(timeout=timeout)


def test_a_zero_timeout_is_refused() -> None:
    with pytest.raises(SfInvalidInput):
        resolve_settings({'api_url': 'http://127.0.0.1:1', 'namespace': 'ci', 'key': 'k3y-secret', 'timeout': 0},
                         environ={}, config_files=[])


def test_a_missing_ca_path_is_a_typed_error() -> None:
    with pytest.raises(SfError):
        request_with('https', ca_path='/nonexistent/ca.pem', retries=0)
