"""sf_emulator.testing.EmulatorProcess: ports, restart, stop by PID, failure reporting, upload 401 handling."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
import requests
from sfe_helpers import Api

from sf_emulator.testing import EmulatorProcess


def test_start_stop_restart(tmp_path: Path) -> None:
    sf = EmulatorProcess(tmp_path / 'data')
    assert sf.pid is None
    with sf:
        assert sf.url.startswith('http://127.0.0.1:') and sf.pid
        first_pid = sf.pid
        assert requests.get(sf.url + '/readyz').text == 'ready'
        sf.restart()
        assert sf.pid != first_pid and requests.get(sf.url + '/readyz').status_code == 200
        pid = sf.pid
    assert sf.pid is None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert (tmp_path / 'data' / 'emulator.log').exists()


def test_start_failure_reports_the_log_tail(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        sock.listen()
        sf = EmulatorProcess(tmp_path / 'data', port=sock.getsockname()[1])
        with pytest.raises(RuntimeError, match='cannot listen'):
            sf.start()
    assert sf.pid is None


def test_expired_token_on_a_large_upload_chunk_answers_401_not_a_reset(emulator: EmulatorProcess) -> None:
    """A client whose token died mid-upload must read the 401 (and re-authenticate), not a connection reset."""
    api = Api(emulator.url, 'system', emulator.system_key)
    upload = api.ok('POST', '/upload')['uuid']
    emulator.add_fault(kind='expire_tokens')
    answer = api.call('POST', f'/upload/{upload}', data=os.urandom(16 * 1024 * 1024),
                      headers={'Content-Type': 'application/octet-stream'})
    assert answer.status_code == 401
    api.login()
    assert api.ok('POST', f'/upload/{upload}', data=b'abc', headers={'Content-Type': 'application/octet-stream'}) == 3
