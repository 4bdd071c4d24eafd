"""What backup and mirror share: opening the images.

A copy job claims its two files (see image_job), opens the source, then
either creates the target (sparse, with the source's size) or opens the
existing one and checks that it is large enough.
"""

from __future__ import annotations

from dataclasses import dataclass

from qapi_jobs.server.engines.builtin import files
from qapi_jobs.server.engines.builtin.claims import PathClaims
from qapi_jobs.server.engines.builtin.copy import BlockCopier
from qapi_jobs.server.engines.builtin.image_job import ImageJob
from qapi_jobs.server.engines.builtin.paths import ImagePath
from qapi_jobs.server.engines.builtin.threads import run_to_completion
from qapi_jobs.server.engines.builtin.transfer import error_text, io_step
from qapi_jobs.server.jobs.driver import JobContext, JobFailed
from qapi_jobs.server.jobs.errors import ErrorKind, JobError

SIZE_MISMATCH = "Source and target image have different sizes"
"""QEMU's text for a target that cannot hold the source."""


def size_mismatch(source_size: int, target_size: int) -> JobError:
    """The refusal of a target smaller than its source: QEMU's text, the sizes in details."""
    return JobError(
        ErrorKind.INVALID_ARGUMENT,
        SIZE_MISMATCH,
        reason="SIZE_MISMATCH",
        hint=(
            "The target must be at least as large as the source: grow the target, or let "
            "the job create it (mode 'absolute-paths')."
        ),
        facts={"source_size": str(source_size), "target_size": str(target_size)},
    )


@dataclass(frozen=True, kw_only=True)
class CopySpec:
    """The checked arguments of a backup or mirror."""

    source: ImagePath
    target: ImagePath
    create_target: bool
    """True for mode ``absolute-paths``: the job creates the target."""
    chunk_size: int
    """The largest amount of data moved by one blocking call."""


@dataclass
class OpenImages:
    """The two open descriptors of a running copy job and the source's size."""

    copier: BlockCopier
    size: int

    def close(self) -> None:
        """Close both descriptors (closing a local file does not wait on the disk)."""
        files.close_quietly(self.copier.source)
        files.close_quietly(self.copier.target)


class ImageCopyJob(ImageJob):
    """Base of the drivers that copy a source image onto a target image."""

    def __init__(self, spec: CopySpec, claims: PathClaims) -> None:
        super().__init__(claims)
        self.spec = spec

    @property
    def created_target(self) -> bool:
        """Whether this job has created its target file (and would remove it on abort)."""
        return self._created is not None

    async def open_images(self, ctx: JobContext) -> OpenImages:
        """Claim both files, open the source and create or open the target.

        One blocking call does all of it.  Raises JobFailed with a
        QEMU-style message if either file cannot be had.
        """
        self.claim((self.spec.source, self.spec.target))
        opened: list[OpenImages] = []
        try:
            images = await run_to_completion(ctx, self._open_images, opened)
        except BaseException:
            # A cancellation gets through only once the thread is done, and
            # what the thread opened by then would otherwise stay open.
            for images in opened:
                images.close()
            raise
        if self._created is not None:
            ctx.files_changed()
        return images

    def creates(self) -> ImagePath | None:
        """The target, when the job creates it."""
        return self.spec.target if self.spec.create_target else None

    def _open_images(self, opened: list[OpenImages]) -> OpenImages:
        # Runs in a worker thread.
        source, size = self._open(self.spec.source, writable=False)
        try:
            target = self._open_target(size)
        except BaseException:
            files.close_quietly(source)
            raise
        images = OpenImages(BlockCopier(source, target, self.spec.chunk_size), size)
        opened.append(images)
        return images

    @staticmethod
    def _open(image: ImagePath, *, writable: bool) -> tuple[int, int]:
        try:
            return files.open_image(image.real, writable)
        except OSError as exc:
            raise JobFailed(f"Could not open '{image.name}': {error_text(exc)}") from exc

    def _open_target(self, size: int) -> int:
        target = self.spec.target
        if self.spec.create_target:
            try:
                # Recorded at once, so that abort() removes the file even if
                # the wait for this thread was cancelled.
                fd, self._created = files.create_image(target.real, size)
            except OSError as exc:
                raise JobFailed(f"Could not create '{target.name}': {error_text(exc)}") from exc
            return fd
        fd, target_size = self._open(target, writable=True)
        if target_size < size:
            files.close_quietly(fd)
            raise JobFailed(SIZE_MISMATCH)
        return fd

    async def flush(self, ctx: JobContext, images: OpenImages) -> None:
        """Make the target durable: its data, and its directory entry if the job made it.

        The copy's result is what the job promises, so unlike a bare create
        (see :mod:`.create`) a copy job syncs the new file's directory too.
        """
        if await io_step(ctx, self._flush_target, images.copier) is None:
            # The error policy ignored a failed data flush; the new name
            # still goes to disk.
            await run_to_completion(ctx, self._sync_created_entry)

    def _flush_target(self, copier: BlockCopier) -> bool:
        # Runs in a worker thread: both flushes in one blocking call.
        copier.flush()
        self._sync_created_entry()
        return True

    def _sync_created_entry(self) -> None:
        if self._created is None:
            return
        try:
            files.sync_directory_of(self._created.path)
        except OSError as exc:
            raise JobFailed(
                f"Could not flush '{self.spec.target.name}': {error_text(exc)}"
            ) from exc
