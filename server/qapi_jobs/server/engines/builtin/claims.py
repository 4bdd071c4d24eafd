"""Which image files live jobs are using, so that two jobs never share one.

QEMU refuses to create a job on a node another job holds ("Node ... is
busy"), and a job holds its nodes from its creation on.  The builtin
engine does the same for files: a job claims its source and target (by
real path) in the precheck of its JobSpec — so at the job's own place in
a transaction, before its ``created`` event — and releases them in its
driver's ``clean()``, which the job manager calls on every path once the
precheck has passed (refused creation, rollback, success, failure,
cancel, shutdown).  Preparing only consults the claims, so that a busy
file is refused early and a plan that never becomes a job holds nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from qapi_jobs.server.engines.builtin.paths import ImagePath
from qapi_jobs.server.jobs.errors import ErrorKind, JobError


def busy_error(image: ImagePath, job_type: str) -> JobError:
    """QEMU's refusal for a file another job holds."""
    return JobError(
        ErrorKind.WRONG_STATE,
        f"Node '{image.name}' is busy: block device is in use by block job: {job_type}",
        reason="NODE_BUSY",
    )


class PathClaims:
    """The files held by live jobs, each with the type of job holding it.

    Used only from the event loop, so it needs no lock.
    """

    def __init__(self) -> None:
        self._holders: dict[Path, tuple[object, str]] = {}

    def check_free(self, images: Iterable[ImagePath]) -> None:
        """Raise the busy error if any of ``images`` is held by a job."""
        for image in images:
            holder = self._holders.get(image.real)
            if holder is not None:
                raise busy_error(image, holder[1])

    def claim(self, owner: object, job_type: str, images: Iterable[ImagePath]) -> None:
        """Hold all of ``images`` for ``owner``, or none of them if one is busy.

        Claiming again what ``owner`` already holds changes nothing.
        """
        wanted = list(images)
        for image in wanted:
            holder = self._holders.get(image.real)
            if holder is not None and holder[0] is not owner:
                raise busy_error(image, holder[1])
        for image in wanted:
            self._holders[image.real] = (owner, job_type)

    def release(self, owner: object) -> None:
        """Let go of everything ``owner`` holds (nothing happens if it holds nothing)."""
        for path in [path for path, (held_by, _) in self._holders.items() if held_by is owner]:
            del self._holders[path]
