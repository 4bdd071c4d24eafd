"""Up-front checks of the image files a job will use.  All blocking.

Each function resolves a client path inside the data directory and checks
what the job needs of the file there, raising JobError with a message
that says what is wrong and, where it helps, what to do instead.
"""

from __future__ import annotations

import errno
import os
import stat

from qapi_jobs.server.engines.builtin.paths import DataDir, ImagePath
from qapi_jobs.server.jobs.errors import ErrorKind, JobError


def _open_error(image: ImagePath, exc: OSError) -> JobError:
    text = os.strerror(exc.errno) if exc.errno is not None else str(exc)
    kind = {
        errno.ENOENT: ErrorKind.NOT_FOUND,
        errno.EACCES: ErrorKind.PERMISSION_DENIED,
        errno.EPERM: ErrorKind.PERMISSION_DENIED,
    }.get(exc.errno or 0, ErrorKind.INVALID_ARGUMENT)
    reason = "IMAGE_NOT_FOUND" if kind is ErrorKind.NOT_FOUND else kind.name
    return JobError(kind, f"Could not open '{image.name}': {text}", reason=reason)


def _regular_file(image: ImagePath, access: int) -> os.stat_result:
    try:
        st = os.stat(image.real)
    except OSError as exc:
        raise _open_error(image, exc) from exc
    if not stat.S_ISREG(st.st_mode):
        raise JobError(
            ErrorKind.INVALID_ARGUMENT,
            f"Could not open '{image.name}': not a regular file; images are plain files",
            reason="NOT_A_REGULAR_FILE",
        )
    if not os.access(image.real, access):
        raise _open_error(image, PermissionError(errno.EACCES, "Permission denied"))
    return st


def existing_image(
    data_dir: DataDir, name: str, *, parameter: str, writable: bool
) -> tuple[ImagePath, os.stat_result]:
    """An existing regular file the job may read (and write, if ``writable``)."""
    image = data_dir.resolve(name, parameter=parameter)
    st = _regular_file(image, os.R_OK | (os.W_OK if writable else 0))
    return image, st


def new_image(data_dir: DataDir, name: str, *, parameter: str, hint: str) -> ImagePath:
    """A path where the job can create a file: free, in a writable directory.

    ``hint`` finishes the message for a path that is taken (what to do
    instead).
    """
    image = data_dir.resolve(name, parameter=parameter)
    if os.path.lexists(image.real):
        raise JobError(
            ErrorKind.ALREADY_EXISTS,
            f"Image '{image.name}' already exists; {hint}",
            reason="IMAGE_EXISTS",
        )
    parent = image.real.parent
    if not parent.is_dir():
        raise JobError(
            ErrorKind.NOT_FOUND,
            f"Could not create '{image.name}': its directory does not exist",
            reason="DIRECTORY_NOT_FOUND",
        )
    if not os.access(parent, os.W_OK | os.X_OK):
        raise JobError(
            ErrorKind.PERMISSION_DENIED,
            f"Could not create '{image.name}': Permission denied",
            reason="PERMISSION_DENIED",
        )
    return image


def same_file(first: os.stat_result, second: os.stat_result) -> bool:
    """Whether two stat results describe one file (also through hard links)."""
    return (first.st_dev, first.st_ino) == (second.st_dev, second.st_ino)
