"""The standing fault matrix (emulator only): every fault (row) against every state-changing operation (column).

Each cell is one test, `test_cell[<row>-<column>]`. It sets up the world the operation starts from, runs the
operation's task through ansible-playbook while the emulator injects the row's fault, and requires that the run
either recovered or failed with a clean typed error (`failed`, a `msg`, no traceback, an `error` with a `type`).
Then, checked through the API: no half-made version (every version's bytes hash to its sha512), no artifact left
in `initial` without versions, no mis-pointed label or image (the world is as before the task or as it asked), and
a second run of the task converges (succeeds; if it changed something, a third run reports no change) with the
world exactly as asked and no upload left holding bytes. Machinery: fault_matrix.py. The table in
docs/reliability.md is generated from the recorded run by tools/fault_matrix_table.py.

Adding an operation (a column), e.g. sf_snapshot, sf_namespace_cleanup or sf_artifact_download when they land, is
one entry in COLUMNS:

    Operation('snapshot', 'sf_snapshot', 'shakenfist.storage.sf_snapshot',
              setup=setup_snapshot,      # make the world the task starts from, through cell.call() (the API)
              args=lambda cell: {'instance': cell.facts['instance'], 'name': 'nightly'},   # the task's options
              check=check_snapshot,      # check(cell, settled): before-or-asked when False, exactly asked when True
              writes=(Route('POST', r'^/instances/[^/]+/snapshot$'),))   # its write routes, the commit first

`midway`/`midway_after` move where mid-operation faults (token expiry, restart, kill) strike, as the file publish
does to strike mid-upload; `rerun` gives the second and third runs' options when re-running the same task would not
converge by design (sf_label rollback is an action). Adding a fault (a row) is one entry in ROWS: `inject` sets
emulator faults before the run, or `strike` acts while the run's midway request is held. A cell that fails because
of the collection gets a line in XFAIL naming the behaviour; strict, so a fix turns it into a failure to remove.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.fault_matrix import (
    MIB,
    Args,
    Cell,
    Fault,
    MatrixEmulator,
    Operation,
    Playbook,
    Route,
    record,
    run_cell,
)
from tools.sfsupport.backend import EMULATOR_TEST_ARGS, Backend, backend_kind

pytestmark = pytest.mark.skipif(backend_kind() != 'emulator', reason='fault injection needs the emulator')

# Short background timings on top of the suite's: URL fetches and their operations finish in a blink.
MATRIX_EMULATOR_ARGS = (*EMULATOR_TEST_ARGS, '--op-delay', '0.05', '--fetch-delay', '0.05')
SLOW_TIMEOUT = 1.0
# After a convert's answer is lost, sf_image_publish looks for its version for about `timeout` more (its last look
# comes at most 1.75 s after the timeout): answering 3 s late lands after it gave up, with room for a loaded machine.
SLOW_PAST = 3.0

CONVERT = Route('POST', r'^/artifacts/upload/')
CREATE_UPLOAD = Route('POST', r'^/upload$')
CHUNK = Route('POST', r'^/upload/[0-9a-f-]{36}$')
TRUNCATE = Route('POST', r'^/upload/[0-9a-f-]{36}/truncate/')
FETCH = Route('POST', r'^/artifacts$')
DELETE_ARTIFACT = Route('DELETE', r'^/artifacts/[0-9a-f-]{36}$')
POINT_LABEL = Route('POST', r'^/label/')
SET_METADATA = Route('PUT', r'^/artifacts/[0-9a-f-]{36}/metadata/')
DELETE_METADATA = Route('DELETE', r'^/artifacts/[0-9a-f-]{36}/metadata/')
LABEL_WRITES = (POINT_LABEL, SET_METADATA, DELETE_METADATA)


# Columns: the operations
def setup_file(cell: Cell) -> None:
    src = cell.workdir / 'image.img'
    src.write_bytes(os.urandom(4 * MIB + 4321))  # five chunks of 1 MiB, the last one short
    cell.facts.update(src=str(src), sha512=hashlib.sha512(src.read_bytes()).hexdigest())


def check_file(cell: Cell, settled: bool) -> None:
    held = cell.contents(f'sf://upload/{cell.namespace}/image')
    assert held == [cell.facts['sha512']] or (not settled and held is None), f'image has {cell.describe(held)}'


def setup_url(cell: Cell) -> None:
    content = os.urandom(MIB + 17)
    (cell.www_dir / f'{cell.namespace}.img').write_bytes(content)
    cell.facts.update(url=f'{cell.www_url}/{cell.namespace}.img', sha512=hashlib.sha512(content).hexdigest())


def check_url(cell: Cell, settled: bool) -> None:
    held = cell.contents(cell.facts['url'])
    assert held == [cell.facts['sha512']] or (not settled and held is None), f'the URL has {cell.describe(held)}'


def setup_image(cell: Cell) -> None:
    cell.facts['sha512'] = cell.publish('image', os.urandom(256 * 1024))['sha512']


def check_image_gone(cell: Cell, settled: bool) -> None:
    held = cell.contents(f'sf://upload/{cell.namespace}/image')
    assert held is None or (not settled and held == [cell.facts['sha512']]), f'image has {cell.describe(held)}'


def setup_images(cell: Cell, *labelled: str) -> None:
    """Images a and b, and label web pointed at `labelled` in turn."""
    for name in ('a', 'b'):
        cell.facts[name] = cell.publish(f'image-{name}', os.urandom(64 * 1024))['blob']
    for name in labelled:
        cell.point_label('web', cell.facts[name])


def label_check(before: list[str] | None, after: list[str] | None) -> Any:
    """A check that label web's versions point at the blobs `before` (not settled only) or `after`."""

    def check(cell: Cell, settled: bool) -> None:
        blobs = cell.label_blobs('web')
        named = None if blobs is None else [next(n for n in ('a', 'b') if cell.facts[n] == b) for b in blobs]
        assert named == after or (not settled and named == before), f'label web points at {named}'

    return check


def rollback_rerun(cell: Cell, first: dict[str, Any] | None) -> tuple[Args, Args]:
    # A rollback is an action: after a failed or killed run the user runs it again; after a successful one, the
    # idempotent way to hold the label where the rollback put it is to point it at that image.
    hold_there = {'name': 'web', 'target': 'image-a'}
    if first is None or first.get('failed'):
        return {'name': 'web', 'rollback': 1}, hold_there
    return hold_there, hold_there


COLUMNS = [
    Operation('publish_file', 'sf_image_publish file', 'shakenfist.storage.sf_image_publish',
              setup_file, lambda cell: {'name': 'image', 'src': cell.facts['src'], 'chunk_size': 1,
                                        'checksum_cache_dir': str(cell.state_dir)},
              check_file, (CONVERT, CREATE_UPLOAD, CHUNK, TRUNCATE), midway=CHUNK, midway_after=2),
    Operation('publish_url', 'sf_image_publish url', 'shakenfist.storage.sf_image_publish',
              setup_url, lambda cell: {'url': cell.facts['url'], 'wait_timeout': 60}, check_url, (FETCH,)),
    Operation('publish_absent', 'sf_image_publish absent', 'shakenfist.storage.sf_image_publish',
              setup_image, lambda cell: {'name': 'image', 'state': 'absent'}, check_image_gone, (DELETE_ARTIFACT,)),
    # Creating a label sends the same write as moving one (POST /label/<name>), so one column covers both.
    Operation('label_move', 'sf_label create/move', 'shakenfist.storage.sf_label',
              lambda cell: setup_images(cell, 'a'), lambda cell: {'name': 'web', 'target': 'image-b'},
              label_check(['a'], ['a', 'b']), LABEL_WRITES),
    Operation('label_rollback', 'sf_label rollback', 'shakenfist.storage.sf_label',
              lambda cell: setup_images(cell, 'a', 'b'), lambda cell: {'name': 'web', 'rollback': 1},
              label_check(['a', 'b'], ['a', 'b', 'a']), LABEL_WRITES, rerun=rollback_rerun),
    Operation('label_absent', 'sf_label absent', 'shakenfist.storage.sf_label',
              lambda cell: setup_images(cell, 'a'), lambda cell: {'name': 'web', 'state': 'absent'},
              label_check(['a'], None), (DELETE_ARTIFACT,)),
]


# Rows: the faults
Inject = Callable[[Cell, Operation], None]


def on_commit(**spec: Any) -> Inject:
    def inject(cell: Cell, operation: Operation) -> None:
        cell.emulator.add_fault(**operation.commit.fault(**spec))

    return inject


def on_every_write(**spec: Any) -> Inject:
    def inject(cell: Cell, operation: Operation) -> None:
        for route in operation.writes:
            cell.emulator.add_fault(**route.fault(**spec))

    return inject


def expire_tokens(cell: Cell, play: Playbook) -> None:
    cell.emulator.add_fault(kind='expire_tokens')


def restart(cell: Cell, play: Playbook) -> None:
    cell.emulator.restart()  # same port and data dir; the held request dies with the process


def kill(cell: Cell, play: Playbook) -> None:
    play.kill()


ROWS = [
    Fault('reset', 'connection reset', inject=on_commit(kind='drop', after_bytes=0)),
    Fault('500', '500 on the commit', inject=on_commit(kind='fail', status=500)),
    Fault('503', '503 twice on every write', inject=on_every_write(kind='fail', status=503, count=2)),
    Fault('406', '406 storm', inject=on_every_write(kind='not_ready', count=2)),
    Fault('slow', f'answer {SLOW_PAST:g} s past `timeout: {SLOW_TIMEOUT:g}`',
          inject=on_commit(kind='latency', seconds=SLOW_TIMEOUT + SLOW_PAST), timeout=SLOW_TIMEOUT, lingers=True),
    Fault('expire', 'token expiry', strike=expire_tokens, hold=0.5),
    Fault('restart', 'emulator restart', strike=restart, hold=5.0),
    Fault('kill', '`kill -9`, re-run', strike=kill, hold=1.0),
]

# Cells that fail because of the collection, with the behaviour that fails them: (row, column) -> reason.
XFAIL: dict[tuple[str, str], str] = {}


def cells() -> Iterator[Any]:
    for fault in ROWS:
        for operation in COLUMNS:
            reason = XFAIL.get((fault.id, operation.id))
            marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
            yield pytest.param(fault, operation, id=f'{fault.id}-{operation.id}', marks=marks)


@pytest.fixture(scope='module')
def matrix_backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    """One emulator for the whole matrix, of its own: the restart row stops and starts it."""
    data_dir = tmp_path_factory.mktemp('matrix') / 'emulator'
    with MatrixEmulator(data_dir, extra_args=MATRIX_EMULATOR_ARGS) as emulator:
        yield Backend('emulator', emulator.url, emulator.system_key, emulator=emulator)


@pytest.mark.parametrize(('fault', 'operation'), cells())
def test_cell(fault: Fault, operation: Operation, matrix_backend: Backend, file_server: tuple[str, Path],
              tmp_path: Path) -> None:
    namespace, key = matrix_backend.new_namespace('matrix')
    cell = Cell(matrix_backend, namespace, key, tmp_path, file_server[0], file_server[1])
    xfail = XFAIL.get((fault.id, operation.id))
    started = time.monotonic()
    try:
        outcome = run_cell(cell, operation, fault)
    except Exception as exc:
        detail = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
        record(ROWS, COLUMNS, fault, operation, status='xfailed' if xfail else 'failed', outcome=None, reason=xfail,
               detail=detail, seconds=round(time.monotonic() - started, 1))
        raise
    finally:
        matrix_backend.emulator.clear_faults()
    record(ROWS, COLUMNS, fault, operation, status='xpassed' if xfail else 'passed', outcome=outcome, reason=xfail,
           detail=None, seconds=round(time.monotonic() - started, 1))
