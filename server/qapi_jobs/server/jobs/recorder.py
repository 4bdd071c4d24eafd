"""The one place where job state changes become events.

Both the manager and the drivers' contexts change jobs through a
:class:`JobRecorder`, so every status change is checked against the
transition table and published in the same step, and every visible change
bumps the change counter that progress watchers wait on.  With a durable
event log, each status change also stages the job's record, so that the
record and the event reach the store in the same commit.
"""

from __future__ import annotations

from qapi_jobs.server.jobs import events, info, records
from qapi_jobs.server.jobs.driver import IoOperation
from qapi_jobs.server.jobs.events import EventLog
from qapi_jobs.server.jobs.job import Job
from qapi_jobs.server.jobs.notify import ChangeCounter
from qapi_jobs.server.jobs.policy import BlockErrorAction
from qapi_jobs.server.jobs.status import JobStatus, check_transition


class JobRecorder:
    """Applies status changes and publishes the events that go with them."""

    def __init__(self, log: EventLog, changes: ChangeCounter) -> None:
        self.log = log
        self.changes = changes

    def transition(self, job: Job, status: JobStatus) -> None:
        """Move ``job`` to ``status`` and emit JOB_STATUS_CHANGE if it changed."""
        old = job.status
        check_transition(old, status)
        job.set_status(status)
        if old is not status:
            self.log.publish(events.JOB_STATUS_CHANGE, info.status_change_data(job))
            if old not in records.LIVE_STATES or status not in records.LIVE_STATES:
                self.save(job)
        self.changes.bump()

    def save(self, job: Job) -> None:
        """Stage the job's durable record (a NULL job's is deleted); no-op in memory."""
        if self.log.durable:
            record = None if job.status is JobStatus.NULL else records.record_of(job)
            self.log.stage_job(job.id, record)

    def changed(self) -> None:
        """Note a change that has no event (progress, speed, io-status)."""
        self.changes.bump()

    def ready(self, job: Job) -> None:
        """BLOCK_JOB_READY (block jobs only)."""
        if job.block:
            self.log.publish(events.BLOCK_JOB_READY, info.block_progress_data(job))

    def pending(self, job: Job) -> None:
        """BLOCK_JOB_PENDING (block jobs only)."""
        if job.block:
            self.log.publish(events.BLOCK_JOB_PENDING, info.block_pending_data(job))

    def completed(self, job: Job) -> None:
        """BLOCK_JOB_COMPLETED (block jobs only)."""
        if job.block:
            self.log.publish(events.BLOCK_JOB_COMPLETED, info.block_completed_data(job))

    def cancelled(self, job: Job) -> None:
        """BLOCK_JOB_CANCELLED (block jobs only)."""
        if job.block:
            self.log.publish(events.BLOCK_JOB_CANCELLED, info.block_progress_data(job))

    def io_error(self, job: Job, operation: IoOperation, action: BlockErrorAction) -> None:
        """BLOCK_JOB_ERROR (block jobs only)."""
        if job.block:
            self.log.publish(events.BLOCK_JOB_ERROR, info.block_error_data(job, operation, action))
