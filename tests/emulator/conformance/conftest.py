"""Drive a server with the official client, shakenfist-client 0.8.3, from its own venv (`make sfclient-venv`).

Everything here talks to `sf_server` only (url + system key), never to emulator internals, so the same tests can
run against the real 0.7.2 server (SF_TEST_BACKEND=real, see ../conftest.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[3]
VENV = ROOT / '.venv-sfclient'


def _ensure_venv() -> Path:
    if not (VENV / '.installed').exists():
        build = subprocess.run(['make', '-C', str(ROOT), 'sfclient-venv'], capture_output=True, text=True,
                               timeout=600)
        if build.returncode != 0 or not (VENV / 'bin' / 'sf-client').exists():
            tail = (build.stdout + build.stderr).strip().splitlines()[-3:]
            pytest.skip(f'cannot build .venv-sfclient with shakenfist-client==0.8.3: {" | ".join(tail)}')
    return VENV


_API_PRELUDE = '''
import json, sys
from shakenfist_client import apiclient
args = json.load(sys.stdin)
client = apiclient.Client(base_url=args['url'], namespace=args['namespace'], key=args['key'],
                          suppress_configuration_lookup=True, async_strategy=apiclient.ASYNC_PAUSE)
'''


@dataclass
class SfClient:
    venv: Path
    url: str
    home: Path

    def _env(self, namespace: str, key: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith('SHAKENFIST_')}
        env.update(HOME=str(self.home), SHAKENFIST_API_URL=self.url, SHAKENFIST_NAMESPACE=namespace,
                   SHAKENFIST_KEY=key, SHAKENFIST_ASYNC='pause')
        return env

    def cli(self, namespace: str, key: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run `sf-client ARGS` as namespace/key; the client prints errors on stdout with exit status 1."""
        result = subprocess.run([str(self.venv / 'bin' / 'sf-client'), *args], capture_output=True, text=True,
                                env=self._env(namespace, key), timeout=300)
        if check and result.returncode != 0:
            raise AssertionError(f'sf-client {" ".join(args)} failed ({result.returncode}):\n'
                                 f'{result.stdout}\n{result.stderr}')
        return result

    def cli_json(self, namespace: str, key: str, *args: str) -> Any:
        return json.loads(self.cli(namespace, key, '--json', *args).stdout)

    def api(self, namespace: str, key: str, body: str, **args: Any) -> Any:
        """Run python code in the client's venv with `client` and `args`; the code sets `result` (JSON)."""
        script = _API_PRELUDE + textwrap.dedent(body) + '\nprint(json.dumps(result))\n'
        payload = json.dumps({'url': self.url, 'namespace': namespace, 'key': key, **args})
        run = subprocess.run([str(self.venv / 'bin' / 'python'), '-c', script], input=payload, capture_output=True,
                             text=True, env=self._env(namespace, key), timeout=300)
        if run.returncode != 0:
            raise AssertionError(f'apiclient script failed:\n{run.stdout}\n{run.stderr}')
        return json.loads(run.stdout.strip().splitlines()[-1])


@pytest.fixture(scope='session')
def sfclient(sf_server: Any, tmp_path_factory: pytest.TempPathFactory) -> SfClient:
    return SfClient(_ensure_venv(), sf_server.url, tmp_path_factory.mktemp('sfclient-home'))
