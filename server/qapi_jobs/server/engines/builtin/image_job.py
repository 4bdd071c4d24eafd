"""What every builtin driver shares: its claims on files, their descriptors, a created file.

The engine claims a job's files when the job is created (see
the precheck of its JobSpec); running claims them again, which changes nothing for
the same owner but keeps a driver used without the manager from touching
busy files.  A job that fails or is cancelled removes the file it created,
so nothing is left half-made; a file that existed before is never removed.
The images' descriptors, opened when the job was prepared, are closed in
``clean()``, after that removal (which goes through them) — or, if the
manager gave up on a run that is still going, once that run is over: a
descriptor closed under a working thread could be reused for another file.
"""

from __future__ import annotations

import asyncio
import logging
from abc import abstractmethod
from collections.abc import Iterable, Sequence

from qapi_jobs.server.engines.builtin import files
from qapi_jobs.server.engines.builtin.claims import PathClaims
from qapi_jobs.server.engines.builtin.paths import DataDir, ImagePath
from qapi_jobs.server.jobs.driver import CreatedFile, JobContext, JobDriver, JobFailed
from qapi_jobs.server.jobs.errors import JobError

_log = logging.getLogger(__name__)


class ImageJob(JobDriver):
    """Base of the builtin drivers: claims on image files and undoing a creation."""

    def __init__(self, claims: PathClaims, images: Iterable[ImagePath]) -> None:
        self._claims = claims
        self._images = tuple(images)
        self._created: files.CreatedFile | None = None
        self._running = False
        self._cleaned = False
        self._created_path: str | None = None

    async def run(self, ctx: JobContext) -> None:
        """Claim the images and do the job's work (see :meth:`work`)."""
        self._running = True
        try:
            self.claim()
            await self.work(ctx)
        finally:
            self._running = False
            if self._cleaned:
                self._close_images()

    @abstractmethod
    async def work(self, ctx: JobContext) -> None:
        """The job's work on its images, as :meth:`JobDriver.run` describes it."""

    def claim(self) -> None:
        """Claim this job's images; raise JobFailed if another job holds one."""
        try:
            self._claims.claim(self, self.job_type, self._images)
        except JobError as exc:
            raise JobFailed(exc.message) from exc

    async def abort(self) -> None:
        """Remove the file this job created: a failed job leaves nothing behind."""
        created, self._created = self._created, None
        if created is not None:
            await asyncio.to_thread(created.remove)

    async def clean(self) -> None:
        """Release the job's claims on its files and close their descriptors."""
        self._claims.release(self)
        self._cleaned = True
        if not self._running:
            self._close_images()

    def _close_images(self) -> None:
        for image in self._images:
            image.close()

    def creates(self) -> ImagePath | None:
        """The image this job creates, if any."""
        return None

    def created_files(self) -> Sequence[CreatedFile]:
        """The file this job creates: its path, and its inode once it exists."""
        target = self.creates()
        if target is None:
            return ()
        if self._created_path is None:
            # Relative to the data directory: a restarted server resolves it
            # beneath its data directory, wherever that is then.
            self._created_path = "/".join(p for p in target.name.split("/") if p not in ("", "."))
        created, tag = self._created, target.creation_tag
        if created is None:
            return (CreatedFile(self._created_path, tag=tag),)
        return (CreatedFile(self._created_path, created.device, created.inode, tag),)


def remove_restored(data_dir: DataDir, created: Sequence[CreatedFile]) -> None:
    """Remove the files a job interrupted by a restart created (blocking).

    Each is looked up beneath ``data_dir`` by its recorded relative path,
    through directory descriptors and without following links, and
    removed only if it still is the recorded inode or, for a file whose
    inode never made it into the record, carries the job's creation tag.
    Anything else is left alone and logged: nothing proves it is the job's.
    """
    for file in created:
        try:
            removed = data_dir.remove_created(
                file.path, device=file.device, inode=file.inode, tag=file.tag
            )
        except (JobError, OSError) as exc:
            _log.warning("left %s behind: %s", file.path, exc)
            continue
        if not removed and file.inode is None:
            _log.warning("left %s behind (if it exists): nothing proves it is the job's", file.path)
