"""Writing a download straight to the disk where the filesystem allows it, and through the page cache where not: the
bytes on disk are the same either way, and nothing the kernel turns down is ever an error the user sees."""

from __future__ import annotations

import ctypes
import errno
import mmap
import os
from pathlib import Path
from typing import Any, Iterator, Tuple

import pytest

from ansible_collections.shakenfist.storage.plugins.module_utils import _direct_write
from ansible_collections.shakenfist.storage.plugins.module_utils._direct_write import ALIGN, FileWriter, aligned_buffer
from ansible_collections.shakenfist.storage.plugins.module_utils._errors import SfInvalidInput

MiB = 1024 * 1024


def direct_io_works(folder: Path) -> bool:
    if not _direct_write.O_DIRECT:
        return False
    probe = folder / 'probe'
    probe.touch()
    try:
        os.close(os.open(probe, os.O_WRONLY | _direct_write.O_DIRECT))
    except OSError:
        return False
    return True


@pytest.fixture()
def target(tmp_path: Path) -> Iterator[Tuple[Path, int]]:
    path = tmp_path / 'partial'
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    yield path, fd
    os.close(fd)


def pattern(size: int) -> memoryview:
    view = aligned_buffer(size)
    view[:] = (bytes(range(256)) * (size // 256 + 1))[:size]
    return view


def test_buffers_are_page_aligned() -> None:
    for size in (ALIGN, 4 * MiB, 12345):
        view = aligned_buffer(size)
        assert len(view) == size
        assert ctypes.addressof(ctypes.c_char.from_buffer(view)) % mmap.PAGESIZE == 0


def test_aligned_pieces_go_straight_to_the_disk_and_the_tail_through_the_page_cache(target: Tuple[Path, int]) -> None:
    path, fd = target
    if not direct_io_works(path.parent):
        pytest.skip(f'{path.parent} does not take O_DIRECT')
    data = pattern(3 * MiB)
    with FileWriter(str(path), fd) as writer:
        writer.write_at(data[:MiB], 0)
        writer.write_at(data[MiB:2 * MiB], MiB)
        writer.write_at(data[2 * MiB:2 * MiB + 1000], 2 * MiB)  # the last piece of a file: odd length
        assert writer.direct_bytes == 2 * MiB
    assert path.read_bytes() == bytes(data[:2 * MiB + 1000])


def test_a_resume_at_an_odd_offset_goes_through_the_page_cache(target: Tuple[Path, int]) -> None:
    path, fd = target
    data = pattern(2 * MiB)
    os.write(fd, data[:777])
    with FileWriter(str(path), fd) as writer:
        writer.write_at(data[777:777 + MiB], 777)
        assert writer.direct_bytes == 0
    assert path.read_bytes() == bytes(data[:777 + MiB])


def test_a_filesystem_that_refuses_o_direct_gets_everything_through_the_page_cache(
        target: Tuple[Path, int], monkeypatch: pytest.MonkeyPatch) -> None:
    path, fd = target
    real_open = os.open

    def refusing_open(name: Any, flags: int, *args: Any) -> int:
        if flags & _direct_write.O_DIRECT:
            raise OSError(errno.EINVAL, 'Invalid argument')  # what tmpfs said before Linux 6.6
        return real_open(name, flags, *args)

    monkeypatch.setattr(_direct_write, 'O_DIRECT', _direct_write.O_DIRECT or 0o40000)
    monkeypatch.setattr(os, 'open', refusing_open)
    data = pattern(2 * MiB)
    with FileWriter(str(path), fd) as writer:
        writer.write_at(data[:MiB], 0)
        writer.write_at(data[MiB:], MiB)
        assert writer.direct_bytes == 0
    assert path.read_bytes() == bytes(data)


def direct_writer(path: Path, fd: int, monkeypatch: pytest.MonkeyPatch) -> Tuple[FileWriter, int]:
    """A writer whose direct descriptor is a plain one (so the test runs on any filesystem); os.pwrite is wrapped by
    each test to act as a kernel would on it."""
    monkeypatch.setattr(_direct_write, 'O_DIRECT', _direct_write.O_DIRECT or 0o40000)
    real_open = os.open
    monkeypatch.setattr(os, 'open', lambda name, flags, *args: real_open(name, flags & ~_direct_write.O_DIRECT, *args))
    writer = FileWriter(str(path), fd)
    assert writer.direct_fd >= 0
    return writer, writer.direct_fd


def test_a_direct_write_turned_down_is_written_through_the_page_cache_and_direct_writes_stop(
        target: Tuple[Path, int], monkeypatch: pytest.MonkeyPatch) -> None:
    path, fd = target
    writer, direct_fd = direct_writer(path, fd, monkeypatch)
    real_pwrite = os.pwrite
    calls = []

    def pwrite(handle: int, data: Any, offset: int) -> int:
        calls.append(handle)
        if handle == direct_fd:
            raise OSError(errno.EINVAL, 'Invalid argument')
        return real_pwrite(handle, data, offset)

    monkeypatch.setattr(os, 'pwrite', pwrite)
    data = pattern(2 * MiB)
    with writer:
        writer.write_at(data[:MiB], 0)
        writer.write_at(data[MiB:], MiB)
    assert calls == [direct_fd, fd, fd]  # asked once, then never again
    assert writer.direct_bytes == 0 and writer.direct_fd == -1
    assert path.read_bytes() == bytes(data)


def test_a_short_direct_write_is_finished_whatever_offset_it_leaves(
        target: Tuple[Path, int], monkeypatch: pytest.MonkeyPatch) -> None:
    path, fd = target
    writer, direct_fd = direct_writer(path, fd, monkeypatch)
    real_pwrite = os.pwrite

    def pwrite(handle: int, data: Any, offset: int) -> int:
        if handle == direct_fd:
            if offset % ALIGN:
                raise OSError(errno.EINVAL, 'Invalid argument')
            return real_pwrite(handle, bytes(data)[:1000], offset)  # short, leaving an odd offset
        return real_pwrite(handle, data, offset)

    monkeypatch.setattr(os, 'pwrite', pwrite)
    data = pattern(MiB)
    with writer:
        writer.write_at(data, 0)
    assert writer.direct_bytes == 1000
    assert path.read_bytes() == bytes(data)


def test_a_full_disk_is_a_clear_error(target: Tuple[Path, int], monkeypatch: pytest.MonkeyPatch) -> None:
    path, fd = target

    def full(handle: int, data: Any, offset: int) -> int:
        raise OSError(errno.ENOSPC, 'No space left on device')

    monkeypatch.setattr(os, 'pwrite', full)
    with FileWriter(str(path), fd) as writer, pytest.raises(SfInvalidInput, match='No space left on device'):
        writer.write_at(pattern(MiB), 0)
