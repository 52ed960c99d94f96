"""docs/getting-started.md works as written: its `# tutorial.yml` blocks, joined in order, run against the emulator,
and then its ad-hoc commands, with the key from the environment."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from tools.sfsupport.backend import Backend

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / 'docs' / 'getting-started.md'
VENV_BIN = Path(os.environ.get('VIRTUAL_ENV', ROOT / '.venv')) / 'bin'
FENCE = re.compile(r'^```yaml\n(.*?)^```', re.MULTILINE | re.DOTALL)
SH_FENCE = re.compile(r'^```sh\n(.*?)^```', re.MULTILINE | re.DOTALL)
PAGE_VENV = '~/sf-ansible/bin/'


def tutorial_playbook() -> str:
    """The page's tutorial blocks in order: the first is the play, the others its tasks."""
    blocks = [block for block in FENCE.findall(PAGE.read_text()) if block.lstrip().startswith('# tutorial.yml')]
    assert len(blocks) > 2, 'docs/getting-started.md lost its tutorial.yml blocks'
    return '---\n' + ''.join(blocks)


def adhoc_commands() -> str:
    """The page's block of ad-hoc commands, run with this checkout's venv instead of the page's ~/sf-ansible."""
    blocks = [block for block in SH_FENCE.findall(PAGE.read_text()) if f'{PAGE_VENV}ansible localhost -m' in block]
    assert len(blocks) == 1, 'docs/getting-started.md lost its block of ad-hoc commands'
    return blocks[0].replace(PAGE_VENV, f'{VENV_BIN}/')


def test_tutorial_blocks_form_one_playbook() -> None:
    text = tutorial_playbook()
    assert text.count('hosts: localhost') == 1
    assert 'shakenfist.storage.sf_namespace_cleanup' in text


def test_getting_started_runs_against_the_emulator(backend: Backend, tmp_path: Path) -> None:
    if not backend.is_emulator:
        pytest.skip('the tutorial boots an instance, which the real 0.7.2 tier cannot run')
    namespace, key = backend.new_namespace('tutorial')
    playbook = tmp_path / 'tutorial.yml'
    playbook.write_text(tutorial_playbook())
    env = {
        **os.environ,
        'ANSIBLE_COLLECTIONS_PATH': str(ROOT / '.tmp' / 'collections'),
        'ANSIBLE_NOCOLOR': '1',
        'ANSIBLE_RETRY_FILES_ENABLED': 'false',
        'ANSIBLE_PYTHON_INTERPRETER': str(VENV_BIN / 'python'),
        'SHAKENFIST_API_URL': backend.url, 'SHAKENFIST_NAMESPACE': namespace, 'SHAKENFIST_KEY': key,
    }
    process = subprocess.run([str(VENV_BIN / 'ansible-playbook'), '-i', 'localhost,', '-c', 'local', str(playbook)],
                             env=env, capture_output=True, text=True, timeout=600, check=False, cwd=tmp_path)
    output = process.stdout + process.stderr
    assert process.returncode == 0, output[-12000:]
    assert re.search(r'localhost\s+: ok=\d+\s+changed=\d+\s+unreachable=0\s+failed=0', output), output[-3000:]
    # Then the ad-hoc commands, as the page shows them: publish and label again, look, plan a cleanup, clean up.
    # The implicit localhost runs the modules with the venv's Python, as the page says.
    adhoc_env = {k: v for k, v in env.items() if k != 'ANSIBLE_PYTHON_INTERPRETER'} | {'PWD': str(tmp_path)}
    process = subprocess.run(['bash', '-euo', 'pipefail', '-c', adhoc_commands()], env=adhoc_env,
                             capture_output=True, text=True, timeout=600, check=False, cwd=tmp_path)
    output = process.stdout + process.stderr
    assert process.returncode == 0, output[-12000:]
    results = re.findall(r'^localhost \| (\w+)', output, re.MULTILINE)
    assert results == ['CHANGED', 'SUCCESS', 'SUCCESS', 'CHANGED', 'CHANGED'], output[-6000:]
    assert key not in output
    # The cleanup at the end left the namespace empty.
    left = backend.call('GET', '/artifacts', namespace=namespace, key=key)
    assert [a for a in left if a['namespace'] == namespace] == []
    instances = backend.call('GET', '/instances', namespace=namespace, key=key)
    assert [i['name'] for i in instances if i['state'] != 'deleted'] == []
