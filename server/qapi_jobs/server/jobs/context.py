"""The JobContext a driver receives: pause points, sleeps, rate limit, progress, errors.

Everything here runs in the job's own task on the manager's loop.  A pause
request, cancel, completion or speed change made by a command only sets
fields and wakes the task; the status changes that follow (PAUSED, STANDBY,
back to RUNNING/READY) happen here, when the driver reaches a pause point,
which is what makes QEMU's pauses lazy.
"""

from __future__ import annotations

import asyncio
import errno
from collections.abc import Callable
from typing import TypeVar

from qapi_jobs.server.jobs.driver import IoErrorDecision, IoOperation, JobCancelled, JobContext
from qapi_jobs.server.jobs.job import Job, error_text
from qapi_jobs.server.jobs.policy import (
    BlockErrorAction,
    IoStatus,
    error_action,
    stopped_io_status,
)
from qapi_jobs.server.jobs.recorder import JobRecorder
from qapi_jobs.server.jobs.status import JobStatus

PROGRESS_MAX = 2**63 - 1
"""QAPI's ``int``: a progress value past it would make the job unreadable for every client."""

_T = TypeVar("_T")


class ManagedJobContext(JobContext):
    """The manager's implementation of :class:`JobContext` for one job."""

    def __init__(self, job: Job, recorder: JobRecorder) -> None:
        self._job = job
        self._recorder = recorder

    @property
    def job_id(self) -> str:
        """The job's identifier."""
        return self._job.id

    @property
    def cancelled(self) -> bool:
        """True once any cancel (soft or hard) was requested."""
        return self._job.cancelled

    @property
    def completion_requested(self) -> bool:
        """True once job-complete was accepted."""
        return self._job.completion_requested

    @property
    def speed(self) -> int:
        """The job's speed limit in bytes per second; 0 for none."""
        return self._job.limiter.speed

    async def pause_point(self) -> None:
        """Park while a pause is requested; raise JobCancelled once hard-cancelled.

        Any wake-up ends the parking (resume to zero, or a cancel), as in
        QEMU: the job then shows its previous status again even if a pause
        reference is still held.
        """
        job = self._job
        if job.pause_count > 0 and not job.is_cancelled:
            previous = job.status
            parked = JobStatus.STANDBY if previous is JobStatus.READY else JobStatus.PAUSED
            self._recorder.transition(job, parked)
            job.paused = True
            try:
                await job.wait_until_woken()
            finally:
                job.paused = False
                self._recorder.transition(job, previous)
        if job.is_cancelled:
            raise JobCancelled

    async def sleep(self, seconds: float) -> None:
        """Sleep up to ``seconds``; wakes early on pause, cancel, complete or speed change."""
        job = self._job
        if job.is_cancelled:
            raise JobCancelled
        if job.pause_count == 0:
            await job.wait_until_woken(max(0.0, seconds))
        await self.pause_point()

    async def rate_limit(self, nbytes: int) -> None:
        """Wait until ``nbytes`` more may be copied at the job's speed, then account them.

        A speed change wakes the wait and the delay is recomputed; a soft
        cancel ends it at once so that a converging driver can stop.
        """
        job = self._job
        while True:
            await self.pause_point()
            delay = job.limiter.delay()
            if delay <= 0 or job.cancelled:
                job.limiter.account(nbytes)
                return
            await job.wait_until_woken(delay)

    def set_progress_total(self, total: int) -> None:
        """Set the amount of work in all (held to QAPI's ``int`` range, as every record must be)."""
        if total < 0:
            raise ValueError("progress total must not be negative")
        self._job.progress_total = min(total, PROGRESS_MAX)
        self._recorder.changed()

    def add_progress_total(self, delta: int) -> None:
        """Grow the amount of work."""
        if delta < 0:
            raise ValueError("progress total can only grow here; use set_progress_total")
        self._job.progress_total = min(self._job.progress_total + delta, PROGRESS_MAX)
        self._recorder.changed()

    def add_progress(self, done: int) -> None:
        """Record ``done`` more units of finished work."""
        if done < 0:
            raise ValueError("progress never decreases")
        self._job.progress_current = min(self._job.progress_current + done, PROGRESS_MAX)
        self._recorder.changed()

    async def ready(self) -> None:
        """RUNNING -> READY, then BLOCK_JOB_READY (once per job)."""
        job = self._job
        if job.status is JobStatus.RUNNING:
            self._recorder.transition(job, JobStatus.READY)
            self._recorder.ready(job)

    async def io_error(self, operation: IoOperation, error: OSError) -> IoErrorDecision:
        """Apply the job's error policy (read: on-source-error, write: on-target-error)."""
        job = self._job
        error_number = error.errno or errno.EIO
        if job.block:
            policy = job.on_target_error if operation is IoOperation.WRITE else job.on_source_error
            action = error_action(policy, error_number)
            if not job.is_cancelled:
                self._recorder.io_error(job, operation, action)
        else:
            action = BlockErrorAction.REPORT
        if action is BlockErrorAction.IGNORE:
            return IoErrorDecision.IGNORE
        if action is BlockErrorAction.REPORT:
            job.io_failure = (error_number, error_text(error_number))
            return IoErrorDecision.FAIL
        if not job.user_paused:
            job.user_paused = True
            job.request_pause()
        if job.iostatus is IoStatus.OK:
            job.iostatus = stopped_io_status(error_number)
        self._recorder.changed()
        await self.pause_point()
        return IoErrorDecision.RETRY

    async def run_blocking(self, fn: Callable[..., _T], *args: object) -> _T:
        """Run ``fn(*args)`` in a worker thread."""
        return await asyncio.to_thread(fn, *args)

    def files_changed(self) -> None:
        """Stage the job's record again: the files it created changed."""
        self._recorder.save(self._job)
