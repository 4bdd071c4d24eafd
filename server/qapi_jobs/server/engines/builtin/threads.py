"""Blocking work in worker threads that is never left running behind its caller.

The job manager cancels a job's task at shutdown if the job ignores a hard
cancel.  A worker thread cannot be stopped, and the driver's cleanup
closes the descriptors that thread is using; a closed descriptor number
can at once be reused for another file, which the thread would then read
or write.  So a cancelled wait keeps waiting until the thread is done, and
only then lets the cancellation through.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import TypeVar

from qapi_jobs.server.jobs.driver import JobContext

_T = TypeVar("_T")


async def run_to_completion(ctx: JobContext, fn: Callable[..., _T], *args: object) -> _T:
    """``await ctx.run_blocking(fn, *args)``, but a cancellation waits for the thread."""
    work = asyncio.ensure_future(ctx.run_blocking(fn, *args))
    try:
        return await asyncio.shield(work)
    except asyncio.CancelledError:
        while not work.done():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait([work])
        if not work.cancelled():
            work.exception()  # retrieved, so that asyncio does not log it as lost
        raise
