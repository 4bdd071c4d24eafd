"""Opening a directory beneath another one without following any symbolic link.

Two ways, same result: Linux's openat2 with RESOLVE_BENEATH and
RESOLVE_NO_SYMLINKS (5.6 and later), where the kernel itself refuses to
leave the starting directory or to follow a link; otherwise a walk that
opens one component at a time from the previous directory's descriptor
with O_NOFOLLOW.  Neither looks at a name twice, so a directory swapped
for a symbolic link while the path is being opened is refused, never
followed.  Callers have already refused ``..`` and absolute paths.

Both raise OSError; a symbolic link on the way is always ELOOP.
"""

from __future__ import annotations

import ctypes
import errno
import os
import stat
from collections.abc import Sequence

_SYS_OPENAT2 = 437
"""openat2's number in the syscall table every Linux architecture shares."""
_RESOLVE_NO_MAGICLINKS = 0x02
_RESOLVE_NO_SYMLINKS = 0x04
_RESOLVE_BENEATH = 0x08
_RETRIES = 8
"""openat2 answers EAGAIN when a concurrent rename might have misled it."""
DIRECTORY_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC | os.O_NOFOLLOW


class _OpenHow(ctypes.Structure):
    _fields_ = [
        ("flags", ctypes.c_uint64),
        ("mode", ctypes.c_uint64),
        ("resolve", ctypes.c_uint64),
    ]


_libc = ctypes.CDLL(None, use_errno=True)
_syscall = _libc.syscall
_syscall.restype = ctypes.c_long


def _openat2(dir_fd: int, path: str, flags: int) -> int:
    how = _OpenHow(flags, 0, _RESOLVE_BENEATH | _RESOLVE_NO_SYMLINKS | _RESOLVE_NO_MAGICLINKS)
    encoded = os.fsencode(path)
    for _ in range(_RETRIES):
        fd = _syscall(
            ctypes.c_long(_SYS_OPENAT2),
            ctypes.c_int(dir_fd),
            ctypes.c_char_p(encoded),
            ctypes.byref(how),
            ctypes.c_size_t(ctypes.sizeof(how)),
        )
        if fd >= 0:
            return int(fd)
        code = ctypes.get_errno()
        if code != errno.EAGAIN:
            raise OSError(code, os.strerror(code), path)
    raise OSError(errno.EAGAIN, os.strerror(errno.EAGAIN), path)


def _probe_openat2() -> bool:
    """Whether this kernel (and any seccomp filter around us) lets openat2 through."""
    try:
        os.close(_openat2(-100, ".", DIRECTORY_FLAGS))  # AT_FDCWD
    except OSError as exc:
        return exc.errno not in (errno.ENOSYS, errno.EPERM, errno.E2BIG, errno.EINVAL)
    return True


OPENAT2_AVAILABLE = _probe_openat2()


def open_directory_openat2(root_fd: int, parts: Sequence[str]) -> int:
    """Open ``parts`` below ``root_fd`` as a directory with openat2."""
    # Without O_NOFOLLOW, a link as the last component is ELOOP like any other.
    return _openat2(root_fd, "/".join(parts) or ".", DIRECTORY_FLAGS & ~os.O_NOFOLLOW)


def open_directory_walk(root_fd: int, parts: Sequence[str]) -> int:
    """Open ``parts`` below ``root_fd`` as a directory, one O_NOFOLLOW step at a time."""
    current = os.dup(root_fd)
    try:
        for part in parts:
            try:
                following = os.open(part, DIRECTORY_FLAGS, dir_fd=current)
            except NotADirectoryError:
                # O_DIRECTORY wins over O_NOFOLLOW: tell a link from a file.
                if stat.S_ISLNK(os.stat(part, dir_fd=current, follow_symlinks=False).st_mode):
                    raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), part) from None
                raise
            os.close(current)
            current = following
    except BaseException:
        os.close(current)
        raise
    return current


def open_directory(root_fd: int, parts: Sequence[str], *, use_openat2: bool) -> int:
    """Open the directory ``parts`` below ``root_fd`` (an empty list: a copy of the root)."""
    if use_openat2:
        return open_directory_openat2(root_fd, parts)
    return open_directory_walk(root_fd, parts)
