"""Client image paths for the qemu engine: checked as the builtin engine checks them.

QEMU opens images by file name, so the engine cannot hand it the
descriptors the builtin engine works through.  Each path is checked by
opening it with the builtin :class:`~qapi_jobs.server.engines.builtin.paths.DataDir`
(no symbolic link anywhere, a regular file, no extra hard links, inside
the data directory); QEMU then opens the same name, which holds no
symbolic link to swap.  New files are created (``O_EXCL``, the configured
mode) through the opened directory.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from qapi_jobs.server.engines.builtin.paths import DataDir, ImagePath
from qapi_jobs.server.jobs.errors import ErrorKind, JobError


@dataclass(frozen=True)
class ImageFile:
    """An image as the client names it and where it is."""

    name: str
    """The client's path, relative to the data directory; used in messages."""
    real: Path
    """The absolute path QEMU opens (no symbolic link in it)."""


class ImageRoot:
    """The data directory, as the qemu engine's recipes use it (blocking methods)."""

    def __init__(self, data_dir: DataDir) -> None:
        self.data_dir = data_dir
        self.root = data_dir.root

    def existing(self, name: str, *, parameter: str) -> ImageFile:
        """An existing image ``name``, checked by opening it."""
        image = self.data_dir.existing(name, parameter=parameter, writable=False)
        image.close()
        return self._file(name)

    def create(self, name: str, *, parameter: str, hint: str) -> ImageFile:
        """Create the empty file ``name``; refuse a name that is taken (``hint``: what to do)."""
        image = self.data_dir.new(name, parameter=parameter, hint=hint)
        try:
            fd = os.open(
                image.base,
                os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC,
                image.new_file_mode,
                dir_fd=image.dir_fd,
            )
        except FileExistsError:
            raise _taken(image) from None
        finally:
            image.close()
        os.close(fd)
        return self._file(name)

    def backing(self, owner: ImageFile, backing: str) -> ImageFile:
        """The image a backing string of ``owner`` names, if it lies inside the data directory."""
        path = Path(os.path.normpath(owner.real.parent / backing))
        if not path.is_relative_to(self.root) or path == self.root:
            raise JobError(
                ErrorKind.PERMISSION_DENIED,
                f"The backing file of '{owner.name}' lies outside the data directory; "
                "rebase the image onto a file inside it",
                reason="BACKING_FILE_OUTSIDE_DATA_DIR",
            )
        return self.existing(path.relative_to(self.root).as_posix(), parameter="backing-file")

    def _file(self, name: str) -> ImageFile:
        parts = [part for part in name.split("/") if part not in ("", ".")]
        return ImageFile(name, self.root.joinpath(*parts))


def _taken(image: ImagePath) -> JobError:
    return JobError(
        ErrorKind.ALREADY_EXISTS,
        f"Image '{image.name}' already exists; choose a new file name",
        reason="IMAGE_EXISTS",
    )
