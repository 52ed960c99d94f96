"""`make demo`: start a private Shaken Fist emulator, run the demo playbook against it, show what happened.

Everything lives under .tmp/demo and the emulator is stopped (by PID) when the playbook ends.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sf_emulator.testing import EmulatorProcess  # noqa: E402
from tests.support.backend import Backend  # noqa: E402

WORK = ROOT / '.tmp' / 'demo'
MIB = 1024 * 1024


def main() -> int:
    shutil.rmtree(WORK, ignore_errors=True)
    (WORK / 'images').mkdir(parents=True)
    for name, size in (('web-v1.qcow2', 8), ('web-v2.qcow2', 8)):
        (WORK / 'images' / name).write_bytes(os.urandom(size * MIB))
    with EmulatorProcess(WORK / 'emulator') as emulator:
        backend = Backend('emulator', emulator.url, emulator.system_key, emulator=emulator)
        key = secrets.token_urlsafe(16)
        backend.call('POST', '/auth/namespaces', {'namespace': 'demo', 'key_name': 'demo', 'key': key})
        print(f'Shaken Fist emulator running at {emulator.url} (data in {WORK / "emulator"})', flush=True)
        env = {
            **os.environ,
            'ANSIBLE_COLLECTIONS_PATH': str(ROOT / '.tmp' / 'collections'),
            'ANSIBLE_PYTHON_INTERPRETER': sys.executable,
            'ANSIBLE_STDOUT_CALLBACK': 'default',
            'ANSIBLE_CALLBACK_RESULT_FORMAT': 'yaml',
            'ANSIBLE_DISPLAY_SKIPPED_HOSTS': 'false',
            'ANSIBLE_NOCOLOR': os.environ.get('ANSIBLE_NOCOLOR', '0'),
            'SHAKENFIST_API_URL': emulator.url,
            'SHAKENFIST_NAMESPACE': 'demo',
            'SHAKENFIST_KEY': key,
            'DEMO_SYSTEM_KEY': emulator.system_key,
            'DEMO_IMAGES': str(WORK / 'images'),
        }
        playbook = ROOT / 'tools' / 'demo' / 'demo.yml'
        command = [str(Path(sys.executable).parent / 'ansible-playbook'), '-i', 'localhost,', '-c', 'local',
                   str(playbook)]
        code = subprocess.call(command, env=env)
        writes = [r for r in emulator.request_log() if r['method'] not in ('GET', 'HEAD')]
        print(f'\nThe emulator served {len(emulator.request_log())} requests, {len(writes)} of them writes.')
    print('Emulator stopped.' if code == 0 else f'The demo playbook failed (exit {code}).')
    return code


if __name__ == '__main__':
    sys.exit(main())
