"""Creating image files through their directory's descriptor, and undoing it.

All functions are blocking.  A new file is created with O_EXCL and
O_NOFOLLOW relative to the directory opened when the job was prepared
(see :mod:`.paths`), so neither a file nor a symbolic link planted under
the name in the meantime is ever written through.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

from qapi_jobs.server.engines.builtin.paths import CREATION_TAG, ImagePath

_CREATE_FLAGS = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NOCTTY


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
    fd = os.open(image.base, _CREATE_FLAGS, image.new_file_mode, dir_fd=image.dir_fd)
    if image.creation_tag is not None:
        # First thing: the tag proves the file is this job's to a restarted
        # server that never learnt its inode.  A file system without user
        # attributes just goes without.
        with contextlib.suppress(OSError):
            os.setxattr(fd, CREATION_TAG, image.creation_tag.encode())
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


def sync_directory(image: ImagePath) -> None:
    """Flush the directory entry of ``image``, so that a new file survives a crash."""
    os.fsync(image.dir_fd)
