"""What backup and mirror share: opening the images.

A copy job's images are opened when it is prepared (see paths); running,
it either creates the target (sparse, with the source's size) or checks
that the existing one is large enough.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from qapi_jobs.server.engines.builtin import files
from qapi_jobs.server.engines.builtin.claims import PathClaims
from qapi_jobs.server.engines.builtin.copy import BlockCopier
from qapi_jobs.server.engines.builtin.image_job import ImageJob
from qapi_jobs.server.engines.builtin.paths import ImagePath, quote
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
    """The two descriptors of a running copy job and the source's size.

    The descriptors belong to the job's images, which close them.
    """

    copier: BlockCopier
    size: int


class ImageCopyJob(ImageJob):
    """Base of the drivers that copy a source image onto a target image."""

    def __init__(self, spec: CopySpec, claims: PathClaims) -> None:
        super().__init__(claims, (spec.source, spec.target))
        self.spec = spec

    @property
    def created_target(self) -> bool:
        """Whether this job has created its target file (and would remove it on abort)."""
        return self._created is not None

    async def open_images(self, ctx: JobContext) -> OpenImages:
        """Create the target if the job makes it, and size up both images.

        The images were opened when the job was prepared; one blocking call
        does the rest.  Raises JobFailed with a QEMU-style message if the
        target cannot be had.
        """
        images = await run_to_completion(ctx, self._open_images)
        if self._created is not None:
            ctx.files_changed()
        return images

    def creates(self) -> ImagePath | None:
        """The target, when the job creates it."""
        return self.spec.target if self.spec.create_target else None

    def _open_images(self) -> OpenImages:
        # Runs in a worker thread.
        source = self.spec.source
        assert source.fd is not None
        size = os.fstat(source.fd).st_size
        target = self._open_target(size)
        return OpenImages(BlockCopier(source.fd, target, self.spec.chunk_size), size)

    def _open_target(self, size: int) -> int:
        target = self.spec.target
        if self.spec.create_target:
            try:
                # Recorded at once, so that abort() removes the file even if
                # the wait for this thread was cancelled.
                fd, self._created = files.create_image(target, size)
            except OSError as exc:
                raise JobFailed(
                    f"Could not create '{quote(target.name)}': {error_text(exc)}"
                ) from exc
            return fd
        assert target.fd is not None
        if os.fstat(target.fd).st_size < size:
            raise JobFailed(SIZE_MISMATCH)
        return target.fd

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
            files.sync_directory(self.spec.target)
        except OSError as exc:
            raise JobFailed(
                f"Could not flush '{quote(self.spec.target.name)}': {error_text(exc)}"
            ) from exc
