"""Which image files live jobs read and write, so that no job reads or writes under another.

QEMU's block layer lets several jobs read one node at once (two backups
of one source run side by side) but refuses a job on a node another job
writes, or a writer on a node others read ("Node ... is busy").  The
builtin engine does the same for files: a job claims the files it reads
(shared) and writes (exclusive) in the precheck of its JobSpec — so at the
job's own place in a transaction, before its ``created`` event, and after
the job manager has checked the job id — and releases them in its driver's
``clean()``, which the job manager calls on every path once the precheck
has passed (refused creation, rollback, success, failure, cancel,
shutdown).

A file is known by its inode, and also by its name in its directory, so
that a file a job is about to create is claimed before it exists.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from qapi_jobs.server.engines.builtin.paths import ImagePath, Key, quote
from qapi_jobs.server.jobs.errors import ErrorKind, JobError


def busy_error(image: ImagePath, job_type: str) -> JobError:
    """QEMU's refusal for a file another job holds; names the client's path for it."""
    return JobError(
        ErrorKind.WRONG_STATE,
        f"Node '{quote(image.name)}' is busy: block device is in use by block job: {job_type}",
        reason="NODE_BUSY",
    )


@dataclass(frozen=True)
class _Hold:
    owner: object
    job_type: str
    writes: bool


class PathClaims:
    """The files held by live jobs: who holds each, and whether to write it.

    Used only from the event loop, so it needs no lock.
    """

    def __init__(self) -> None:
        self._holds: dict[Key, list[_Hold]] = {}

    def _conflict(self, owner: object, image: ImagePath) -> _Hold | None:
        for key in image.keys:
            for hold in self._holds.get(key, ()):
                if hold.owner is not owner and (hold.writes or image.writes):
                    return hold
        return None

    def check_free(self, images: Iterable[ImagePath], owner: object = None) -> None:
        """Raise the busy error if a job other than ``owner`` holds one of ``images`` in a way
        that conflicts with it."""
        for image in images:
            hold = self._conflict(owner, image)
            if hold is not None:
                raise busy_error(image, hold.job_type)

    def claim(self, owner: object, job_type: str, images: Iterable[ImagePath]) -> None:
        """Hold all of ``images`` for ``owner``, or none of them if one is busy.

        Claiming again what ``owner`` already holds changes nothing.
        """
        wanted = list(images)
        self.check_free(wanted, owner)
        for image in wanted:
            for key in image.keys:
                holds = self._holds.setdefault(key, [])
                hold = _Hold(owner, job_type, image.writes)
                if hold not in holds:
                    holds.append(hold)

    def release(self, owner: object) -> None:
        """Let go of everything ``owner`` holds (nothing happens if it holds nothing)."""
        for key in list(self._holds):
            kept = [hold for hold in self._holds[key] if hold.owner is not owner]
            if kept:
                self._holds[key] = kept
            else:
                del self._holds[key]
