"""Creating image files through their directory's descriptor, and undoing it.

All functions are blocking.  A new file is created relative to the
directory opened when the job was prepared (see :mod:`.paths`): unnamed
with O_TMPFILE, tagged, then linked under its name, or where the file
system cannot do that with O_EXCL and O_NOFOLLOW; either way neither a file
nor a symbolic link planted under the name in the meantime is ever written
through.
"""

from __future__ import annotations

import contextlib
import errno
import os
from dataclasses import dataclass

from qapi_jobs.server.engines.builtin.paths import CREATION_TAG, ImagePath

_CREATE_FLAGS = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NOCTTY
_TMPFILE_FLAGS = os.O_TMPFILE | os.O_RDWR | os.O_CLOEXEC
_NO_TMPFILE = frozenset({errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL})
"""What a file system without O_TMPFILE (or without user attributes) answers."""


@dataclass(frozen=True)
class CreatedFile:
    """A file a job created, identified by inode so that only it is ever removed."""

    image: ImagePath
    device: int
    inode: int

    def remove(self) -> None:
        """Unlink the file, unless its name now leads to some other file (or nothing)."""
        dir_fd, base = self.image.dir_fd, self.image.base
        try:
            st = os.stat(base, dir_fd=dir_fd, follow_symlinks=False)
        except (FileNotFoundError, OSError):
            return
        if (st.st_dev, st.st_ino) == (self.device, self.inode):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(base, dir_fd=dir_fd)


def create_image(image: ImagePath, size: int) -> tuple[int, CreatedFile]:
    """Create the new file of ``image``, ``size`` bytes and sparse; fail if the name is taken.

    Returns the open (read-write) descriptor, which ``image`` now owns,
    and the record needed to remove the file again.  On failure nothing
    is left behind.
    """
    fd = None if image.creation_tag is None else _create_tagged(image, image.creation_tag)
    if fd is None:
        fd = os.open(image.base, _CREATE_FLAGS, image.new_file_mode, dir_fd=image.dir_fd)
    st = os.fstat(fd)
    created = CreatedFile(image, st.st_dev, st.st_ino)
    image.adopt(fd)
    try:
        # The umask must not widen nor narrow the configured mode.
        os.fchmod(fd, image.new_file_mode)
        os.ftruncate(fd, size)
    except BaseException:
        created.remove()
        raise
    return fd, created


def _create_tagged(image: ImagePath, tag: str) -> int | None:
    """Create the file with its tag already set, or None where the file system cannot.

    The tag proves the file is this job's to a restarted server that never
    learnt its inode, so it must be there from the file's first moment: the
    file is made unnamed (O_TMPFILE), tagged, and only then linked under its
    name, which fails with FileExistsError if the name is taken.  A crash
    before the link leaves nothing behind.
    """
    try:
        fd = os.open(".", _TMPFILE_FLAGS, image.new_file_mode, dir_fd=image.dir_fd)
    except OSError as exc:
        if exc.errno in _NO_TMPFILE:
            return None
        raise
    try:
        os.setxattr(fd, CREATION_TAG, tag.encode())
        os.link(f"/proc/self/fd/{fd}", image.base, dst_dir_fd=image.dir_fd, follow_symlinks=True)
    except FileExistsError:
        os.close(fd)
        raise
    except OSError as exc:
        os.close(fd)
        if exc.errno in _NO_TMPFILE or exc.errno == errno.ENOENT:  # no user attributes, no /proc
            return None
        raise
    return fd


def sync_directory(image: ImagePath) -> None:
    """Flush the directory entry of ``image``, so that a new file survives a crash."""
    os.fsync(image.dir_fd)
