# Copyright: Shaken Fist storage collection contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Writing a download straight to the disk (O_DIRECT) where the filesystem allows it, through the page cache where not.

Why: a verified download writes every byte once and reads none of it back, so the page cache only costs. Copying each
byte into it takes as much CPU as the sha512 on a virtual machine whose memory is touched for the first time, the
fsync at the end then waits for all of it at once, and a 10 GiB image pushes out whatever the host had cached.

A direct write needs its memory, length and file offset aligned to the device's block: `aligned_buffer()` gives
page-aligned memory, and a write that is not aligned (the last piece of a file, a resume at an odd offset) goes through
the page cache instead, as does everything on a filesystem that refuses O_DIRECT (tmpfs before Linux 6.6) or turns a
write down.
The bytes on disk are the same either way; the fsync of the ordinary descriptor makes them and the size durable.
"""

from __future__ import annotations

import contextlib
import errno
import mmap
import os

from ._errors import SfInvalidInput

ALIGN = 4096  # a multiple of every logical block size in use (512 and 4096)
O_DIRECT = getattr(os, 'O_DIRECT', 0)  # Linux and FreeBSD; elsewhere everything goes through the page cache


def aligned_buffer(size: int) -> memoryview:
    """Page-aligned memory for the bytes on their way to the disk (an anonymous mapping always is)."""
    return memoryview(mmap.mmap(-1, size))


class FileWriter:
    """Writes pieces of one file at given offsets; `fd` is the caller's ordinary descriptor (for the page cache,
    the fsync and the lock), the direct one is this writer's own."""

    def __init__(self, path: str, fd: int) -> None:
        self.fd = fd
        self.direct_fd = -1
        self.direct_bytes = 0  # how much went straight to the disk (for the tests and the bench)
        if O_DIRECT:
            with contextlib.suppress(OSError):  # tmpfs before Linux 6.6, some FUSE: page cache
                self.direct_fd = os.open(path, os.O_WRONLY | O_DIRECT | getattr(os, 'O_CLOEXEC', 0))

    def write_at(self, piece: memoryview, offset: int) -> None:
        done = 0
        if self.direct_fd >= 0 and offset % ALIGN == 0 and len(piece) % ALIGN == 0:
            done = _write(self.direct_fd, piece, offset, refusable=True)
            self.direct_bytes += done
            if done < len(piece):
                self._stop_direct()  # turned down: a filesystem that takes the flag but not the write
        if done < len(piece):
            _write(self.fd, piece[done:], offset + done, refusable=False)

    def close(self) -> None:
        self._stop_direct()

    def _stop_direct(self) -> None:
        if self.direct_fd >= 0:
            os.close(self.direct_fd)
            self.direct_fd = -1

    def __enter__(self) -> FileWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _write(fd: int, piece: memoryview, offset: int, refusable: bool) -> int:
    """Write all of `piece` at `offset`; a refusable (direct) write the kernel turns down with EINVAL, which it does
    before writing anything (alignment, or no direct I/O after all), stops early and says how much it wrote."""
    done = 0
    while done < len(piece):
        try:
            written = os.pwrite(fd, piece[done:], offset + done)
        except OSError as exc:
            if exc.errno == errno.EINVAL and refusable:
                return done
            raise SfInvalidInput(f'cannot write the download on this host: {exc.strerror}') from None
        done += written
    return done
