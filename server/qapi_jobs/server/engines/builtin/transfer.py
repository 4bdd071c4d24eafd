"""The asynchronous copy loop shared by backup and mirror.

It copies the source batch by batch (see :mod:`.batches`): each batch
passes the speed limit before it goes, which is also the pause point; one
blocking call carries out a batch and maps the next.  The target is made
to read as zeros where the source has holes (unless the target is a
freshly created sparse file, whose holes already match), and every I/O
failure goes through the job's error policy.  Holes count as progress:
they are done once seen.

The speed limit is charged every byte of progress, holes included, as
QEMU charges them: a sparse image takes as long as a full one of its size.
Under a limit, a batch is cut to one rate-limit slice of the speed (see
:func:`step_size`), so progress advances every slice and the first batch
is no larger than the later ones.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import TypeVar

from qapi_jobs.server.engines.builtin.batches import Batch, BatchCopier, BatchStopped, Run
from qapi_jobs.server.engines.builtin.copy import BlockCopier, ImageIoError, SourceShrankError
from qapi_jobs.server.engines.builtin.threads import run_to_completion
from qapi_jobs.server.jobs.driver import IoErrorDecision, JobContext, JobFailed
from qapi_jobs.server.jobs.ratelimit import slice_bytes

_T = TypeVar("_T")

HOLE_STEP_CHUNKS = 64
"""A batch zeroes at most this many chunks' worth of holes in a target holding old data."""


def step_size(speed: int, *, unit: int, most: int) -> int:
    """Bytes of progress per step at ``speed``: one rate-limit slice, in whole units.

    At least one ``unit`` (the mirror's granularity, a sector for backup)
    and at most ``most`` (the chunk size); ``most`` when there is no limit.
    """
    if speed == 0:
        return most
    quota = slice_bytes(speed)
    return max(unit, min(most, quota - quota % unit))


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
            if await decide(ctx, exc) is IoErrorDecision.IGNORE:
                return None


async def decide(ctx: JobContext, failure: ImageIoError) -> IoErrorDecision:
    """Ask the job's error policy about ``failure``: RETRY or IGNORE, or raise JobFailed."""
    decision = await ctx.io_error(failure.operation, failure.error)
    if decision is IoErrorDecision.FAIL:
        raise JobFailed(error_text(failure.error)) from failure
    return decision


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
    unit: int,
    target_is_blank: bool,
    source_name: str,
) -> None:
    """Copy the first ``size`` bytes of the source onto the target.

    ``target_is_blank`` says the target reads as zeros throughout (a new
    sparse file), so source holes need no work.  Progress grows by every
    byte dealt with, holes included, and the speed limit is charged the
    same bytes.  No blocking call moves more than ``chunk_size`` bytes of
    data; under a speed limit a step is cut to :func:`step_size` in whole
    ``unit`` bytes.
    """
    batches = BatchCopier(
        copier,
        size,
        data_bytes=chunk_size,
        zero_bytes=chunk_size * HOLE_STEP_CHUNKS,
        target_is_blank=target_is_blank,
    )
    try:
        batch = await _plan(ctx, batches, 0)
        while batch.runs:
            if ctx.speed:
                batch = batch.cut(step_size(ctx.speed, unit=unit, most=chunk_size))
            await ctx.rate_limit(batch.length)
            batch = await _carry_out(ctx, batches, batch)
    except SourceShrankError as exc:
        raise shrank_error(source_name, size, exc) from exc


async def _plan(ctx: JobContext, batches: BatchCopier, offset: int) -> Batch:
    batch = await io_step(ctx, batches.plan, offset)
    return batches.fallback(offset) if batch is None else batch


async def _carry_out(ctx: JobContext, batches: BatchCopier, batch: Batch) -> Batch:
    """Carry out ``batch``, in one thread round trip unless I/O fails; return the next batch."""
    runs = batch.runs
    first = 0
    while True:
        try:
            next_batch = await run_to_completion(ctx, batches.run, batch, first)
        except BatchStopped as stop:
            ctx.add_progress(_length(runs[first : stop.reached]))
            decision = await decide(ctx, stop.failure)
            if stop.reached == len(runs):
                # Mapping the next batch failed; an ignored failure takes
                # the next chunk as data, as if SEEK_DATA had found some.
                if decision is IoErrorDecision.IGNORE:
                    return batches.fallback(batch.end)
                return await _plan(ctx, batches, batch.end)
            first = stop.reached
            if decision is IoErrorDecision.IGNORE:
                ctx.add_progress(runs[first].length)
                first += 1
        else:
            ctx.add_progress(_length(runs[first:]))
            return next_batch


def _length(runs: Sequence[Run]) -> int:
    return sum(run.length for run in runs)
