"""The asynchronous copy loop shared by backup and mirror.

It walks the source run by run (data or hole), copies data in chunks with
the speed limit applied before each chunk, makes the target read as zeros
where the source has holes (unless the target is a freshly created sparse
file, whose holes already match), and passes every I/O failure through
the job's error policy.  Holes count as progress: they are done once seen.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TypeVar

from qapi_jobs.server.engines.builtin.copy import BlockCopier, ImageIoError, SourceShrankError
from qapi_jobs.server.engines.builtin.threads import run_to_completion
from qapi_jobs.server.jobs.driver import IoErrorDecision, JobContext, JobFailed

_T = TypeVar("_T")

HOLE_STEP_CHUNKS = 64
"""Holes that need zeroing in the target are handled this many chunks at a time."""


def error_text(error: OSError) -> str:
    """The job error QEMU would report for ``error``: the C library's text for its errno."""
    if error.errno is not None:
        return os.strerror(error.errno)
    return str(error)


async def io_step(ctx: JobContext, fn: Callable[..., _T], *args: object) -> _T | None:
    """Run one blocking I/O step in a thread, under the job's error policy.

    On an :class:`ImageIoError` the policy decides: RETRY runs the step
    again, IGNORE gives up on it (returning ``None``), FAIL raises
    JobFailed with the errno's text.
    """
    while True:
        try:
            return await run_to_completion(ctx, fn, *args)
        except ImageIoError as exc:
            failure = exc
        decision = await ctx.io_error(failure.operation, failure.error)
        if decision is IoErrorDecision.IGNORE:
            return None
        if decision is IoErrorDecision.FAIL:
            raise JobFailed(error_text(failure.error)) from failure


def shrank_error(source_name: str, expected: int, error: SourceShrankError) -> JobFailed:
    """The failure for a source that got shorter while it was being copied."""
    return JobFailed(
        "Source and target image have different sizes: "
        f"'{source_name}' shrank from {expected} to {error.offset} bytes during the copy"
    )


async def copy_image(
    ctx: JobContext,
    copier: BlockCopier,
    size: int,
    *,
    chunk_size: int,
    target_is_blank: bool,
    source_name: str,
) -> None:
    """Copy the first ``size`` bytes of the source onto the target.

    ``target_is_blank`` says the target reads as zeros throughout (a new
    sparse file), so source holes need no work.  Progress grows by every
    byte dealt with, holes included.
    """
    offset = 0
    while offset < size:
        run = await io_step(ctx, copier.source_run, offset, size)
        is_data, run_end = run if run is not None else (True, min(offset + chunk_size, size))
        try:
            if is_data:
                await _copy_data(ctx, copier, offset, run_end, chunk_size)
            else:
                await _copy_hole(ctx, copier, offset, run_end, chunk_size, target_is_blank)
        except SourceShrankError as exc:
            raise shrank_error(source_name, size, exc) from exc
        offset = run_end


async def _copy_data(
    ctx: JobContext, copier: BlockCopier, offset: int, end: int, chunk_size: int
) -> None:
    while offset < end:
        length = min(chunk_size, end - offset)
        await ctx.rate_limit(length)
        await io_step(ctx, copier.copy, offset, length)
        ctx.add_progress(length)
        offset += length


async def _copy_hole(
    ctx: JobContext,
    copier: BlockCopier,
    offset: int,
    end: int,
    chunk_size: int,
    target_is_blank: bool,
) -> None:
    if target_is_blank:
        await ctx.pause_point()
        ctx.add_progress(end - offset)
        return
    step = chunk_size * HOLE_STEP_CHUNKS
    while offset < end:
        length = min(step, end - offset)
        await ctx.pause_point()
        await io_step(ctx, copier.zero, offset, length)
        ctx.add_progress(length)
        offset += length
