"""Reserve disk blocks ahead of a large append without changing the file size (Linux fallocate KEEP_SIZE).

On ext4 here, allocating blocks while writing a new file caps writes near 350 MB/s; writing into blocks reserved
in one call is several times faster. Anything unsupported just skips the reservation.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os

FALLOC_FL_KEEP_SIZE = 1
_fallocate = None
try:
    _libc = ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6', use_errno=True)
    _fallocate = _libc.fallocate
    _fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
    _fallocate.restype = ctypes.c_int
except (OSError, AttributeError):
    _fallocate = None


def reserve(fd: int, length: int) -> None:
    """Reserve `length` bytes after the current end of file `fd`; best effort."""
    if _fallocate is None or length <= 0:
        return
    with contextlib.suppress(OSError, ctypes.ArgumentError):
        _fallocate(fd, FALLOC_FL_KEEP_SIZE, os.fstat(fd).st_size, length)
