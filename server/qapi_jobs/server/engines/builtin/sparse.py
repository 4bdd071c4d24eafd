"""Sparse-file primitives: where a file's data lies, and making ranges read as zeros.

All functions are blocking and raise OSError as the system calls do.
"""

from __future__ import annotations

import ctypes
import errno
import os

_FALLOC_FL_KEEP_SIZE = 0x01
_FALLOC_FL_PUNCH_HOLE = 0x02
_UNSUPPORTED = frozenset({errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL})

_libc = ctypes.CDLL(None, use_errno=True)
_fallocate = _libc.fallocate
_fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
_fallocate.restype = ctypes.c_int


def next_run(fd: int, offset: int, end: int) -> tuple[bool, int]:
    """Classify the bytes of ``fd`` from ``offset`` on as data or hole.

    Returns ``(is_data, run_end)``: the bytes in ``[offset, run_end)`` are
    all data or all hole, and ``run_end <= end``.  Filesystems without
    SEEK_DATA report everything as data.  A file shorter than ``end`` reads
    as a hole past its end.
    """
    try:
        data = os.lseek(fd, offset, os.SEEK_DATA)
    except OSError as exc:
        if exc.errno == errno.ENXIO:
            return False, end
        if exc.errno in _UNSUPPORTED:
            return True, end
        raise
    if data > offset:
        return False, min(data, end)
    hole = os.lseek(fd, offset, os.SEEK_HOLE)
    return True, min(hole, end)


def is_hole(fd: int, offset: int, length: int) -> bool:
    """True when ``[offset, offset + length)`` of ``fd`` holds no data at all."""
    is_data, run_end = next_run(fd, offset, offset + length)
    return not is_data and run_end == offset + length


def punch_hole(fd: int, offset: int, length: int) -> bool:
    """Deallocate a range so that it reads as zeros, keeping the file size.

    Returns False (and changes nothing) when the filesystem cannot punch
    holes.
    """
    if length <= 0:
        return True
    if _fallocate(fd, _FALLOC_FL_PUNCH_HOLE | _FALLOC_FL_KEEP_SIZE, offset, length) == 0:
        return True
    err = ctypes.get_errno()
    if err in _UNSUPPORTED:
        return False
    raise OSError(err, os.strerror(err))


def zero_range(fd: int, offset: int, length: int, zeros: memoryview) -> None:
    """Make ``[offset, offset + length)`` of ``fd`` read as zeros.

    Punches a hole where the filesystem allows it (the range stays sparse);
    otherwise writes zeros, but only where the file holds data, since its
    holes already read as zeros.  ``zeros`` is a buffer of zero bytes used
    for those writes.
    """
    if punch_hole(fd, offset, length):
        return
    end = offset + length
    while offset < end:
        is_data, run_end = next_run(fd, offset, end)
        if is_data:
            write_zeros(fd, offset, run_end - offset, zeros)
        offset = run_end


def write_zeros(fd: int, offset: int, length: int, zeros: memoryview) -> None:
    """Write ``length`` zero bytes at ``offset``, ``len(zeros)`` at a time."""
    end = offset + length
    while offset < end:
        offset += os.pwrite(fd, zeros[: min(len(zeros), end - offset)], offset)
