"""What every builtin driver shares: its claims on files, and a file it created.

The engine claims a job's files when the job is created (see
the precheck of its JobSpec); running claims them again, which changes nothing for
the same owner but keeps a driver used without the manager from touching
busy files.  A job that fails or is cancelled removes the file it created,
so nothing is left half-made; a file that existed before is never removed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence

from qapi_jobs.server.engines.builtin import files
from qapi_jobs.server.engines.builtin.claims import PathClaims
from qapi_jobs.server.engines.builtin.paths import ImagePath
from qapi_jobs.server.jobs.driver import CreatedFile, JobDriver, JobFailed
from qapi_jobs.server.jobs.errors import JobError


class ImageJob(JobDriver):
    """Base of the builtin drivers: claims on image files and undoing a creation."""

    def __init__(self, claims: PathClaims) -> None:
        self._claims = claims
        self._created: files.CreatedFile | None = None

    def claim(self, images: Iterable[ImagePath]) -> None:
        """Claim ``images`` for this job; raise JobFailed if another job holds one."""
        try:
            self._claims.claim(self, self.job_type, images)
        except JobError as exc:
            raise JobFailed(exc.message) from exc

    async def abort(self) -> None:
        """Remove the file this job created: a failed job leaves nothing behind."""
        created, self._created = self._created, None
        if created is not None:
            await asyncio.to_thread(created.remove)

    async def clean(self) -> None:
        """Release the job's claims on its files."""
        self._claims.release(self)

    def creates(self) -> ImagePath | None:
        """The image this job creates, if any."""
        return None

    def created_files(self) -> Sequence[CreatedFile]:
        """The file this job creates: its path, and its inode once it exists."""
        created = self._created
        if created is not None:
            return (CreatedFile(str(created.path), created.device, created.inode),)
        target = self.creates()
        return () if target is None else (CreatedFile(str(target.real)),)
