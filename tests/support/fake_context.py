"""A scripted JobContext for driving engine drivers without the job manager.

The test controls pause, cancel and completion; nothing ever sleeps on a
timer: ``sleep`` waits until the test pokes the job (or pauses, cancels or
completes it).  Waiting helpers have a generous timeout only as a guard
against a hanging test.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, TypeVar

from qapi_jobs.server.jobs.driver import (
    IoErrorDecision,
    IoOperation,
    JobCancelled,
    JobContext,
    JobDriver,
    JobFailed,
)

from .timeouts import GUARD_TIMEOUT

_T = TypeVar("_T")


class FakeContext(JobContext):
    """Records what a driver reports and lets the test steer it."""

    def __init__(
        self,
        job_id: str = "job0",
        *,
        decisions: list[IoErrorDecision] | None = None,
        speed: int = 0,
    ) -> None:
        self._job_id = job_id
        self.speed_limit = speed
        self.total = 0
        self.current = 0
        self.rate_limited: list[int] = []
        self.io_errors: list[tuple[IoOperation, OSError]] = []
        self.decisions = list(decisions or [])
        self.ready_count = 0
        self.progress_at_ready: tuple[int, int] | None = None
        self.sleeps = 0
        self._cancelled = False
        self._forced = False
        self._complete = False
        self._pause_requested = False
        self.parked = False
        self.at_pause_point: Callable[[FakeContext], None] | None = None
        """Called at every pause point before it takes effect, so that a test
        can pause or cancel the job at an exact spot."""
        self._resume = asyncio.Event()
        self._wake = asyncio.Event()
        self._changed = asyncio.Event()

    # -- what the driver sees ------------------------------------------------

    @property
    def job_id(self) -> str:
        return self._job_id

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    @property
    def completion_requested(self) -> bool:
        return self._complete

    @property
    def speed(self) -> int:
        return self.speed_limit

    async def pause_point(self) -> None:
        if self.at_pause_point is not None:
            self.at_pause_point(self)
        self._check_cancel()
        while self._pause_requested:
            self.parked = True
            self._notify()
            await self._resume.wait()
            self._resume.clear()
            self.parked = False
            self._notify()
            self._check_cancel()

    async def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps += 1
        self._notify()
        await self.pause_point()
        await self._wake.wait()
        self._wake.clear()
        await self.pause_point()

    async def rate_limit(self, nbytes: int) -> None:
        assert nbytes > 0
        self.rate_limited.append(nbytes)
        await self.pause_point()

    def set_progress_total(self, total: int) -> None:
        self.total = total
        self._notify()

    def add_progress_total(self, delta: int) -> None:
        self.total += delta
        self._notify()

    def add_progress(self, done: int) -> None:
        assert done >= 0
        self.current += done
        self._notify()

    async def ready(self) -> None:
        self.ready_count += 1
        self.progress_at_ready = (self.current, self.total)
        self._notify()

    async def io_error(self, operation: IoOperation, error: OSError) -> IoErrorDecision:
        self.io_errors.append((operation, error))
        self._notify()
        return self.decisions.pop(0) if self.decisions else IoErrorDecision.FAIL

    async def run_blocking(self, fn: Callable[..., _T], *args: object) -> _T:
        return await asyncio.to_thread(fn, *args)

    # -- what the test does --------------------------------------------------

    @property
    def is_ready(self) -> bool:
        return self.ready_count > 0

    def request_pause(self) -> None:
        self._pause_requested = True
        self._wake.set()

    def resume(self) -> None:
        self._pause_requested = False
        self._resume.set()

    def cancel(self, *, force: bool = True) -> None:
        """Cancel like QEMU: a soft cancel before READY is a hard one."""
        self._cancelled = True
        self._forced = self._forced or force or not self.is_ready
        self._pause_requested = False
        self._resume.set()
        self._wake.set()

    def complete(self) -> None:
        self._complete = True
        self._wake.set()

    def poke(self) -> None:
        """End the current (or next) sleep, as the poll interval passing would."""
        self._wake.set()

    async def wait_until(self, predicate: Callable[[], bool]) -> None:
        async with asyncio.timeout(GUARD_TIMEOUT):
            while not predicate():
                self._changed.clear()
                await self._changed.wait()

    def _notify(self) -> None:
        self._changed.set()

    def _check_cancel(self) -> None:
        if self._forced:
            raise JobCancelled()


@dataclass(frozen=True)
class Outcome:
    """How a job ended, as the manager would record it."""

    status: Literal["completed", "failed", "cancelled"]
    error: str | None = None


async def run_job(driver: JobDriver, ctx: FakeContext) -> Outcome:
    """Run a driver and its finalization hooks the way the manager does."""
    try:
        await driver.run(ctx)
    except JobCancelled:
        await driver.abort()
        await driver.clean()
        return Outcome("cancelled", "Operation canceled")
    except JobFailed as exc:
        await driver.abort()
        await driver.clean()
        return Outcome("failed", str(exc))
    await driver.prepare()
    await driver.commit()
    await driver.clean()
    return Outcome("completed")


async def wait_job(task: asyncio.Task[Outcome]) -> Outcome:
    """Await a job task, guarded against hangs."""
    async with asyncio.timeout(GUARD_TIMEOUT):
        return await task
