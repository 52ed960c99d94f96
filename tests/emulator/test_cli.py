"""The command line: help, one-line errors, generated system key, state across restarts."""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests
from sfe_helpers import Api, make_namespace

from sf_emulator.config import settings
from sf_emulator.testing import EmulatorProcess, free_port

OCTETS = {'Content-Type': 'application/octet-stream'}


def run_cli(*args: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, '-m', 'sf_emulator', *args], capture_output=True, text=True,
                          timeout=timeout)


def test_help_documents_every_flag() -> None:
    result = run_cli('serve', '--help')
    assert result.returncode == 0
    for flag in ('--host', '--port', '--data-dir', '--system-key', '--verbose', '--fault', '--latency',
                 '--max-connections', '--request-threads', '--system-key-file', '--no-admin-routes',
                 '--tls-cert', '--tls-key'):
        assert flag in result.stdout
    for name in settings():
        assert '--' + name.replace('_', '-') in result.stdout


def test_bad_flag_is_one_line(tmp_path: Path) -> None:
    for args in (['serve', '--data-dir', str(tmp_path), '--bogus'], ['serve', '--data-dir', str(tmp_path),
                 '--port', 'abc'], ['serve'], ['serve', '--data-dir', str(tmp_path), '--op-delay', 'soon'],
                 ['serve', '--data-dir', str(tmp_path), '--fault', '{"kind": "nope"}'],
                 ['serve', '--data-dir', str(tmp_path), '--max-connections', '0'],
                 ['serve', '--data-dir', str(tmp_path), '--request-threads', 'many']):
        result = run_cli(*args)
        assert result.returncode != 0, args
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert 'Traceback' not in result.stderr


def test_unwritable_data_dir(tmp_path: Path) -> None:
    blocker = tmp_path / 'file'
    blocker.write_text('not a directory')
    result = run_cli('serve', '--data-dir', str(blocker / 'sub'), '--port', str(free_port()))
    assert result.returncode == 1 and len(result.stderr.strip().splitlines()) == 1
    assert 'data dir' in result.stderr and 'Traceback' not in result.stderr


def test_busy_port(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        sock.listen()
        port = sock.getsockname()[1]
        result = run_cli('serve', '--data-dir', str(tmp_path / 'd'), '--port', str(port))
    assert result.returncode == 1 and len(result.stderr.strip().splitlines()) == 1
    assert 'cannot listen' in result.stderr


def test_generated_system_key_is_printed_and_works(tmp_path: Path) -> None:
    port = free_port()
    process = subprocess.Popen([sys.executable, '-m', 'sf_emulator', 'serve', '--data-dir', str(tmp_path / 'd'),
                                '--port', str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline(), process.stdout.readline()]
        key = lines[1].strip().rsplit(' ', 1)[1]
        assert 'system key' in lines[1]
        answer = requests.post(f'http://127.0.0.1:{port}/auth', json={'namespace': 'system', 'key': key})
        assert answer.status_code == 200
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert process.returncode == 0


def test_verbose_logs_requests_to_stderr(tmp_path: Path) -> None:
    with EmulatorProcess(tmp_path / 'd', extra_args=['--verbose']) as sf:
        requests.get(sf.url + '/livez')
        time.sleep(0.2)
        assert 'GET /livez 200' in sf.log_tail()
    with EmulatorProcess(tmp_path / 'quiet') as sf:
        requests.get(sf.url + '/livez')
        time.sleep(0.2)
        assert 'GET /livez' not in sf.log_tail()


def test_cli_faults_apply_from_the_start(tmp_path: Path) -> None:
    fault = '{"kind": "fail", "method": "GET", "path": "^/livez$", "count": 1, "status": 500}'
    with EmulatorProcess(tmp_path / 'd', extra_args=['--fault', fault]) as sf:
        assert requests.get(sf.url + '/livez').status_code == 500
        assert requests.get(sf.url + '/livez').status_code == 200


def test_state_survives_restart_mid_upload(tmp_path: Path) -> None:
    with EmulatorProcess(tmp_path / 'd', extra_args=['--op-delay', '0.05']) as sf:
        api = Api(sf.url, 'system', sf.system_key)
        tenant = make_namespace(api)
        art = tenant.upload_bytes('persist', os.urandom(1000))
        label = tenant.ok('POST', '/label/persist-label', {'blob_uuid': art['blob_uuid']})
        upload = tenant.ok('POST', '/upload')['uuid']
        first, second = os.urandom(50_000), os.urandom(70_000)
        tenant.ok('POST', f'/upload/{upload}', data=first, headers=OCTETS)
        pid = sf.pid
        sf.restart()
        assert sf.pid != pid
        tenant.session.close()
        # the old token still works (signing secret and key nonce are persisted)
        assert tenant.ok('GET', f'/artifacts/{art["uuid"]}')['blob_uuid'] == art['blob_uuid']
        assert tenant.ok('GET', '/label/persist-label')['uuid'] == label['uuid']
        assert tenant.ok('POST', f'/upload/{upload}', data=second, headers=OCTETS) == len(first) + len(second)
        done = tenant.ok('POST', '/artifacts/upload/persist', {'upload_uuid': upload})
        assert done['index'] == 2
        blob = tenant.ok('GET', f'/blobs/{done["blob_uuid"]}')
        assert blob['sha512'] == hashlib.sha512(first + second).hexdigest()
        assert api.ok('GET', f'/auth/namespaces/{tenant.namespace}')['keys'] == ['main']


def _serve_until_ready(args: list[str], env: dict[str, str] | None = None) -> tuple[subprocess.Popen[str], int]:
    port = free_port()
    process = subprocess.Popen([sys.executable, '-m', 'sf_emulator', 'serve', '--port', str(port), *args],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, **(env or {})})
    assert process.stdout is not None
    assert 'listening on' in process.stdout.readline()
    return process, port


def _authenticates(port: int, key: str) -> bool:
    answer = requests.post(f'http://127.0.0.1:{port}/auth', json={'namespace': 'system', 'key': key})
    return answer.status_code == 200


def _stop(process: subprocess.Popen[str]) -> str:
    process.terminate()
    _, stderr = process.communicate(timeout=10)
    return stderr


def test_system_key_from_the_environment_or_a_file_stays_out_of_ps(tmp_path: Path) -> None:
    key_file = tmp_path / 'system.key'
    key_file.write_text('from-a-file\n')
    cases = [([], {'SF_EMULATOR_SYSTEM_KEY': 'from-the-environment'}, 'from-the-environment'),
             (['--system-key-file', str(key_file)], {'SF_EMULATOR_SYSTEM_KEY': 'ignored'}, 'from-a-file')]
    for n, (args, env, key) in enumerate(cases):
        process, port = _serve_until_ready(['--data-dir', str(tmp_path / f'd{n}'), *args], env)
        try:
            assert _authenticates(port, key)
            assert key.encode() not in Path(f'/proc/{process.pid}/cmdline').read_bytes()
        finally:
            stderr = _stop(process)
        assert 'warning' not in stderr and key not in stderr


def test_system_key_on_the_command_line_still_works_with_a_warning(tmp_path: Path) -> None:
    process, port = _serve_until_ready(['--data-dir', str(tmp_path / 'd'), '--system-key', 'visible-in-ps'])
    try:
        assert _authenticates(port, 'visible-in-ps')
    finally:
        stderr = _stop(process)
    assert 'warning: --system-key shows the key to every local user' in stderr and 'visible-in-ps' not in stderr


def test_system_key_file_errors_are_one_line(tmp_path: Path) -> None:
    empty = tmp_path / 'empty.key'
    empty.write_text('\n')
    for args in (['--system-key-file', str(tmp_path / 'missing.key')], ['--system-key-file', str(empty)],
                 ['--system-key-file', str(empty), '--system-key', 'x']):
        result = run_cli('serve', '--data-dir', str(tmp_path / 'd'), '--port', str(free_port()), *args)
        assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, (args, result.stderr)
        assert 'system-key' in result.stderr and 'Traceback' not in result.stderr


def test_emulator_process_passes_the_key_in_the_environment(tmp_path: Path) -> None:
    with EmulatorProcess(tmp_path / 'd') as sf:
        assert sf.system_key.encode() not in Path(f'/proc/{sf.pid}/cmdline').read_bytes()
        assert _authenticates(sf.port, sf.system_key)
        assert 'warning' not in sf.log_tail()


def test_help_and_readme_list_every_route_family_and_fault_kind() -> None:
    from sf_emulator.app import load_domain_modules
    from sf_emulator.cli import ROUTE_FAMILIES, route_family
    from sf_emulator.faults.injection import KINDS
    from sf_emulator.http.router import ROUTER

    load_domain_modules()  # as the CLI does: every route registered
    unplaced = [r.pattern for r in ROUTER.routes if route_family(r.pattern) is None]
    assert not unplaced, f'routes in no family of ROUTE_FAMILIES: {unplaced}'
    used = {route_family(r.pattern) for r in ROUTER.routes}
    assert [prefixes for prefixes, _ in ROUTE_FAMILIES if prefixes not in used] == []
    readme = (Path(__file__).resolve().parents[2] / 'emulator' / 'README.md').read_text()
    for text in (run_cli('--help').stdout, run_cli('serve', '--help').stdout, readme):
        for prefixes, _ in ROUTE_FAMILIES:
            for prefix in prefixes:
                assert f'`{prefix}`' in text or f' {prefix} ' in text or f'{prefix}\n' in text, prefix
        for kind in KINDS:
            assert f'`{kind}`' in text or f'  {kind} ' in text, kind
