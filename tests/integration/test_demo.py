"""`make demo` runs here, so the story a newcomer sees cannot rot: it passes, reads cleanly and cleans up."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / 'tools' / 'demo.py'
GLOSSARY_TERMS = ('blob', 'artifact', 'version', 'label', 'disk base', 'sf://upload/...', 'upstream shorthand',
                  'snapshot set', 'namespace')


def run_demo(**env: str) -> tuple[int, str]:
    done = subprocess.run([sys.executable, str(DEMO)], capture_output=True, text=True, timeout=900, check=False,
                          env={**os.environ, 'ANSIBLE_NOCOLOR': '1', **env})
    return done.returncode, done.stdout + done.stderr


def started(output: str) -> tuple[int, Path]:
    """The emulator's PID and data directory, as the demo announces them."""
    found = re.search(r'running at http://127\.0\.0\.1:\d+ \(PID (\d+), data in (\S+)\)', output)
    assert found, output
    return int(found.group(1)), Path(found.group(2))


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_demo_tells_the_whole_story_and_cleans_up() -> None:
    code, output = run_demo()
    assert code == 0, output
    for unwanted in ('Traceback', '[ERROR]', 'FAILED', 'fatal:', 'ignoring', '[WARNING]'):
        assert unwanted not in output, f'{unwanted!r} in the demo output:\n{output}'
    # The story, as the summary tells it (lines are wrapped, so compare with whitespace collapsed).
    story = ' '.join(output.split('\nWhat happened\n', 1)[1].split('\nWords used\n', 1)[0].split())
    assert 'Published it again: changed false, uploaded_bytes 0.' in story, story
    assert 'The same bytes as web-golden: reused_blob true, uploaded_bytes 0.' in story, story
    assert 'A bare centos:7 was refused, not guessed: it meant sf://label/system/centos:7 or https://' in story, story
    assert 'Named explicitly, the label base points at sf://label/system/centos:7.' in story, story
    assert re.search(r'Booted web-1 from label:web, pinned to its version 1 \(disk base sf://blob/[0-9a-f-]{36}\)',
                     story), story
    assert 'Snapshotted web-1 as the set before-upgrade and labelled it sf://label/demo/web-known-good.' in story
    assert 'then deleted 1 instance and 6 artifacts of namespace demo' in story, story
    # Every term used is explained, one line each, and the way to a real cluster is spelled out.
    glossary = output.split('\nWords used\n', 1)[1].split('\n\n', 1)[0]
    for term in GLOSSARY_TERMS:
        assert re.search(rf'^  {re.escape(term)}  ', glossary, re.MULTILINE), glossary
    cluster = output.split('\nNow point it at your cluster\n', 1)[1]
    for setting in ('export SHAKENFIST_API_URL=', 'export SHAKENFIST_NAMESPACE=', 'export SHAKENFIST_KEY=',
                    'group/shakenfist.storage.sf:'):
        assert setting in cluster, cluster
    # No shortened checksum beside a blob: a hash is printed whole or not at all.
    assert not re.search(r'[0-9a-f]{8,}\.\.\.', output), output
    pid, data_dir = started(output)
    assert gone(pid) and not data_dir.exists(), output


def test_demo_stops_the_emulator_when_the_playbook_fails() -> None:
    code, output = run_demo(ANSIBLE_STRATEGY='no-such-strategy')
    assert code != 0, output
    assert 'The demo playbook failed' in output, output
    pid, data_dir = started(output)
    assert gone(pid) and not data_dir.exists(), output
