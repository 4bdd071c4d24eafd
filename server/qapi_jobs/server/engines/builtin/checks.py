"""Up-front checks of the image files a job will use.  All blocking.

Each function opens a client path inside the data directory (see
:mod:`.paths`) and checks what the job needs of the file there, raising
JobError with a message that says what is wrong and, where it helps, what
to do instead.  The returned images hold the descriptors the job will use.
"""

from __future__ import annotations

import os

from qapi_jobs.server.engines.builtin.paths import DataDir, ImagePath


def existing_image(
    data_dir: DataDir, name: str, *, parameter: str, writable: bool
) -> tuple[ImagePath, os.stat_result]:
    """An existing regular file the job may read (and write, if ``writable``), and its stat."""
    image = data_dir.existing(name, parameter=parameter, writable=writable)
    assert image.fd is not None
    return image, os.fstat(image.fd)


def new_image(data_dir: DataDir, name: str, *, parameter: str, hint: str) -> ImagePath:
    """A free name in a writable directory, where the job can create a file.

    ``hint`` finishes the message for a path that is taken (what to do
    instead).
    """
    return data_dir.new(name, parameter=parameter, hint=hint)


def same_file(first: os.stat_result, second: os.stat_result) -> bool:
    """Whether two stat results describe one file (also through hard links)."""
    return (first.st_dev, first.st_ino) == (second.st_dev, second.st_ino)
