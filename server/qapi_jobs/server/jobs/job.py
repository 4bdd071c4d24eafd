"""One job's state (QEMU's per-job fields) and how its task parks and wakes.

The manager owns every decision; this module only keeps the fields of the
job model (docs/job-semantics.md) together and offers the two primitives the rest is
built on: the job's task *yields* (parks at a pause point, or sleeps with
a deadline) and other code *wakes* it.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING

from qapi_jobs.server.jobs.driver import JobDriver
from qapi_jobs.server.jobs.policy import BlockdevOnError, IoStatus
from qapi_jobs.server.jobs.ratelimit import RateLimiter
from qapi_jobs.server.jobs.status import COMPLETED_STATES, READY_STATES, JobStatus, JobType

if TYPE_CHECKING:
    from qapi_jobs.server.jobs.transaction import JobTxn

CREATOR: ContextVar[str | None] = ContextVar("qapi_jobs_job_creator", default=None)
"""Who is creating jobs in the current task: each job created meanwhile takes it as
its owner.  The jobs layer never interprets it; the front end that knows callers
sets it around a command, so that the owner is in the job's very first record."""


@dataclass(frozen=True)
class JobSpec:
    """Everything the manager needs to create one job; what an engine's prepare returns.

    ``speed`` and the error policies only mean something for block jobs;
    other jobs keep the defaults.  A negative ``speed`` is passed through:
    QEMU refuses it only after the job exists (``created``, then ``null``),
    and the manager does the same.  For block-stream and block-commit,
    whose single ``on-error`` covers both directions, both policies are
    that one.

    ``precheck`` (optional) runs at the moment this job is created inside
    its group, before the id checks, and may raise a JobError; it lets a
    caller refuse a job exactly where QEMU's ``transaction`` would (jobs
    created earlier in the group are then rolled back), and lets an engine
    take a hold on its files at that moment.  A precheck that raises must
    leave nothing behind.  Once it has returned (at once, for a spec
    without one), the manager calls the driver's ``clean()`` exactly once,
    whatever follows — even if the creation is then refused (id, speed)
    or rolled back — so a precheck may take what ``clean()`` gives back.

    ``job_id_from`` names the argument ``job_id`` was taken from when the
    client gave none (QEMU takes ``device``); a refusal of the id then
    says so.
    """

    job_id: str
    driver: JobDriver
    auto_finalize: bool = True
    auto_dismiss: bool = True
    speed: int = 0
    on_source_error: BlockdevOnError = BlockdevOnError.REPORT
    on_target_error: BlockdevOnError = BlockdevOnError.REPORT
    precheck: Callable[[], None] | None = None
    job_id_from: str | None = None

    def __post_init__(self) -> None:
        JobType(self.driver.job_type)
        if not self.driver.block_job:
            defaults = (0, BlockdevOnError.REPORT, BlockdevOnError.REPORT)
            if (self.speed, self.on_source_error, self.on_target_error) != defaults:
                raise ValueError("only block jobs have a speed and error policies")

    @property
    def job_type(self) -> str:
        """The JobType wire name, e.g. ``"backup"``."""
        return self.driver.job_type

    @property
    def block_job(self) -> bool:
        """Whether this is a block job (speed, error policy, BLOCK_JOB_* events)."""
        return self.driver.block_job

    @property
    def converging(self) -> bool:
        """Whether the job goes READY and waits for job-complete (mirror)."""
        return self.driver.converging


def error_text(error_number: int) -> str:
    """The C library's message for an errno (``Input/output error`` for EIO)."""
    return os.strerror(error_number)


class Job:
    """The state of one job; mutated only by the manager and the job's context."""

    def __init__(self, spec: JobSpec, limiter: RateLimiter) -> None:
        driver = spec.driver
        self.id = spec.job_id
        self.driver = driver
        self.type = JobType(driver.job_type)
        self.block = driver.block_job
        self.converging = driver.converging
        self.auto_finalize = spec.auto_finalize
        self.auto_dismiss = spec.auto_dismiss
        self.on_source_error = spec.on_source_error
        self.on_target_error = spec.on_target_error
        self.limiter = limiter
        self.created_at = time.time()
        """Wall-clock time of creation (tells a file the job created from an older one)."""
        self.owner = CREATOR.get()
        """Opaque to the jobs layer: who created the job (kept in its durable record)."""
        self.interrupt_message: str | None = None
        """The error to give the job if it is cancelled because the server stops."""
        self.interrupted = False
        """Cancelled because the server stopped: its record stays until dismissed."""

        self.status = JobStatus.UNDEFINED
        self.pause_count = 1
        """Outstanding pause requests; the creation itself holds one until start."""
        self.user_paused = False
        self.paused = False
        """Parked at a pause point."""
        self.busy = False
        self.sleeping = False
        """In a timed sleep (rate limit or ctx.sleep)."""
        self.started = False
        self.cancelled = False
        self.force_cancel = False
        self.deferred = False
        """run() has returned; completion handling is due."""
        self.completion_requested = False
        self.ret = 0
        """0 or a negative errno."""
        self.error: str | None = None
        self._failure_message: str | None = None
        self.io_failure: tuple[int, str] | None = None
        """errno and text of an I/O error the policy decided to report."""
        self.progress_current = 0
        self.progress_total = 0
        self.speed = 0
        self.iostatus = IoStatus.OK
        self.txn: JobTxn | None = None
        self.task: asyncio.Task[None] | None = None
        self.run_done = asyncio.Event()
        self.finished = asyncio.Event()
        """Set once the job is CONCLUDED (or gone)."""
        self._wakeup: asyncio.Future[None] | None = None

    @property
    def is_cancelled(self) -> bool:
        """A hard cancel was requested (QEMU's job_is_cancelled)."""
        return self.cancelled and self.force_cancel

    @property
    def is_ready(self) -> bool:
        """READY or STANDBY."""
        return self.status in READY_STATES

    @property
    def is_completed(self) -> bool:
        """The work function has finished (WAITING and later)."""
        return self.status in COMPLETED_STATES

    def set_status(self, status: JobStatus) -> None:
        """Record the new status (validation and events are the caller's business)."""
        self.status = status
        if status in (JobStatus.CONCLUDED, JobStatus.NULL):
            self.finished.set()

    def set_failure(self, error_number: int, message: str | None) -> None:
        """Record that run() or a finalization step failed (``message`` or the errno text).

        The text becomes visible as :attr:`error` only when the failure is
        acted on (:meth:`publish_error`, with the move to ABORTING).
        """
        self.ret = -error_number
        self._failure_message = message or error_text(error_number)

    def publish_error(self) -> None:
        """Make the recorded failure the job's visible error, unless one is already set."""
        if self.ret and self.error is None:
            self.error = self._failure_message or error_text(-self.ret)

    def request_pause(self) -> None:
        """Take one pause reference; a job not parked is woken to reach a pause point."""
        self.pause_count += 1
        if not self.paused:
            self.wake()

    def release_pause(self) -> None:
        """Drop one pause reference; the last one wakes a parked job (not a timed sleep)."""
        if self.pause_count <= 0:
            raise AssertionError(f"job {self.id!r} has no pause reference to release")
        self.pause_count -= 1
        if self.pause_count == 0 and not self.sleeping:
            self.wake()

    def wake(self) -> None:
        """Re-enter the job's task if it is parked or sleeping; otherwise do nothing."""
        if self._wakeup is not None and not self._wakeup.done():
            self._wakeup.set_result(None)

    async def wait_until_woken(self, seconds: float | None = None) -> None:
        """Yield the job's task until :meth:`wake` or, if given, ``seconds`` have passed."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        timer = None
        if seconds is not None:
            timer = loop.call_later(seconds, _resolve, future)
            self.sleeping = True
        self._wakeup = future
        self.busy = False
        try:
            await future
        finally:
            self._wakeup = None
            self.busy = True
            self.sleeping = False
            if timer is not None:
                timer.cancel()


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
