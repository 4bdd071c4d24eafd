"""The create driver: a new raw image file of a given size.

Preallocation ``off`` leaves the file sparse (ftruncate), ``falloc``
reserves its blocks with posix_fallocate, ``full`` writes zeros chunk by
chunk (with progress and pause points between chunks).  The file is
created with O_EXCL when the job starts running and removed again if the
job fails or is cancelled, so a create job never leaves a half-made file.
Progress is counted in bytes of the image.

Each blocking call is a thread round trip, which costs more than the
work of a small create; so ``off`` and ``falloc`` do everything in one
call, and ``full`` flushes in the call that writes its last zeros.

What is flushed, and why: like QEMU's ``blockdev-create``, the job makes
no promise that the new file survives a crash, so the directory entry is
not fsynced.  A new image holds no data of anyone's yet, a crash that loses
it is seen plainly (the name is missing), and whoever later writes data into
the image flushes that data (a backup or mirror onto it does).  The file's
own data is flushed (fdatasync) when preallocation put blocks down: a
crash could otherwise silently take back the reservation the client asked
for, leaving a sparse file under the name.  On ext4, XFS and btrfs that
flush of a new file also commits its name.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Literal

from qapi_jobs.server.engines.builtin import files, sparse
from qapi_jobs.server.engines.builtin.claims import PathClaims
from qapi_jobs.server.engines.builtin.image_job import ImageJob
from qapi_jobs.server.engines.builtin.paths import ImagePath, quote
from qapi_jobs.server.engines.builtin.threads import run_to_completion
from qapi_jobs.server.engines.builtin.transfer import error_text
from qapi_jobs.server.jobs.driver import JobContext, JobFailed

_FLUSH_FAILED = "Could not flush file to disk"
MAX_FILE_SIZE = 2**63 - 1
"""The largest file offset (off_t) Linux has."""

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


class CreateDriver(ImageJob):
    """Creates one raw image file."""

    job_type: ClassVar[str] = "create"

    def __init__(self, spec: CreateSpec, claims: PathClaims) -> None:
        super().__init__(claims, (spec.target,))
        self.spec = spec

    async def work(self, ctx: JobContext) -> None:
        """Create the file and reserve its space as asked."""
        spec = self.spec
        if spec.size > MAX_FILE_SIZE:
            # What ftruncate says for a size no file offset can hold.
            raise JobFailed(
                f"Could not create '{quote(spec.target.name)}': {os.strerror(errno.EFBIG)}"
            )
        ctx.set_progress_total(spec.size)
        if spec.preallocation == "full":
            await self._preallocate_full(ctx)
        else:
            await run_to_completion(ctx, self._create_whole)
            ctx.add_progress(spec.size)

    def creates(self) -> ImagePath:
        """The new image."""
        return self.spec.target

    def _create_whole(self) -> None:
        # Runs in a worker thread: all of the work for "off" and "falloc".
        spec = self.spec
        fd = self._create_file(spec.size)
        if spec.preallocation == "falloc" and spec.size > 0:
            _step("Could not preallocate data", os.posix_fallocate, fd, 0, spec.size)
            _step(_FLUSH_FAILED, os.fdatasync, fd)

    async def _preallocate_full(self, ctx: JobContext) -> None:
        size = self.spec.size
        # The image grows as its zeros are written, so it starts empty.
        fd = await run_to_completion(ctx, self._create_file, 0)
        ctx.files_changed()
        zeros = memoryview(bytes(min(self.spec.chunk_size, max(size, 1))))
        offset = 0
        while offset < size:
            await ctx.pause_point()
            length = min(len(zeros), size - offset)
            await run_to_completion(ctx, self._write_zeros, fd, offset, length, zeros)
            ctx.add_progress(length)
            offset += length

    def _create_file(self, size: int) -> int:
        # Runs in a worker thread.  The new file is recorded right here, so
        # that abort() removes it even if the wait for this thread was
        # cancelled; its descriptor belongs to the target image from now on.
        try:
            fd, self._created = files.create_image(self.spec.target, size)
        except OSError as exc:
            raise JobFailed(
                f"Could not create '{quote(self.spec.target.name)}': {error_text(exc)}"
            ) from exc
        return fd

    def _write_zeros(self, fd: int, offset: int, length: int, zeros: memoryview) -> None:
        # Runs in a worker thread; the call that reaches the end also flushes.
        _step(
            "Could not write zeros for preallocation", sparse.write_zeros, fd, offset, length, zeros
        )
        if offset + length == self.spec.size:
            _step(_FLUSH_FAILED, os.fdatasync, fd)


def _step(what: str, fn: Callable[..., object], *args: object) -> None:
    """Call ``fn(*args)``; an OSError fails the job with ``what`` and the errno's text."""
    try:
        fn(*args)
    except OSError as exc:
        raise JobFailed(f"{what}: {error_text(exc)}") from exc
