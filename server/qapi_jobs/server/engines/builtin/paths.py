"""Confinement of image paths to the server's data directory.

Clients name images by paths relative to the data directory.  Absolute
paths and ``..`` components are refused outright; symbolic links are
followed, but only as long as they stay inside the data directory.  Error
messages quote the client's own path, never the server's real one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from qapi_jobs.server.jobs.errors import ErrorKind, JobError
from qapi_jobs.server.store.layout import STATE_DIR_NAME


@dataclass(frozen=True)
class ImagePath:
    """An image path as the client wrote it and where it really leads."""

    name: str
    """The client's path, relative to the data directory; used in messages."""
    real: Path
    """The absolute path with every symbolic link resolved."""


class DataDir:
    """The directory that holds every image the engine may touch."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        real = Path(os.path.realpath(root))
        if not real.is_dir():
            raise ValueError(f"data directory {os.fspath(root)!r} is not a directory")
        self.root = real
        self._state = real / STATE_DIR_NAME

    def resolve(self, name: str, *, parameter: str) -> ImagePath:
        """Map the client path ``name`` to a real path inside the data directory.

        Blocking (it reads symbolic links).  ``parameter`` names the argument
        in messages.  The path need not exist.  Raises JobError:
        INVALID_ARGUMENT for empty, absolute or ``..`` paths and for the
        data directory itself, PERMISSION_DENIED for a symbolic link that
        leads outside the data directory.
        """
        if not name or "\0" in name:
            raise JobError(
                ErrorKind.INVALID_ARGUMENT,
                f"Parameter '{parameter}' must name an image file relative to the data directory",
                reason="INVALID_IMAGE_PATH",
            )
        if os.path.isabs(name):
            raise JobError(
                ErrorKind.INVALID_ARGUMENT,
                f"Image path '{name}' is absolute; name the image relative to the data directory",
                reason="ABSOLUTE_IMAGE_PATH",
            )
        if ".." in Path(name).parts:
            raise JobError(
                ErrorKind.INVALID_ARGUMENT,
                f"Image path '{name}' contains '..'; name the image by a path inside the data "
                "directory",
                reason="IMAGE_PATH_ESCAPES",
            )
        real = Path(os.path.realpath(self.root / name))
        if real == self.root:
            raise JobError(
                ErrorKind.INVALID_ARGUMENT,
                f"Image path '{name}' names the data directory itself, not an image file",
                reason="INVALID_IMAGE_PATH",
            )
        if not real.is_relative_to(self.root):
            raise JobError(
                ErrorKind.PERMISSION_DENIED,
                f"Image path '{name}' leads outside the data directory through a symbolic "
                "link; use a path whose links stay inside the data directory",
                reason="SYMLINK_ESCAPES_DATA_DIR",
            )
        if real.is_relative_to(self._state):
            raise JobError(
                ErrorKind.PERMISSION_DENIED,
                f"Image path '{name}' is inside the server's own state directory "
                f"'{STATE_DIR_NAME}'; name an image elsewhere in the data directory",
                reason="STATE_DIR_RESERVED",
            )
        return ImagePath(name, real)
