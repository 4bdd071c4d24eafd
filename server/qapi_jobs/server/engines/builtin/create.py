"""The create driver: a new raw image file of a given size.

Preallocation ``off`` leaves the file sparse (ftruncate), ``falloc``
reserves its blocks with posix_fallocate, ``full`` writes zeros chunk by
chunk (with progress and pause points between chunks).  The file is
created with O_EXCL when the job starts running and removed again if the
job fails or is cancelled, so a create job never leaves a half-made file.
Progress is counted in bytes of the image.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Literal

from qapi_jobs.server.engines.builtin import files, sparse
from qapi_jobs.server.engines.builtin.claims import PathClaims
from qapi_jobs.server.engines.builtin.paths import ImagePath
from qapi_jobs.server.engines.builtin.threads import run_to_completion
from qapi_jobs.server.engines.builtin.transfer import error_text
from qapi_jobs.server.jobs.driver import JobContext, JobDriver, JobFailed
from qapi_jobs.server.jobs.errors import JobError

RawPreallocation = Literal["off", "falloc", "full"]
"""The preallocation modes a raw image supports."""


@dataclass(frozen=True, kw_only=True)
class CreateSpec:
    """The checked options of a raw image creation."""

    target: ImagePath
    size: int
    preallocation: RawPreallocation
    chunk_size: int
    """How many zero bytes one blocking write puts down (preallocation ``full``)."""


class CreateDriver(JobDriver):
    """Creates one raw image file."""

    job_type: ClassVar[str] = "create"

    def __init__(self, spec: CreateSpec, claims: PathClaims) -> None:
        self.spec = spec
        self._claims = claims
        self._created: files.CreatedFile | None = None

    async def run(self, ctx: JobContext) -> None:
        """Create the file, reserve its space as asked, and flush it to disk."""
        spec = self.spec
        try:
            self._claims.claim(self, self.job_type, (spec.target,))
        except JobError as exc:
            raise JobFailed(exc.message) from exc
        ctx.set_progress_total(spec.size)
        fd = await self._create(ctx)
        try:
            if spec.preallocation == "full":
                await self._write_zeros(ctx, fd)
            elif spec.preallocation == "falloc":
                await self._blocking(ctx, "Could not preallocate data", self._fallocate, fd)
                ctx.add_progress(spec.size)
            else:
                ctx.add_progress(spec.size)
            await self._blocking(ctx, "Could not flush file to disk", os.fsync, fd)
            await self._blocking(
                ctx, "Could not flush file to disk", files.sync_directory_of, spec.target.real
            )
        finally:
            files.close_quietly(fd)

    async def _create(self, ctx: JobContext) -> int:
        # A "full" image grows as its zeros are written, so it starts empty.
        size = 0 if self.spec.preallocation == "full" else self.spec.size
        try:
            return await run_to_completion(ctx, self._create_file, size)
        except OSError as exc:
            raise JobFailed(
                f"Could not create '{self.spec.target.name}': {error_text(exc)}"
            ) from exc

    def _create_file(self, size: int) -> int:
        # Runs in a worker thread.  The new file is recorded right here, so
        # that abort() removes it even if the wait for this thread was cancelled.
        fd, self._created = files.create_image(self.spec.target.real, size)
        return fd

    def _fallocate(self, fd: int) -> None:
        if self.spec.size > 0:
            os.posix_fallocate(fd, 0, self.spec.size)

    async def _write_zeros(self, ctx: JobContext, fd: int) -> None:
        zeros = memoryview(bytes(min(self.spec.chunk_size, max(self.spec.size, 1))))
        offset = 0
        while offset < self.spec.size:
            await ctx.pause_point()
            length = min(len(zeros), self.spec.size - offset)
            await self._blocking(
                ctx,
                "Could not write zeros for preallocation",
                sparse.write_zeros,
                fd,
                offset,
                length,
                zeros,
            )
            ctx.add_progress(length)
            offset += length

    @staticmethod
    async def _blocking(
        ctx: JobContext, what: str, fn: Callable[..., object], *args: object
    ) -> None:
        try:
            await run_to_completion(ctx, fn, *args)
        except OSError as exc:
            raise JobFailed(f"{what}: {error_text(exc)}") from exc

    async def abort(self) -> None:
        """Remove the file the job created."""
        created, self._created = self._created, None
        if created is not None:
            await asyncio.to_thread(created.remove)

    async def clean(self) -> None:
        """Release the job's claim on the file."""
        self._claims.release(self)
