"""sf_artifact_download's domain (docs/download.md): streamed, verified, renamed into place, resumed from a partial
file, and never a half-written dest, whatever the server or an earlier killed run did."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path
from typing import Any, List, Optional, Tuple

import pytest

from ansible_collections.shakenfist.storage.plugins.module_utils._download import (
    Downloader,
    DownloadRequest,
    partial_path,
)
from ansible_collections.shakenfist.storage.plugins.module_utils._errors import (
    SfInvalidInput,
    SfNotFound,
    SfServerError,
    SfTransportError,
)
from ansible_collections.shakenfist.storage.plugins.module_utils._plan import PlanFailed, execute
from ansible_collections.shakenfist.storage.plugins.module_utils._resolver import Resolution

DATA = os.urandom(300_000)
SHA = hashlib.sha512(DATA).hexdigest()


class FakeStream:
    """A streamed answer that arrives in pieces of at most `piece` bytes, as a server's chunks do."""

    def __init__(self, body: bytes, length: Optional[int], cut: Optional[int], piece: int = 8192) -> None:
        self.body, self.length, self.cut, self.piece = body, length, cut, piece
        self.closed = False
        self.position = 0
        self.fills = 0

    def fill(self, view: memoryview) -> int:
        self.fills += 1
        end = len(self.body) if self.cut is None else self.cut
        filled = 0
        while filled < len(view) and self.position < end:
            count = min(self.piece, len(view) - filled, end - self.position)
            view[filled:filled + count] = self.body[self.position:self.position + count]
            filled += count
            self.position += count
        if filled < len(view) and self.cut is not None:
            raise SfTransportError('the answer broke off mid-body: connection reset')
        return filled

    def close(self) -> None:
        self.closed = True


class FakeApi:
    """Serves one blob; can ignore offsets (with or without a length), cut answers, or send wrong bytes."""

    def __init__(self, data: bytes = DATA, ignore_offset: bool = False, send_length: bool = True) -> None:
        self.data = data
        self.ignore_offset = ignore_offset
        self.send_length = send_length
        self.cuts: List[int] = []  # bytes to send before breaking off, one per coming request
        self.offsets: List[int] = []
        self.pauses = 0
        self.retries = 5

    def pause(self, attempt: int, reason: str, cap: float = 8.0) -> None:
        self.pauses += 1

    def blob_data(self, uuid: str, offset: int = 0) -> FakeStream:
        self.offsets.append(offset)
        body = self.data if self.ignore_offset else self.data[offset:]
        return FakeStream(body, len(body) if self.send_length else None, self.cuts.pop(0) if self.cuts else None)


class FakeResolver:
    def __init__(self, sha512: str = SHA, size: int = len(DATA), blob: Optional[str] = 'b-1') -> None:
        self.answer = Resolution(input='web', ref='sf://label/ci/web', origin='namespace', kind='label',
                                 uuid='a-1', version=2, blob_uuid=blob, sha512=sha512, size=size)
        self.calls: List[Tuple[Any, ...]] = []

    def resolve(self, text: str, version: Any = None, sha512: Any = None, prefer: Any = None) -> Resolution:
        self.calls.append((text, version, sha512, prefer))
        return self.answer


def downloader(api: FakeApi, dest: Path, resolver: Optional[FakeResolver] = None, retries: int = 3) -> Downloader:
    request = DownloadRequest(ref='web', dest=str(dest), block_size=64 * 1024)
    api.retries = retries
    return Downloader(api, resolver or FakeResolver(), request)


def run(api: FakeApi, dest: Path, **kwargs: Any) -> Any:
    return execute(downloader(api, dest, **kwargs).plan(), False)


def leftovers(folder: Path) -> List[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith('.sfpart'))


def test_download_writes_verified_bytes_and_reports_them(tmp_path: Path) -> None:
    api, dest = FakeApi(), tmp_path / 'web.img'
    outcome = run(api, dest)
    assert dest.read_bytes() == DATA and outcome.changed and leftovers(tmp_path) == []
    result = outcome.result
    assert (result['sha512'], result['size'], result['version']) == (SHA, len(DATA), 2)
    assert result['ref'] == 'sf://label/ci/web'
    assert result['downloaded_bytes'] == len(DATA) and result['resumed_from'] == 0
    assert outcome.before == {'dest': str(dest), 'state': 'absent'} and outcome.after['sha512'] == SHA
    assert 'sha512 verified' in outcome.actions[0] and api.offsets == [0]


def test_a_second_run_downloads_nothing(tmp_path: Path) -> None:
    api, dest = FakeApi(), tmp_path / 'web.img'
    run(api, dest)
    again = run(api, dest)
    assert not again.changed and api.offsets == [0] and again.result['downloaded_bytes'] == 0
    assert again.plan == [{'step': 'download', 'action': f'{dest} already holds sf://label/ci/web version 2 '
                                                         f'(sha512 {SHA[:16]}...)', 'status': 'unchanged'}]


def test_check_mode_plans_and_writes_nothing(tmp_path: Path) -> None:
    api, dest = FakeApi(), tmp_path / 'web.img'
    outcome = execute(downloader(api, dest).plan(), True)
    assert outcome.changed and outcome.actions[0].startswith('would download sf://label/ci/web version 2')
    assert list(tmp_path.iterdir()) == [] and api.offsets == []


def test_different_content_is_replaced_and_keeps_its_permissions(tmp_path: Path) -> None:
    dest = tmp_path / 'web.img'
    dest.write_bytes(b'old' * 100_000)  # the same size as DATA: hashed, found different
    dest.chmod(0o600)
    outcome = run(FakeApi(), dest)
    assert dest.read_bytes() == DATA and stat.S_IMODE(dest.stat().st_mode) == 0o600
    assert outcome.before['state'] == 'file'
    assert outcome.before['sha512'] == hashlib.sha512(b'old' * 100_000).hexdigest()


def test_a_good_partial_file_is_resumed_from_its_size(tmp_path: Path) -> None:
    api, dest = FakeApi(), tmp_path / 'web.img'
    Path(partial_path(str(dest), SHA)).write_bytes(DATA[:123_456])
    plan = downloader(api, dest).plan()
    assert 'resuming the partial download at' in plan.steps[0].text
    outcome = execute(plan, False)
    assert dest.read_bytes() == DATA and api.offsets == [123_456]
    assert outcome.result['resumed_from'] == 123_456 and outcome.result['downloaded_bytes'] == len(DATA) - 123_456


def test_a_corrupted_partial_file_is_replaced_and_the_result_verified(tmp_path: Path) -> None:
    api, dest = FakeApi(), tmp_path / 'web.img'
    Path(partial_path(str(dest), SHA)).write_bytes(b'\0' * 100_000)
    outcome = run(api, dest)
    assert dest.read_bytes() == DATA and api.offsets == [100_000, 0] and leftovers(tmp_path) == []
    assert 'wrong bytes was discarded' in outcome.actions[0] and outcome.result['resumed_from'] == 0


def test_a_partial_file_longer_than_the_version_starts_again(tmp_path: Path) -> None:
    api, dest = FakeApi(), tmp_path / 'web.img'
    Path(partial_path(str(dest), SHA)).write_bytes(DATA + b'extra')
    run(api, dest)
    assert dest.read_bytes() == DATA and api.offsets == [0]


@pytest.mark.parametrize('send_length', [True, False])
def test_a_server_that_ignores_offset_is_read_from_the_start(tmp_path: Path, send_length: bool) -> None:
    api, dest = FakeApi(ignore_offset=True, send_length=send_length), tmp_path / 'web.img'
    Path(partial_path(str(dest), SHA)).write_bytes(DATA[:50_000])
    run(api, dest)
    assert dest.read_bytes() == DATA and api.offsets == [50_000, 0]


def test_a_connection_lost_midway_is_resumed_in_the_same_run(tmp_path: Path) -> None:
    api, dest = FakeApi(), tmp_path / 'web.img'
    api.cuts = [64 * 1024 * 2, 64 * 1024]
    outcome = run(api, dest)
    assert dest.read_bytes() == DATA and api.offsets == [0, 131_072, 196_608] and api.pauses == 2
    assert outcome.result['downloaded_bytes'] == len(DATA)


def test_with_the_default_blocks_what_arrived_before_a_break_is_written_in_steps_and_kept(tmp_path: Path) -> None:
    # 4 MiB buffers, written as they fill, 256 KiB at a time: a break loses at most the step it was in, so a
    # connection that breaks every 1.3 MiB still makes progress, and the digest matches the file throughout.
    data = os.urandom(5 * 1024 * 1024 + 777)
    resolver = FakeResolver(sha512=hashlib.sha512(data).hexdigest(), size=len(data))
    api, dest = FakeApi(data=data), tmp_path / 'web.img'
    api.cuts = [1024 * 1024 + 300 * 1024] * 3
    plan = Downloader(api, resolver, DownloadRequest(ref='web', dest=str(dest))).plan()
    outcome = execute(plan, False)
    step = 256 * 1024
    assert api.offsets == [0, 5 * step, 10 * step, 15 * step] and api.pauses == 3
    assert dest.read_bytes() == data and outcome.result['downloaded_bytes'] == len(data)


def test_a_download_that_keeps_failing_leaves_dest_untouched_and_the_partial_file_for_next_time(
        tmp_path: Path) -> None:
    api, dest = FakeApi(), tmp_path / 'web.img'
    dest.write_bytes(b'previous')
    api.cuts = [65_536] * 3
    with pytest.raises(PlanFailed) as failed:
        run(api, dest, retries=2)
    assert 'the partial file is kept and the next run resumes it' in str(failed.value)
    assert dest.read_bytes() == b'previous'
    partial = Path(partial_path(str(dest), SHA))
    assert partial.read_bytes() == DATA[:3 * 65_536]
    outcome = run(api, dest)
    assert dest.read_bytes() == DATA and outcome.result['resumed_from'] == 3 * 65_536 and not partial.exists()


def test_wrong_bytes_from_the_server_fail_and_leave_dest_untouched(tmp_path: Path) -> None:
    api, dest = FakeApi(data=os.urandom(len(DATA))), tmp_path / 'web.img'
    dest.write_bytes(b'previous')
    with pytest.raises(PlanFailed) as failed:
        run(api, dest)
    assert isinstance(failed.value.error, SfServerError) and 'was left as it was' in str(failed.value)
    assert dest.read_bytes() == b'previous' and Path(partial_path(str(dest), SHA)).stat().st_size == 0


@pytest.mark.parametrize('where, message', [
    ('missing/web.img', 'does not exist'),
    ('', 'must name the file'),
    ('.', 'is a directory'),
    ('file/web.img', 'does not exist'),
])
def test_bad_dest_is_refused_before_anything_is_read_or_written(tmp_path: Path, where: str, message: str) -> None:
    (tmp_path / 'file').write_bytes(b'x')
    resolver = FakeResolver()
    request = DownloadRequest(ref='web', dest=str(tmp_path / where) if where else '')
    with pytest.raises(SfInvalidInput, match=message):
        Downloader(FakeApi(), resolver, request).plan()
    assert resolver.calls == [] and sorted(p.name for p in tmp_path.iterdir()) == ['file']


@pytest.mark.skipif(os.geteuid() == 0, reason='root writes anywhere')
def test_a_read_only_directory_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / 'ro'
    folder.mkdir()
    folder.chmod(0o500)
    with pytest.raises(SfInvalidInput, match='not writable'):
        downloader(FakeApi(), folder / 'web.img').plan()


def test_an_image_not_fetched_yet_has_nothing_to_download(tmp_path: Path) -> None:
    with pytest.raises(SfNotFound, match='has not been fetched'):
        downloader(FakeApi(), tmp_path / 'x', FakeResolver(blob=None)).plan()
    assert list(tmp_path.iterdir()) == []


def test_two_runs_at_once_take_turns_and_the_second_finds_dest_done(tmp_path: Path) -> None:
    import threading

    started, release = threading.Event(), threading.Event()

    class SlowApi(FakeApi):
        def blob_data(self, uuid: str, offset: int = 0) -> FakeStream:
            stream = super().blob_data(uuid, offset)
            fill = stream.fill

            def slow(view: memoryview) -> int:
                if stream.fills == 1:
                    started.set()
                    release.wait(10)
                return fill(view)

            stream.fill = slow  # type: ignore[method-assign]
            return stream

    dest = tmp_path / 'web.img'
    first_api, second_api = SlowApi(), FakeApi()
    first_plan = downloader(first_api, dest).plan()
    second_plan = downloader(second_api, dest).plan()  # planned while dest is absent: it plans a download too
    outcomes: dict = {}
    first = threading.Thread(target=lambda: outcomes.setdefault('first', execute(first_plan, False)))
    second = threading.Thread(target=lambda: outcomes.setdefault('second', execute(second_plan, False)))
    first.start()
    assert started.wait(10)
    second.start()  # waits for the first run's lock on the partial file
    release.set()
    first.join(10)
    second.join(10)
    assert dest.read_bytes() == DATA and leftovers(tmp_path) == []
    assert outcomes['first'].changed and not outcomes['second'].changed and second_api.offsets == []
    assert 'downloaded by a concurrent run meanwhile' in outcomes['second'].actions[0]


def test_a_run_planned_before_another_finished_finds_dest_done_when_its_turn_comes(tmp_path: Path) -> None:
    # The second run planned while dest was absent, and its turn came after the first run had renamed its download
    # into place (so no partial file was left to wait on): it downloads nothing and leaves nothing beside dest.
    dest = tmp_path / 'web.img'
    first_api, second_api = FakeApi(), FakeApi()
    first_plan, second_plan = downloader(first_api, dest).plan(), downloader(second_api, dest).plan()
    assert execute(first_plan, False).changed
    second = execute(second_plan, False)
    assert not second.changed and second_api.offsets == [] and second.result['downloaded_bytes'] == 0
    assert 'downloaded by a concurrent run meanwhile' in second.actions[0]
    assert dest.read_bytes() == DATA and leftovers(tmp_path) == []


def test_a_dest_changed_after_the_plan_to_other_bytes_is_still_replaced(tmp_path: Path) -> None:
    dest = tmp_path / 'web.img'
    api = FakeApi()
    planned = downloader(api, dest).plan()
    dest.write_bytes(b'x' * len(DATA))  # something else wrote dest meanwhile, with the size but not the bytes
    outcome = execute(planned, False)
    assert outcome.changed and api.offsets == [0] and dest.read_bytes() == DATA and leftovers(tmp_path) == []
