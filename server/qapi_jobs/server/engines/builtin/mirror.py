"""The mirror driver: copy a raw image, then keep the copy in step.

Other processes write the source file directly, so the mirror cannot
intercept their writes the way QEMU's mirror filter does.  It watches the
source instead: every ``poll_interval`` seconds it compares the source's
size and modification time with what it saw before its last comparison
pass, and on a change it runs another pass (see :mod:`.resync`).  A
modification time very close to the moment it was read is not trusted
(a write in the same clock tick would leave it unchanged), so such a state
always gets one more pass.

The source must keep its size: QEMU's mirror cannot follow a resize
either, and the job fails if it sees one.  The same goes for a source file
that is deleted or replaced by another file under the same name.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import ClassVar

from qapi_jobs.server.engines.builtin.claims import PathClaims
from qapi_jobs.server.engines.builtin.copy import SourceShrankError
from qapi_jobs.server.engines.builtin.copy_job import SIZE_MISMATCH, CopySpec, ImageCopyJob
from qapi_jobs.server.engines.builtin.paths import ImagePath
from qapi_jobs.server.engines.builtin.resync import Resync
from qapi_jobs.server.engines.builtin.threads import run_to_completion
from qapi_jobs.server.engines.builtin.transfer import copy_image, error_text, io_step, step_size
from qapi_jobs.server.jobs.driver import JobContext, JobFailed

DEFAULT_POLL_INTERVAL = 0.25
"""Seconds between two looks at the source while READY."""

RACY_WINDOW_NS = 100_000_000
"""A modification time this close to the moment it was read may hide a later write."""


@dataclass(frozen=True)
class SourceState:
    """What the mirror knows about its source at one moment."""

    size: int
    mtime_ns: int
    seen_ns: int
    replaced: bool
    """The source's name no longer leads to the file the mirror opened."""

    @property
    def racy(self) -> bool:
        """Whether a write right after this look could have left the mtime unchanged."""
        return self.seen_ns - self.mtime_ns < RACY_WINDOW_NS

    def unchanged_since(self, earlier: SourceState) -> bool:
        """Whether the source provably holds what it held at ``earlier``."""
        same = (self.size, self.mtime_ns) == (earlier.size, earlier.mtime_ns)
        return same and not earlier.racy


def look_at_source(source: ImagePath) -> SourceState:
    """Read the open source's size and mtime, and whether its name still leads to it."""
    assert source.fd is not None
    seen_ns = time.time_ns()
    st = os.fstat(source.fd)
    return SourceState(st.st_size, st.st_mtime_ns, seen_ns, not source.still_named())


class MirrorDriver(ImageCopyJob):
    """Copies the source, goes READY, and mirrors later changes until completed."""

    job_type: ClassVar[str] = "mirror"
    block_job: ClassVar[bool] = True
    converging: ClassVar[bool] = True

    def __init__(
        self,
        spec: CopySpec,
        claims: PathClaims,
        *,
        granularity: int,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
    ) -> None:
        super().__init__(spec, claims)
        self.granularity = granularity
        self.poll_interval = poll_interval

    async def work(self, ctx: JobContext) -> None:
        """Mirror until job-complete (target then equals source) or a soft cancel."""
        images = await self.open_images(ctx)
        size = images.size
        ctx.set_progress_total(size)
        chunk = max(self.spec.chunk_size, self.granularity)
        # Compare in whole granules.
        resync = Resync(images.copier, self.granularity, chunk - chunk % self.granularity)
        seen = await self._look(ctx, size)
        await copy_image(
            ctx,
            images.copier,
            size,
            chunk_size=self.spec.chunk_size,
            unit=self.granularity,
            target_is_blank=self.created_target,
            source_name=self.spec.source.name,
        )
        seen = await self._converge(ctx, resync, size, seen)
        await ctx.ready()
        if await self._follow(ctx, resync, size, seen):
            await self._pass(ctx, resync, size, stop_on_cancel=False)
        await self.flush(ctx, images)

    async def _converge(
        self, ctx: JobContext, resync: Resync, size: int, seen: SourceState
    ) -> SourceState:
        """Repeat comparison passes until the target has caught up with the source.

        ``seen`` is the source's state before the data now in the target was
        read; the state returned plays that part for the caller.
        """
        while True:
            now = await self._look(ctx, size)
            if now.unchanged_since(seen):
                return seen
            if await self._pass(ctx, resync, size, stop_on_cancel=False) == 0:
                return now
            seen = now

    async def _follow(self, ctx: JobContext, resync: Resync, size: int, seen: SourceState) -> bool:
        """Carry changes over while READY; True on completion, False on a soft cancel."""
        while True:
            if ctx.cancelled:
                return False
            if ctx.completion_requested:
                return True
            await ctx.sleep(self.poll_interval)
            if ctx.cancelled or ctx.completion_requested:
                continue
            now = await self._look(ctx, size)
            if not now.unchanged_since(seen):
                seen = now
                await self._pass(ctx, resync, size, stop_on_cancel=True)

    async def _look(self, ctx: JobContext, size: int) -> SourceState:
        """Look at the source; fail the job if it was resized, deleted or replaced."""
        source = self.spec.source
        try:
            state = await run_to_completion(ctx, look_at_source, source)
        except OSError as exc:
            raise JobFailed(f"Could not read '{source.name}': {error_text(exc)}") from exc
        if state.replaced:
            raise JobFailed(
                f"Source image '{source.name}' was deleted or replaced by another file while "
                "being mirrored"
            )
        if state.size != size:
            raise JobFailed(
                f"{SIZE_MISMATCH}: '{source.name}' was resized from {size} to {state.size} "
                "bytes while being mirrored"
            )
        return state

    async def _pass(
        self, ctx: JobContext, resync: Resync, size: int, *, stop_on_cancel: bool
    ) -> int:
        """Compare the whole image and copy what differs; return the bytes copied.

        With ``stop_on_cancel`` a soft cancel ends the pass between chunks.
        """
        copied = 0
        offset = 0
        while offset < size:
            if stop_on_cancel and ctx.cancelled:
                break
            await ctx.pause_point()
            step = step_size(ctx.speed, unit=self.granularity, most=resync.chunk_size)
            length = min(step, size - offset)
            start, offset = offset, offset + length
            try:
                runs = await io_step(ctx, resync.scan, start, length)
            except SourceShrankError as exc:
                await self._look(ctx, size)
                raise JobFailed(f"{SIZE_MISMATCH}: '{self.spec.source.name}' shrank") from exc
            if not runs:
                continue
            dirty = sum(run_length for _, run_length in runs)
            ctx.add_progress_total(dirty)
            await ctx.rate_limit(dirty)
            await io_step(ctx, resync.apply, runs)
            ctx.add_progress(dirty)
            copied += dirty
        return copied
