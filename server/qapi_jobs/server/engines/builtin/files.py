"""Opening and creating image files, and removing what a job created.

All functions are blocking.  Images are opened by their resolved real path
with O_NOFOLLOW, so a symbolic link slipped into place after the path was
checked is refused (ELOOP) rather than followed.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from dataclasses import dataclass
from pathlib import Path

_COMMON_FLAGS = os.O_CLOEXEC | os.O_NOFOLLOW
# Without O_NONBLOCK, opening a FIFO planted in the data directory would hang
# the worker thread; on regular files the flag has no effect.
_OPEN_FLAGS = _COMMON_FLAGS | os.O_NONBLOCK
NEW_FILE_MODE = 0o644


@dataclass(frozen=True)
class CreatedFile:
    """A file a job created, identified by inode so that only it is ever removed."""

    path: Path
    device: int
    inode: int

    def remove(self) -> None:
        """Unlink the file, unless the path now names some other file (or nothing)."""
        try:
            st = os.stat(self.path, follow_symlinks=False)
        except FileNotFoundError:
            return
        if (st.st_dev, st.st_ino) == (self.device, self.inode):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)


def open_image(path: Path, writable: bool) -> tuple[int, int]:
    """Open an existing regular file; return its descriptor and its size.

    Raises OSError (EINVAL for anything but a regular file).
    """
    fd = os.open(path, (os.O_RDWR if writable else os.O_RDONLY) | _OPEN_FLAGS)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(errno.EINVAL, "Not a regular file")
    except BaseException:
        os.close(fd)
        raise
    return fd, st.st_size


def create_image(path: Path, size: int) -> tuple[int, CreatedFile]:
    """Create a new sparse file of ``size`` bytes; fail if the path exists.

    Returns the open (read-write) descriptor and the record needed to
    remove the file again.  On failure nothing is left behind.
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | _COMMON_FLAGS, NEW_FILE_MODE)
    st = os.fstat(fd)
    created = CreatedFile(path, st.st_dev, st.st_ino)
    try:
        os.ftruncate(fd, size)
    except BaseException:
        os.close(fd)
        created.remove()
        raise
    return fd, created


def sync_directory_of(path: Path) -> None:
    """Flush the directory entry of ``path``, so that a new file survives a crash."""
    fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def close_quietly(fd: int | None) -> None:
    """Close a descriptor that may already be gone; errors on close do not matter here."""
    if fd is not None:
        with contextlib.suppress(OSError):
            os.close(fd)
