"""The backup driver: a full, sparse-aware copy of a raw image.

The copy reads the source as it is while the job runs; unlike QEMU's
copy-before-write backup it cannot freeze the source against writes by
other processes, so a consistent point-in-time copy needs a quiet source.
"""

from __future__ import annotations

from typing import ClassVar

from qapi_jobs.server.engines.builtin.copy_job import ImageCopyJob
from qapi_jobs.server.engines.builtin.transfer import copy_image
from qapi_jobs.server.jobs.driver import JobContext

SECTOR = 512
"""The smallest step of a throttled backup."""


class BackupDriver(ImageCopyJob):
    """Copies the source onto the target once, then flushes the target."""

    job_type: ClassVar[str] = "backup"
    block_job: ClassVar[bool] = True

    async def work(self, ctx: JobContext) -> None:
        """Copy every byte of the source; holes stay holes in the target."""
        images = await self.open_images(ctx)
        ctx.set_progress_total(images.size)
        await copy_image(
            ctx,
            images.copier,
            images.size,
            chunk_size=self.spec.chunk_size,
            unit=SECTOR,
            target_is_blank=self.created_target,
            source_name=self.spec.source.name,
        )
        await self.flush(ctx, images)
