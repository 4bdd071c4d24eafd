"""The job manager: QEMU 7.2's job state machine behind an asyncio API.

Commands (``job_*``, ``block_job_*``) check their preconditions in QEMU's
order and raise :class:`~qapi_jobs.server.jobs.errors.JobError` with QEMU's
texts.  Every command, and the completion handling of every job, runs under
one lock: QEMU executes a command and a job's completion atomically under
its big lock, and the finalization hooks here are coroutines, so without
the lock a command could interleave with a half-finalized transaction.

Jobs run as tasks on the manager's loop.  When a driver's ``run`` returns,
its task marks the job *deferred* and then handles completion under the
lock (WAITING, PENDING, finalization, or ABORTING and the abort of the
whole transaction).  A transaction abort waits for the other members' runs
to end while it holds the lock, as QEMU's ``job_finish_sync`` does.

Left out on purpose (see docs/job-manager.md): the ``paused``/``running``
pair QEMU emits when a backup starts, and the one it emits at shutdown, both
caused by block-layer drains rather than by the job model.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import re
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from qapi_jobs.server.jobs import records as job_records
from qapi_jobs.server.jobs import refusals
from qapi_jobs.server.jobs.context import ManagedJobContext
from qapi_jobs.server.jobs.driver import JobCancelled, JobDriver, JobFailed
from qapi_jobs.server.jobs.errors import JobError
from qapi_jobs.server.jobs.events import (
    DEFAULT_MAX_LAG,
    DEFAULT_RETENTION,
    JOB_STATUS_CHANGE,
    EventJournal,
    EventLog,
    JournalError,
    Subscription,
)
from qapi_jobs.server.jobs.info import BlockJobInfo, JobInfo, Snapshot
from qapi_jobs.server.jobs.job import Job, JobSpec
from qapi_jobs.server.jobs.limits import JobLimits
from qapi_jobs.server.jobs.notify import ChangeCounter
from qapi_jobs.server.jobs.policy import IoStatus
from qapi_jobs.server.jobs.ratelimit import RateLimiter
from qapi_jobs.server.jobs.recorder import JobRecorder
from qapi_jobs.server.jobs.status import JobStatus, JobVerb, verb_allowed
from qapi_jobs.server.jobs.transaction import JobTxn

logger = logging.getLogger(__name__)

_CANCEL_GRACE = 1.0
"""Seconds a job task gets to honour asyncio cancellation at shutdown."""

_JOB_ID = re.compile(r"[A-Za-z][A-Za-z0-9._-]*")


@dataclass(frozen=True)
class AbortAction:
    """A transaction action that always fails (QMP's ``abort`` action)."""


@dataclass(frozen=True)
class RefusedAction:
    """A transaction action that could not be prepared; ``error`` says why.

    It refuses the group at its own place in the order: the jobs of the
    actions before it are created and then rolled back, as QEMU does when
    one action of a ``transaction`` fails.
    """

    error: JobError


GroupAction = JobSpec | AbortAction | RefusedAction
"""One action of :meth:`JobManager.start_group`."""


def valid_job_id(job_id: str) -> bool:
    """QEMU's rule: an ASCII letter, then letters, digits, ``-``, ``.`` and ``_``."""
    return _JOB_ID.fullmatch(job_id) is not None


class JobManager:
    """Creates jobs, applies verbs to them, and publishes their events."""

    def __init__(
        self,
        *,
        event_retention: int = DEFAULT_RETENTION,
        subscriber_max_lag: int = DEFAULT_MAX_LAG,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        instance_id: str | None = None,
        limits: JobLimits | None = None,
        journal: EventJournal | None = None,
        event_max_age: float | None = None,
    ) -> None:
        """``clock`` stamps events; ``monotonic`` drives the rate limiters.

        With a ``journal`` (the durable store) events and job records are
        written before anyone sees them, and :meth:`restore` brings back
        the jobs of a previous process.
        """
        self.limits = limits or JobLimits()
        self.events = EventLog(
            retention=event_retention,
            max_lag=subscriber_max_lag,
            clock=clock,
            instance_id=instance_id,
            journal=journal,
            max_age=event_max_age,
        )
        self._changes = ChangeCounter()
        self._recorder = JobRecorder(self.events, self._changes)
        self._monotonic = monotonic
        self._jobs: dict[str, Job] = {}
        self._lock = asyncio.Lock()
        self._closing = False
        self._deadline: float | None = None

    # ------------------------------------------------------------------ creation

    async def start(self, spec: JobSpec) -> JobInfo:
        """Create and start one job in its own transaction."""
        (started,) = await self.start_group([spec])
        return started

    async def start_group(
        self, actions: Sequence[GroupAction], *, grouped: bool = False
    ) -> list[JobInfo]:
        """Create every job, then start them all; all or nothing.

        The jobs are created in order (each emits ``created``); if one is
        refused, or an :class:`AbortAction` or :class:`RefusedAction` is
        reached, the jobs created before it are cancelled (``aborting``,
        ``concluded``, ``null``, newest first) and the refusal is raised —
        as QEMU's ``transaction`` does.  With ``grouped`` the jobs share one
        transaction (completion-mode ``grouped``), otherwise each has its own.
        """
        if self._closing:
            raise refusals.shutting_down()
        async with self._command():
            shared = JobTxn() if grouped else None
            created: list[Job] = []
            try:
                for action in actions:
                    created.append(await self._create(_spec_of(action), shared or JobTxn()))
            except Exception:
                for job in reversed(created):
                    if job.status is JobStatus.CREATED:
                        await self._cancel(job, force=True)
                raise
            for job in created:
                self._start(job)
            return [JobInfo.of(job) for job in created]

    async def _create(self, spec: JobSpec, txn: JobTxn) -> Job:
        """Create the job of ``spec`` in ``txn``, or refuse it (QEMU's order of checks).

        From the moment the precheck has passed the driver is owed exactly
        one ``clean()`` (see JobSpec): a refusal after that point cleans it
        here; a job that exists is cleaned when it is finalized.
        """
        # QEMU checks the job id before the nodes' permissions.
        self.limits.check_id(spec.job_id)
        if not valid_job_id(spec.job_id):
            raise refusals.invalid_job_id(spec.job_id, spec.job_id_from)
        if spec.job_id in self._jobs:
            raise refusals.job_id_in_use(spec.job_id)
        running = sum(1 for job in self._jobs.values() if not job.is_completed)
        self.limits.check_room(len(self._jobs), running)
        if spec.precheck is not None:
            spec.precheck()
        try:
            return self._new_job(spec, txn)
        except Exception:
            await self._clean(spec.job_id, spec.driver)
            raise

    def _new_job(self, spec: JobSpec, txn: JobTxn) -> Job:
        job = Job(spec, RateLimiter(clock=self._monotonic))
        self._jobs[job.id] = job
        txn.add(job)
        self._recorder.transition(job, JobStatus.CREATED)
        if job.block:
            if spec.speed < 0:
                self._dismiss(job)
                raise refusals.negative_speed(job.id)
            job.limiter.set_speed(spec.speed)
            job.speed = spec.speed
        return job

    def _start(self, job: Job) -> None:
        job.started = True
        job.release_pause()
        job.busy = True
        self._recorder.transition(job, JobStatus.RUNNING)
        job.task = asyncio.get_running_loop().create_task(self._run(job), name=f"job:{job.id}")

    async def _run(self, job: Job) -> None:
        try:
            # The record naming the files the job is about to create must be in the
            # store before the driver makes them: a restart removes only what it names.
            with contextlib.suppress(JournalError):
                await self.events.written()
            await job.driver.run(ManagedJobContext(job, self._recorder))
        except BaseException as exc:
            if not isinstance(exc, Exception | asyncio.CancelledError):
                raise
            if not job.run_done.is_set():
                self._record_run_exception(job, exc)
        if job.run_done.is_set():
            return  # shutdown gave up on this run and has already completed the job
        job.deferred = True
        job.busy = False
        job.run_done.set()
        async with self._lock:
            await self._job_completed(job)

    def _record_run_exception(self, job: Job, exc: BaseException) -> None:
        unexpected = not isinstance(exc, JobCancelled | JobFailed | asyncio.CancelledError)
        if unexpected:
            logger.error("job %r: driver raised an unexpected exception", job.id, exc_info=exc)
        if isinstance(exc, JobCancelled):
            if job.cancelled:
                job.force_cancel = True
            else:
                job.set_failure(errno.ECANCELED, None)
        elif isinstance(exc, asyncio.CancelledError):
            # Only shutdown cancels job tasks, after a hard cancel went unheeded.
            job.cancelled = job.force_cancel = True
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
        elif job.io_failure is not None:
            job.set_failure(*job.io_failure)
        elif unexpected:
            job.set_failure(errno.EIO, str(exc) or type(exc).__name__)
        else:
            job.set_failure(errno.EIO, str(exc) or None)

    # ------------------------------------------------------------ completion

    async def _job_completed(self, job: Job) -> None:
        if job.is_completed:
            return
        self._update_rc(job)
        if job.ret:
            await self._txn_abort(job)
        else:
            await self._txn_success(job)

    def _update_rc(self, job: Job) -> None:
        if job.ret == 0 and job.is_cancelled:
            job.set_failure(errno.ECANCELED, job.interrupt_message)
            job.interrupted = job.interrupt_message is not None
        if job.ret:
            job.publish_error()
            self._recorder.transition(job, JobStatus.ABORTING)

    async def _txn_success(self, job: Job) -> None:
        self._recorder.transition(job, JobStatus.WAITING)
        txn = _txn_of(job)
        if not txn.all_completed():
            return
        for member in txn.members:
            self._recorder.transition(member, JobStatus.PENDING)
            if not member.auto_finalize:
                self._recorder.pending(member)
        if not txn.needs_manual_finalize():
            await self._do_finalize(job)

    async def _do_finalize(self, job: Job) -> None:
        txn = _txn_of(job)
        for member in list(txn.members):
            if member.ret == 0:
                await self._prepare(member)
            if member.ret:
                await self._txn_abort(member)
                return
        for member in list(txn.members):
            await self._finalize_single(member)

    async def _prepare(self, job: Job) -> None:
        try:
            await job.driver.prepare()
        except JobFailed as exc:
            job.set_failure(errno.EIO, str(exc) or None)
        except Exception as exc:
            logger.exception("job %r: prepare raised an unexpected exception", job.id)
            job.set_failure(errno.EIO, str(exc) or type(exc).__name__)
        self._update_rc(job)

    async def _finalize_single(self, job: Job) -> None:
        self._update_rc(job)
        try:
            if job.ret == 0:
                await job.driver.commit()
            else:
                await job.driver.abort()
        except Exception:
            logger.exception("job %r: commit/abort hook failed", job.id)
        await self._clean(job.id, job.driver)
        if job.started:
            if job.is_cancelled:
                self._recorder.cancelled(job)
            else:
                self._recorder.completed(job)
        _txn_of(job).remove(job)
        self._recorder.transition(job, JobStatus.CONCLUDED)
        # A job the server stopped keeps its record and error until dismissed.
        if (job.auto_dismiss and not job.interrupted) or not job.started:
            self._dismiss(job)

    @staticmethod
    async def _clean(job_id: str, driver: JobDriver) -> None:
        # A failing clean hook must not stop the manager from finishing the job.
        try:
            await driver.clean()
        except Exception:
            logger.exception("job %r: clean hook failed", job_id)

    async def _txn_abort(self, trigger: Job) -> None:
        txn = _txn_of(trigger)
        if txn.aborting:
            return
        txn.aborting = True
        for member in txn.members:
            if member is not trigger:
                self._cancel_async(member, force=True)
        while txn.members:
            member = txn.members[0]
            if not member.is_completed:
                await self._finish_sync(member)
            await self._finalize_single(member)

    async def _finish_sync(self, job: Job) -> None:
        """Drive a cancelled member to the end of its run, then complete it."""
        if job.started:
            job.wake()
            await self._wait_run_done(job)
        await self._job_completed(job)

    async def _wait_run_done(self, job: Job) -> None:
        """Wait for the job's run to end; during shutdown only until the deadline.

        Past the deadline the task is cancelled, and if even that is not
        heeded the run is abandoned: the job is treated as cancelled and
        completed without it.
        """
        if self._deadline is None:
            await job.run_done.wait()
            return
        loop = asyncio.get_running_loop()
        if await _wait_event(job.run_done, self._deadline - loop.time()):
            return
        if job.task is not None:
            job.task.cancel()
        if await _wait_event(job.run_done, _CANCEL_GRACE):
            return
        logger.error("job %r ignored its cancellation at shutdown; abandoning its run", job.id)
        job.cancelled = job.force_cancel = True
        job.deferred = True
        job.busy = False
        job.run_done.set()

    def _dismiss(self, job: Job) -> None:
        if job.txn is not None:
            job.txn.remove(job)
        self._recorder.transition(job, JobStatus.NULL)
        del self._jobs[job.id]

    # ---------------------------------------------------------------- cancel

    def _cancel_async(self, job: Job, *, force: bool) -> None:
        # Only a converging job that is READY/STANDBY keeps a cancel soft.
        force = force or not (job.converging and job.is_ready)
        if job.user_paused:
            job.user_paused = False
            job.release_pause()
        if force or not job.deferred:
            job.cancelled = True
            job.force_cancel |= force

    async def _cancel(self, job: Job, *, force: bool) -> None:
        if job.status is JobStatus.CONCLUDED:
            self._dismiss(job)
            return
        self._cancel_async(job, force=force)
        if not job.started:
            await self._job_completed(job)
        elif job.deferred:
            if job.is_cancelled:
                await self._txn_abort(job)
        else:
            job.wake()

    # -------------------------------------------------------------- commands

    @contextlib.asynccontextmanager
    async def _command(self) -> AsyncIterator[None]:
        """Run a command under the lock; it returns once its events are written.

        The wait is outside the lock, so that the commands of one loop
        iteration share one commit.  A command fails (STATE_NOT_WRITABLE) if
        its events cannot be written.
        """
        async with self._lock:
            yield
        try:
            await self.events.written()
        except JournalError as exc:
            raise refusals.state_not_writable(str(exc)) from exc

    async def job_pause(self, job_id: str) -> None:
        """job-pause: request a user pause, honoured at the job's next pause point."""
        async with self._command():
            self._user_pause(self._find(job_id))

    async def block_job_pause(self, device: str) -> None:
        """block-job-pause: as :meth:`job_pause`, for block jobs only."""
        async with self._command():
            self._user_pause(self._find_block(device))

    async def job_resume(self, job_id: str) -> None:
        """job-resume: drop the user pause (and clear a block job's io-status)."""
        async with self._command():
            self._user_resume(self._find(job_id))

    async def block_job_resume(self, device: str) -> None:
        """block-job-resume: as :meth:`job_resume`, for block jobs only."""
        async with self._command():
            self._user_resume(self._find_block(device))

    async def job_cancel(self, job_id: str) -> None:
        """job-cancel: always a hard cancel."""
        async with self._command():
            job = self._find(job_id)
            self._check_verb(job, JobVerb.CANCEL)
            await self._cancel(job, force=True)

    async def block_job_cancel(self, device: str, force: bool = False) -> None:
        """block-job-cancel: soft unless ``force`` (soft only matters for READY mirrors)."""
        async with self._command():
            job = self._find_block(device)
            if job.user_paused and not force:
                raise refusals.currently_paused(job.id, job.status)
            self._check_verb(job, JobVerb.CANCEL)
            await self._cancel(job, force=force)

    async def job_complete(self, job_id: str) -> None:
        """job-complete: tell a READY/STANDBY converging job to finish."""
        async with self._command():
            self._complete(self._find(job_id))

    async def block_job_complete(self, device: str) -> None:
        """block-job-complete: as :meth:`job_complete`, for block jobs only."""
        async with self._command():
            self._complete(self._find_block(device))

    async def job_finalize(self, job_id: str) -> None:
        """job-finalize: finalize the whole transaction of a PENDING job."""
        async with self._command():
            job = self._find(job_id)
            self._check_verb(job, JobVerb.FINALIZE)
            await self._do_finalize(job)

    async def block_job_finalize(self, job_id: str) -> None:
        """block-job-finalize: as :meth:`job_finalize`, for block jobs only."""
        async with self._command():
            job = self._find_block(job_id)
            self._check_verb(job, JobVerb.FINALIZE)
            await self._do_finalize(job)

    async def job_dismiss(self, job_id: str) -> None:
        """job-dismiss: remove a CONCLUDED job (``null``)."""
        async with self._command():
            job = self._find(job_id)
            self._check_verb(job, JobVerb.DISMISS)
            self._dismiss(job)

    async def block_job_dismiss(self, job_id: str) -> None:
        """block-job-dismiss: as :meth:`job_dismiss`, for block jobs only."""
        async with self._command():
            job = self._find_block(job_id)
            self._check_verb(job, JobVerb.DISMISS)
            self._dismiss(job)

    async def block_job_set_speed(self, device: str, speed: int) -> None:
        """block-job-set-speed: change the limit (bytes/s, 0 = none); no event."""
        async with self._command():
            job = self._find_block(device)
            self._check_verb(job, JobVerb.SET_SPEED)
            if speed < 0:
                raise refusals.negative_speed(job.id)
            job.limiter.set_speed(speed)
            job.speed = speed
            self._recorder.changed()
            if job.sleeping:
                job.wake()

    def _user_pause(self, job: Job) -> None:
        self._check_verb(job, JobVerb.PAUSE)
        if job.user_paused:
            raise refusals.already_paused(job.id, job.status)
        job.user_paused = True
        job.request_pause()
        self._recorder.changed()

    def _user_resume(self, job: Job) -> None:
        if not job.user_paused or job.pause_count <= 0:
            raise refusals.not_paused(job.id, job.status)
        self._check_verb(job, JobVerb.RESUME)
        if job.block:
            job.iostatus = IoStatus.OK
        job.user_paused = False
        job.release_pause()
        self._recorder.changed()

    def _complete(self, job: Job) -> None:
        self._check_verb(job, JobVerb.COMPLETE)
        if job.cancelled or not job.converging:
            raise refusals.cannot_complete(job.id, job.status)
        try:
            job.driver.complete()
        except JobFailed as exc:
            raise refusals.complete_refused(job.id, job.status, str(exc)) from exc
        job.completion_requested = True
        if not job.paused:
            job.wake()

    @staticmethod
    def _check_verb(job: Job, verb: JobVerb) -> None:
        if not verb_allowed(verb, job.status):
            raise refusals.verb_not_allowed(job.id, job.status, verb)

    def _find(self, job_id: str) -> Job:
        job = self._jobs.get(job_id)
        if job is None:
            raise refusals.job_not_found(job_id)
        return job

    def _find_block(self, device: str) -> Job:
        job = self._jobs.get(device)
        if job is None:
            raise refusals.block_job_not_found(device)
        if not job.block:
            raise refusals.block_job_not_found(device, job.type.value)
        return job

    # --------------------------------------------------------------- queries

    def _newest_first(self) -> Iterator[Job]:
        return reversed(self._jobs.values())

    def query_jobs(self) -> list[JobInfo]:
        """query-jobs: every job that has not reached ``null``, newest first."""
        return [JobInfo.of(job) for job in self._newest_first()]

    def query_block_jobs(self) -> list[BlockJobInfo]:
        """query-block-jobs: the block jobs, newest first."""
        return [BlockJobInfo.of(job) for job in self._newest_first() if job.block]

    def job_info(self, job_id: str) -> JobInfo:
        """One job's JobInfo; raises ``Job not found``."""
        return JobInfo.of(self._find(job_id))

    def snapshot(self) -> Snapshot:
        """Every job now, with the sequence number of the last event reflected."""
        with contextlib.suppress(JournalError):
            self.events.flush()  # else the snapshot shows changes that have no event yet
        return Snapshot(
            instance_id=self.events.instance_id,
            last_seq=self.events.last_seq,
            change_version=self._changes.value,
            jobs=tuple(self.query_jobs()),
            block_jobs=tuple(self.query_block_jobs()),
        )

    def subscribe(
        self, after_seq: int | None = None, *, max_lag: int | None = None
    ) -> Subscription:
        """Events with ``seq > after_seq`` (None: from now on); see EventLog.subscribe."""
        return self.events.subscribe(after_seq, max_lag=max_lag)

    def snapshot_and_subscribe(
        self, *, max_lag: int | None = None
    ) -> tuple[Snapshot, Subscription]:
        """A snapshot and a subscription starting right after it: no gap, no overlap."""
        snapshot = self.snapshot()
        return snapshot, self.events.subscribe(snapshot.last_seq, max_lag=max_lag)

    def owner_of(self, job_id: str) -> str | None:
        """The opaque owner kept with ``job_id`` (see :data:`.job.CREATOR`); None: no such job."""
        job = self._jobs.get(job_id)
        return None if job is None else job.owner

    @property
    def instance_id(self) -> str:
        """The event log's identity: random per manager, or the durable store's."""
        return self.events.instance_id

    @property
    def change_version(self) -> int:
        """Increases whenever any job's visible state (status, progress, ...) changes."""
        return self._changes.value

    async def wait_for_change(self, after_version: int) -> int:
        """Wait until :attr:`change_version` exceeds ``after_version``; return it."""
        return await self._changes.wait_beyond(after_version)

    # --------------------------------------------------------------- restore

    async def restore(
        self,
        records: Sequence[Mapping[str, object]],
        *,
        remove_files: job_records.RemoveFiles | None = None,
    ) -> None:
        """Bring back the jobs of the records a previous process wrote, before serving.

        CONCLUDED and PENDING jobs come back as they were, owner included.
        A transaction with a job that was still running (the process was
        killed) is aborted as on cancel: its jobs conclude with the error
        :data:`~qapi_jobs.server.jobs.records.INTERRUPTED`, with the events
        that say so, and the files they created are handed to
        ``remove_files`` (the backend's; without one they are left alone).
        """
        transactions: dict[object, JobTxn] = {}
        interrupted: list[JobTxn] = []
        for data in records:
            job, key = job_records.restored_job(data, remove_files)
            self._jobs[job.id] = job
            if job.status is JobStatus.CONCLUDED:
                continue
            txn = transactions.setdefault(key if key is not None else job.id, JobTxn())
            txn.add(job)
            if job.status is not JobStatus.PENDING and txn not in interrupted:
                interrupted.append(txn)
        self._last_statuses([job for txn in interrupted for job in txn.members])
        async with self._command():
            for txn in interrupted:
                for member in txn.members:
                    # A parked job leaves its pause point before it aborts.
                    if member.status is JobStatus.PAUSED:
                        self._recorder.transition(member, JobStatus.RUNNING)
                    elif member.status is JobStatus.STANDBY:
                        self._recorder.transition(member, JobStatus.READY)
                    member.interrupt_message = job_records.INTERRUPTED
                    member.cancelled = member.force_cancel = True
                await self._txn_abort(txn.members[0])

    def _last_statuses(self, jobs: Sequence[Job]) -> None:
        """Give running jobs the status their last event names.

        A record is not rewritten when a running job only pauses, resumes,
        goes ready or standby (see JobRecorder); the event log knows which
        of these it was in last.
        """
        live = {job.id: job for job in jobs if job.status in job_records.LIVE_STATES}
        for record in self.events.newest_first():
            if not live:
                return
            if record.name == JOB_STATUS_CHANGE:
                job = live.pop(str(record.data["id"]), None)
                if job is not None:
                    job.set_status(JobStatus(record.data["status"]))

    # -------------------------------------------------------------- shutdown

    async def shutdown(self, grace: float = 10.0) -> None:
        """Cancel every job as QEMU does on quit, newest first, and wait for each.

        A CONCLUDED job is dismissed; any other job is hard-cancelled,
        waited for and then dismissed even without auto-dismiss.  A driver
        that ignores the cancel past ``grace`` seconds has its task cancelled; one
        that ignores even that is abandoned (logged) and its job completed
        as cancelled.  Afterwards new jobs are refused and event
        subscriptions end once drained.
        """
        self._closing = True
        self._deadline = asyncio.get_running_loop().time() + grace
        if self.events.durable:
            await self._stop_jobs()
            return
        while self._jobs:
            job = next(self._newest_first())
            async with self._lock:
                if self._jobs.get(job.id) is job:
                    await self._cancel(job, force=True)
            if self._jobs.get(job.id) is job and not job.is_completed:
                await self._wait_run_done(job)
                # The job's task completes it under the lock; queue behind it.
                async with self._lock:
                    pass
        self.events.close()

    async def _stop_jobs(self) -> None:
        """Shutdown with a durable store: stop what runs, keep every record.

        Running jobs are cancelled (their created files removed) and end
        CONCLUDED with the error INTERRUPTED; PENDING and CONCLUDED jobs
        stay as they are, for the next process.
        """
        for job in self._jobs.values():
            job.interrupt_message = job_records.INTERRUPTED
        for job in list(self._newest_first()):
            if self._jobs.get(job.id) is not job or job.is_completed:
                continue
            async with self._lock:
                if self._jobs.get(job.id) is job and not job.is_completed:
                    await self._cancel(job, force=True)
            if self._jobs.get(job.id) is job and not job.run_done.is_set():
                await self._wait_run_done(job)
            async with self._lock:
                pass  # the job's task completes it under the lock; queue behind it
        async with self._lock:
            pass  # and a transaction that was finalizing
        try:
            self.events.flush()
        except JournalError:
            logger.error("the last events could not be written before the shutdown")
        self.events.close()


def _spec_of(action: GroupAction) -> JobSpec:
    """The spec of an action that creates a job; raise the refusal of any other action."""
    if isinstance(action, AbortAction):
        raise refusals.transaction_aborted()
    if isinstance(action, RefusedAction):
        raise action.error
    return action


def _txn_of(job: Job) -> JobTxn:
    if job.txn is None:
        raise AssertionError(f"job {job.id!r} has already left its transaction")
    return job.txn


async def _wait_event(event: asyncio.Event, seconds: float) -> bool:
    try:
        await asyncio.wait_for(event.wait(), max(0.0, seconds))
    except TimeoutError:
        return False
    return True
