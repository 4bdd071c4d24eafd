"""QemuJobs: jobs that qemu-storage-daemon runs, mirrored into the project's event log.

QEMU is the state machine.  Verbs are forwarded over QMP and answered
with QEMU's own texts; QEMU's JOB_STATUS_CHANGE and BLOCK_JOB_* events for
the engine's jobs are published to an :class:`EventLog` in the order QEMU
sends them, drain ``paused``/``running`` pairs included.  The engine keeps
a table of its jobs, updated by those events (status) and by polling
while jobs are live (progress: QMP has no progress events), so snapshots
are synchronous and consistent with the event log.

Every job is started with ``auto-dismiss: false``.  When QEMU reports
``concluded`` the engine holds the event back, closes the job's nodes,
removes the files it created if the job went through ``aborting``, then
publishes ``concluded`` and, if the client asked for auto-dismiss, sends
``job-dismiss`` itself.  A client that sees ``concluded`` thus finds the
files already in their final state, and an outcome reached while nobody
listens is kept until dismissed.

If the daemon dies, every job concludes with a synthetic error, created
files are removed, and the daemon is restarted with backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import re
import time
from collections import deque
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any, Final

from qapi_jobs.server.engines.base import EngineHealth
from qapi_jobs.server.engines.builtin.paths import DataDir
from qapi_jobs.server.engines.qemu.errors import job_error, unavailable
from qapi_jobs.server.engines.qemu.graph import NodeNames
from qapi_jobs.server.engines.qemu.journal import Journal, Record, added, dropped
from qapi_jobs.server.engines.qemu.journal import append as append_journal
from qapi_jobs.server.engines.qemu.journal import load as load_journal
from qapi_jobs.server.engines.qemu.journal import save as save_journal
from qapi_jobs.server.engines.qemu.paths import ImageRoot
from qapi_jobs.server.engines.qemu.process import (
    UNKNOWN_STATUS,
    DaemonError,
    ServiceLock,
    StorageDaemon,
)
from qapi_jobs.server.engines.qemu.qmp import (
    DEFAULT_TIMEOUT,
    JsonObject,
    QmpClient,
    QmpError,
    QmpUnavailable,
)
from qapi_jobs.server.engines.qemu.recipes import RECIPES, Kitchen, Launch
from qapi_jobs.server.engines.qemu.tracked import TrackedJob
from qapi_jobs.server.jobs import events as ev
from qapi_jobs.server.jobs import refusals
from qapi_jobs.server.jobs.errors import ErrorKind, JobError
from qapi_jobs.server.jobs.events import DEFAULT_MAX_LAG, DEFAULT_RETENTION, EventLog, Subscription
from qapi_jobs.server.jobs.info import BlockJobInfo, JobInfo, Snapshot
from qapi_jobs.server.jobs.job import CREATOR
from qapi_jobs.server.jobs.limits import JobLimits
from qapi_jobs.server.jobs.notify import ChangeCounter
from qapi_jobs.server.jobs.status import COMPLETED_STATES, JobStatus, JobVerb

logger = logging.getLogger(__name__)

POLL_INTERVAL: Final = 0.2
"""Seconds between progress polls while jobs are live (5 per second)."""
NODE_BUSY: Final = re.compile(r"^Node '[^']*' is busy: |^Block device \S+ is in use$")
"""QEMU's texts for a node that a job (not yet dismissed) still uses."""
ERROR_WINDOW: Final = 1.0
"""Seconds in which a job publishes at most one BLOCK_JOB_ERROR of each kind."""
JOURNAL_COMPACT_AFTER: Final = 500
"""Records appended to the journal before it is rewritten whole."""
LIVENESS_GRACE: Final = 1.0
"""Seconds a daemon whose connection broke gets to exit before it counts as alive."""
_ABORT: Final = "abort"
_ACTIONS: Final = frozenset({"drive-backup"})
"""Transaction actions the engine runs (each becomes its recipe's QMP command)."""
_RESTART_BACKOFF: Final = (0.1, 0.5, 1.0, 2.0, 5.0)
_LIVE: Final = frozenset(
    {JobStatus.CREATED, JobStatus.RUNNING, JobStatus.PAUSED, JobStatus.READY, JobStatus.STANDBY}
)
_BLOCK_EVENTS: Final = frozenset(
    {
        ev.BLOCK_JOB_READY,
        ev.BLOCK_JOB_PENDING,
        ev.BLOCK_JOB_COMPLETED,
        ev.BLOCK_JOB_CANCELLED,
        ev.BLOCK_JOB_ERROR,
    }
)


class QemuJobs:
    """The job backend that runs every job in one qemu-storage-daemon it owns."""

    def __init__(
        self,
        daemon: StorageDaemon,
        data_dir: DataDir,
        *,
        event_retention: int = DEFAULT_RETENTION,
        subscriber_max_lag: int = DEFAULT_MAX_LAG,
        clock: Callable[[], float] = time.time,
        instance_id: str | None = None,
        poll_interval: float = POLL_INTERVAL,
        command_timeout: float = DEFAULT_TIMEOUT,
        error_window: float = ERROR_WINDOW,
        monotonic: Callable[[], float] = time.monotonic,
        keep_daemon: bool = False,
        limits: JobLimits | None = None,
    ) -> None:
        """``command_timeout`` bounds each verb: past it the daemon counts as unavailable.

        ``error_window``: a job publishes at most one BLOCK_JOB_ERROR of each
        kind (operation, action) in that many seconds.  ``keep_daemon``: at
        shutdown leave the daemon and its jobs running, for the next server
        on this data directory to take over.  ``limits``: how many jobs may
        exist and run at once (QEMU has no such limits).
        """
        self.events = EventLog(
            retention=event_retention,
            max_lag=subscriber_max_lag,
            clock=clock,
            instance_id=instance_id,
        )
        self.daemon = daemon
        self.data_dir = data_dir
        self._images = ImageRoot(data_dir)
        self.poll_interval = poll_interval
        self.command_timeout = command_timeout
        self.error_window = error_window
        self._monotonic = monotonic
        self._changes = ChangeCounter()
        self._names = NodeNames()
        self._jobs: dict[str, TrackedJob] = {}
        self._lock = asyncio.Lock()
        self._qmp: QmpClient | None = None
        self._closing = False
        self._tasks: set[asyncio.Task[None]] = set()
        # (job, event name, data, synthetic): synthetic events are the engine's, not QEMU's.
        self._queue: deque[tuple[TrackedJob, str, Mapping[str, object], bool]] = deque()
        self._cleanup: asyncio.Task[None] | None = None
        self._idle = asyncio.Event()
        self._idle.set()
        self._live = asyncio.Event()
        self._poller: asyncio.Task[None] | None = None
        self._service_lock = ServiceLock(daemon.run_dir)
        self.keep_daemon = keep_daemon
        self.limits = limits or JobLimits()
        self._reconciling = False
        self._journal_lock = asyncio.Lock()
        self._journal_records: list[Record] = []
        self._journal_written: asyncio.Future[None] | None = None
        self._journal_appended = 0
        self._journal_writer: asyncio.Task[None] | None = None
        self.restarts = 0
        """How many times the daemon was restarted after it died."""

    async def open(self) -> None:
        """Take the data directory's service lock, then take over or start the daemon.

        A daemon that an earlier server left running is adopted: its jobs
        are rebuilt from QEMU and the journal (see :meth:`_reconcile`).
        """
        await asyncio.to_thread(self._service_lock.acquire)
        try:
            pid = await asyncio.to_thread(self.daemon.live_pid)
            if pid is None:
                self._qmp = await self.daemon.start(
                    on_event=self._on_event, on_close=self._on_close
                )
                await self._write_journal()  # whatever an earlier daemon ran is gone
            else:
                await self._adopt(pid)
        except BaseException:
            self._service_lock.release()
            raise
        self._poller = asyncio.get_running_loop().create_task(self._poll(), name="qemu-poll")

    async def _adopt(self, pid: int) -> None:
        journal = await asyncio.to_thread(load_journal, self.daemon.run_dir)
        self._names = NodeNames(journal.next_node)
        # Events for these jobs wait in the queue until QEMU's view of them is in.
        self._reconciling = True
        self._idle.clear()
        for launch in journal.launches:
            self._jobs[launch.job_id] = TrackedJob(launch)
        self._qmp = await self.daemon.adopt(pid, on_event=self._on_event, on_close=self._on_close)
        try:
            await self._reconcile(self._qmp)
        finally:
            self._reconciling = False
            self._drain()
        await self._caught_up()  # outcomes reached while no server listened are settled
        logger.info("took over qemu-storage-daemon", extra={"pid": pid, "jobs": len(self._jobs)})

    async def _reconcile(self, qmp: QmpClient) -> None:
        """Give each journaled job QEMU's status; conclude the ones QEMU lost; drop stray nodes.

        Jobs QEMU concluded while no server listened settle now (nodes
        closed, files undone, ``concluded`` published, auto-dismiss); jobs
        the journal does not know are someone else's and left alone.
        """
        current = {entry["id"]: entry for entry in await qmp.execute("query-jobs")}
        blocks = {entry["device"]: entry for entry in await qmp.execute("query-block-jobs")}
        owned: set[str] = set()
        for job in list(self._jobs.values()):
            owned.update(job.launch.nodes.added)
            if job.lost:
                continue
            if job.status is JobStatus.CONCLUDED:
                # Its outcome is published; QEMU may have dismissed it since (a lost 'null').
                if job.id not in current:
                    self._queue.append(
                        (job, ev.JOB_STATUS_CHANGE, {"id": job.id, "status": "null"}, True)
                    )
                continue
            entry = current.get(job.id)
            if entry is None:
                job.status = JobStatus.RUNNING
                # Its outcome is unknown: keep the files it made, close what it left open.
                job.launch.created.clear()
                with contextlib.suppress(QmpError):
                    await job.launch.nodes.close(qmp)
                await self._conclude_lost(job, "qemu-storage-daemon no longer knows this job")
                continue
            job.progress = (entry["current-progress"], entry["total-progress"])
            job.error = entry.get("error")
            job.block = blocks.get(job.id, {})
            status = JobStatus(entry["status"])
            job.aborted = status is JobStatus.ABORTING or job.error is not None
            known = job.status is not JobStatus.UNDEFINED
            if status is JobStatus.CONCLUDED:
                # Published through the usual path, so that it settles.
                if not known:
                    job.status = JobStatus.ABORTING if job.aborted else JobStatus.PENDING
                job.concluding = True
                self._queue.appendleft(
                    (job, ev.JOB_STATUS_CHANGE, {"id": job.id, "status": "concluded"}, True)
                )
            elif known and status is not job.status:
                self._apply(
                    job,
                    ev.JOB_STATUS_CHANGE,
                    {"id": job.id, "status": status.value},
                    synthetic=True,
                )
            else:
                job.status = status
        for node in await qmp.execute("query-named-block-nodes"):
            name = str(node.get("node-name", ""))
            if name.startswith("qj") and name not in owned:
                with contextlib.suppress(QmpError):
                    await qmp.execute("blockdev-del", {"node-name": name})
        self._live.set()
        self._changes.bump()

    def _journal_soon(self, record: Record) -> asyncio.Future[None]:
        """Have ``record`` appended in the background; return when it is written.

        Records that come while a write is under way share the next one.
        """
        self._journal_records.append(record)
        if self._journal_written is None:
            self._journal_written = asyncio.get_running_loop().create_future()
        if self._journal_writer is None:
            self._journal_writer = asyncio.get_running_loop().create_task(
                self._journal_loop(), name="journal"
            )
            self._tasks.add(self._journal_writer)
            self._journal_writer.add_done_callback(self._tasks.discard)
        return self._journal_written

    async def _journal_loop(self) -> None:
        try:
            while self._journal_records:
                records, self._journal_records = self._journal_records, []
                written, self._journal_written = self._journal_written, None
                try:
                    if self._journal_appended + len(records) > JOURNAL_COMPACT_AFTER:
                        await self._write_journal()  # the table has what the records say
                    else:
                        async with self._journal_lock:
                            await asyncio.to_thread(append_journal, self.daemon.run_dir, records)
                        self._journal_appended += len(records)
                except OSError:
                    logger.exception("writing the journal failed")
                finally:
                    if written is not None and not written.done():
                        written.set_result(None)
        finally:
            self._journal_writer = None
            if self._journal_written is not None and not self._journal_written.done():
                self._journal_written.set_result(None)  # cancelled at shutdown: nobody waits

    async def _write_journal(self) -> None:
        """Save what the next server would need to take over (in the order of the table)."""
        journal = Journal(
            tuple(job.launch for job in self._jobs.values() if not job.gone.is_set()),
            self._names.upcoming,
        )
        async with self._journal_lock:
            await asyncio.to_thread(save_journal, self.daemon.run_dir, journal)
            self._journal_appended = 0

    name = "qemu"
    """The engine's name, as metrics label it."""

    def health(self) -> EngineHealth:
        """Up while the daemon answers; restarts after it died."""
        return EngineHealth(up=self.healthy, restarts=self.restarts)

    @property
    def healthy(self) -> bool:
        """True while the daemon is connected and answering."""
        return self._qmp is not None and self._qmp.connected and not self._closing

    def _connection(self) -> QmpClient:
        if self._qmp is None or not self._qmp.connected:
            raise JobError(
                ErrorKind.UNAVAILABLE,
                "qemu-storage-daemon is not available; it is being restarted",
                reason="QEMU_UNAVAILABLE",
                hint="Retry the request in a few seconds.",
            )
        return self._qmp

    # ------------------------------------------------------------ creation

    @property
    def commands(self) -> frozenset[str]:
        """The job-creating commands this backend runs."""
        return frozenset(RECIPES)

    async def start_job(self, command: str, arguments: Mapping[str, Any]) -> JobInfo:
        """Check, set up and start one job; return it as query-jobs shows it."""
        recipe = RECIPES.get(command)
        if recipe is None:
            raise JobError(
                ErrorKind.UNSUPPORTED,
                f"The qemu engine does not run '{command}' yet",
                reason="UNSUPPORTED_COMMAND",
            )
        if self._closing:
            raise refusals.shutting_down()
        job_id = arguments.get("job-id", arguments.get("device"))
        async with self._lock:
            self._check_room([job_id])
            qmp = self._connection()
            try:
                launch = await recipe(
                    Kitchen(qmp, self._images, self._names, self.daemon.run_dir), arguments
                )
            except QmpUnavailable as error:
                raise unavailable(error) from None
            job = self._register(launch)
            try:
                await qmp.execute(launch.command, launch.arguments, within=self.command_timeout)
            except (QmpError, QmpUnavailable) as error:
                await self._roll_back(qmp, [job])
                if isinstance(error, QmpError):
                    raise job_error(error, launch.nodes.names) from None
                raise unavailable(error) from None
            self._live.set()
            written = self._journal_soon(added(launch, self._names.upcoming))
        # Outside the lock: starts in flight share journal writes.
        await self._caught_up()
        await written
        return job.info()

    async def start_transaction(
        self, actions: Sequence[tuple[str, Mapping[str, Any]]], *, grouped: bool = False
    ) -> list[JobInfo]:
        """Start drive-backup actions as one QMP ``transaction``; all or nothing.

        Each action is set up in order.  An ``abort`` action, or an action
        that cannot be set up, ends the list there: the actions before it
        go to QEMU followed by QEMU's own abort action, so that QEMU
        creates and rolls back their jobs with its own events, and the
        refusal is raised.
        """
        if self._closing:
            raise refusals.shutting_down()
        async with self._lock:
            qmp = self._connection()
            launches: list[Launch] = []
            refusal: JobError | None = None
            for kind, data in actions:
                if kind == _ABORT:
                    refusal = refusals.transaction_aborted()
                    break
                try:
                    launches.append(await self._transaction_action(qmp, launches, kind, data))
                except JobError as error:
                    refusal = error
                    break
                except QmpUnavailable as error:
                    await self._undo_all(qmp, launches)
                    raise unavailable(error) from None
            if refusal is not None and not launches:
                raise refusal
            steps: list[JsonObject] = [
                {"type": launch.command, "data": launch.arguments} for launch in launches
            ]
            if refusal is not None:
                steps.append({"type": "abort", "data": {}})
            arguments: JsonObject = {"actions": steps}
            if grouped:
                arguments["properties"] = {"completion-mode": "grouped"}
            registered = [self._register(launch) for launch in launches]
            try:
                await qmp.execute("transaction", arguments, within=self.command_timeout)
            except (QmpError, QmpUnavailable) as error:
                await self._roll_back(qmp, registered)
                if refusal is not None:
                    raise refusal from None
                if isinstance(error, QmpError):
                    names = {k: v for job in registered for k, v in job.launch.nodes.names.items()}
                    raise job_error(error, names) from None
                raise unavailable(error) from None
            self._live.set()
            for job in registered:
                written = self._journal_soon(added(job.launch, self._names.upcoming))
        await self._caught_up()
        await written
        return [job.info() for job in registered]

    async def _transaction_action(
        self, qmp: QmpClient, earlier: list[Launch], kind: str, data: Mapping[str, Any]
    ) -> Launch:
        if kind not in _ACTIONS:
            raise JobError(
                ErrorKind.UNSUPPORTED,
                f"Transaction action '{kind}' is not supported",
                reason="UNSUPPORTED_ACTION",
            )
        self._check_room([data.get("job-id", data.get("device"))], earlier)
        try:
            return await RECIPES[kind](
                Kitchen(qmp, self._images, self._names, self.daemon.run_dir), data
            )
        except JobError:
            raise
        except QmpError as error:
            raise job_error(error) from None

    async def _caught_up(self) -> None:
        """Wait until the events QEMU sent so far are published (a cleanup may hold them)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), self.command_timeout)

    def _check_room(self, job_ids: list[object], earlier: Sequence[Launch] = ()) -> None:
        """Refuse a job whose id is taken or too long, or one job more than the limits allow.

        ``earlier``: the jobs of the same transaction set up before it.
        """
        for job_id in job_ids:
            if isinstance(job_id, str):
                self.limits.check_id(job_id)
                if job_id in self._jobs or any(launch.job_id == job_id for launch in earlier):
                    raise refusals.job_id_in_use(job_id)
        jobs = len(self._jobs) + len(earlier)
        running = sum(1 for job in self._jobs.values() if job.status not in COMPLETED_STATES)
        running += len(earlier)
        self.limits.check_room(jobs, running)

    def _register(self, launch: Launch) -> TrackedJob:
        # QEMU sends a new job's first events before its reply: know the id first.
        launch.owner = CREATOR.get()
        job = TrackedJob(launch)
        self._jobs[launch.job_id] = job
        return job

    async def _roll_back(self, qmp: QmpClient, registered: list[TrackedJob]) -> None:
        """After a refused start: forget jobs QEMU never created, let the others settle."""
        for job in registered:
            if job.status is JobStatus.UNDEFINED:
                if self._jobs.get(job.id) is job:
                    del self._jobs[job.id]
                job.gone.set()
                with contextlib.suppress(QmpError, QmpUnavailable):
                    await job.launch.undo(qmp, remove_files=True)
        for job in registered:
            # QEMU created and dropped these itself (created ... null): wait for their events.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(job.gone.wait(), self.command_timeout)
            with contextlib.suppress(QmpError, QmpUnavailable):
                await job.launch.undo(qmp, remove_files=True)

    @staticmethod
    async def _undo_all(qmp: QmpClient, launches: list[Launch]) -> None:
        for launch in reversed(launches):
            with contextlib.suppress(QmpError, QmpUnavailable):
                await launch.undo(qmp, remove_files=True)

    # -------------------------------------------------------------- events

    def _on_event(self, message: JsonObject) -> None:
        name = str(message.get("event"))
        data: Mapping[str, object] = message.get("data") or {}
        if name != ev.JOB_STATUS_CHANGE and name not in _BLOCK_EVENTS:
            return
        job = self._jobs.get(str(data.get("id", data.get("device"))))
        if job is None:
            return  # not one of ours
        if name == ev.BLOCK_JOB_ERROR and self._coalesce(job, data):
            return
        if name == ev.JOB_STATUS_CHANGE and data.get("status") == JobStatus.CONCLUDED.value:
            job.concluding = True
        self._queue.append((job, name, data, False))
        self._drain()

    def _coalesce(self, job: TrackedJob, data: Mapping[str, object]) -> bool:
        """Whether to leave out this BLOCK_JOB_ERROR: one of its kind was published just now.

        A job that meets a persistent error under ``ignore`` retries at
        once, and QEMU reports every retry (hundreds per second); without
        this the event log would hold nothing else.
        """
        kind = (data.get("operation"), data.get("action"))
        now = self._monotonic()
        last = job.error_events.get(kind)
        if last is not None and now - last < self.error_window:
            job.errors_coalesced += 1
            return True
        job.error_events[kind] = now
        return False

    def _drain(self) -> None:
        """Publish queued events in QEMU's order; a job's cleanup pauses the queue.

        A job's ``concluded`` waits until its nodes are closed and its
        files undone, and a dismissed job's ``null`` until the nodes it
        kept are closed; every later event, of any job, waits behind it.
        """
        while self._queue and self._cleanup is None and not self._reconciling:
            job, name, data, synthetic = self._queue.popleft()
            status = data.get("status") if name == ev.JOB_STATUS_CHANGE else None
            if status == JobStatus.CONCLUDED.value:
                self._start_cleanup(self._settle(job, data, synthetic), f"settle:{job.id}")
            elif status == JobStatus.NULL.value and job.launch.nodes.open:
                self._start_cleanup(self._release(job, data, synthetic), f"release:{job.id}")
            else:
                self._apply(job, name, data, synthetic=synthetic)
        if not self._queue and self._cleanup is None and not self._reconciling:
            self._idle.set()

    def _start_cleanup(self, coroutine: Coroutine[Any, Any, None], name: str) -> None:
        self._idle.clear()
        self._cleanup = asyncio.get_running_loop().create_task(coroutine, name=name)
        self._cleanup.add_done_callback(self._cleanup_done)

    def _cleanup_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            logger.error("job cleanup failed", exc_info=task.exception())
        self._cleanup = None
        self._drain()

    def _apply(
        self, job: TrackedJob, name: str, data: Mapping[str, object], *, synthetic: bool = False
    ) -> None:
        """Update the table from one event and publish it (``synthetic``: not sent by QEMU)."""
        if name == ev.JOB_STATUS_CHANGE:
            job.status = JobStatus(str(data["status"]))
            job.aborted |= job.status is JobStatus.ABORTING
        elif "len" in data:
            job.progress = (int(str(data["offset"])), int(str(data["len"])))
            if name == ev.BLOCK_JOB_COMPLETED and "error" in data:
                job.error = str(data["error"])
        self.events.publish(name, data, synthetic=synthetic)
        if job.status is JobStatus.NULL and self._jobs.get(job.id) is job:
            del self._jobs[job.id]
            job.gone.set()
            self._journal_soon(dropped(job.id, self._names.upcoming))
        self._changes.bump()

    async def _settle(self, job: TrackedJob, event: Mapping[str, object], synthetic: bool) -> None:
        """Close nodes and undo files of a CONCLUDED job, then publish ``concluded``.

        Stream and commit jobs keep their device node busy until they are
        dismissed; what stays open then is closed by :meth:`_release`.
        """
        qmp = self._qmp
        # A block job's BLOCK_JOB_COMPLETED/CANCELLED carried its error and progress already.
        with contextlib.suppress(QmpError, QmpUnavailable):
            if qmp is not None and not (job.launch.block and (job.error or not job.aborted)):
                for entry in await qmp.execute("query-jobs"):
                    if entry["id"] == job.id:
                        job.error = entry.get("error", job.error)
                        job.progress = (entry["current-progress"], entry["total-progress"])
        await self._close_nodes(job, qmp)
        await job.launch.undo(None, remove_files=job.aborted)
        self._apply(job, ev.JOB_STATUS_CHANGE, event, synthetic=synthetic)
        job.concluding = False
        job.settled.set()
        if job.launch.auto_dismiss or self._closing:
            self._spawn(self._dismiss(job), f"dismiss:{job.id}")

    async def _dismiss(self, job: TrackedJob) -> None:
        """The service side of auto-dismiss (QEMU runs every job without it)."""
        qmp = self._qmp
        with contextlib.suppress(QmpError, QmpUnavailable):
            if qmp is not None and job.status is JobStatus.CONCLUDED and not job.lost:
                await qmp.execute("job-dismiss", {"id": job.id})

    async def _release(self, job: TrackedJob, event: Mapping[str, object], synthetic: bool) -> None:
        """Close what a dismissed job still held open, then publish ``null``."""
        await self._close_nodes(job, self._qmp)
        self._apply(job, ev.JOB_STATUS_CHANGE, event, synthetic=synthetic)

    @staticmethod
    async def _close_nodes(job: TrackedJob, qmp: QmpClient | None) -> None:
        if qmp is None:
            return
        try:
            await job.launch.nodes.close(qmp)
        except QmpUnavailable:
            job.launch.nodes.forget()  # the daemon is gone, and its nodes with it
        except QmpError as error:
            if not NODE_BUSY.search(error.desc):
                logger.error("job %r: closing its nodes failed: %s", job.id, error.desc)

    def _spawn(self, coroutine: Any, name: str) -> None:
        task = asyncio.get_running_loop().create_task(coroutine, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------ progress

    async def _poll(self) -> None:
        """Refresh progress of live jobs a few times a second; idle when none runs."""
        while True:
            await self._live.wait()
            if not any(job.status in _LIVE for job in self._jobs.values()):
                self._live.clear()
                continue
            qmp = self._qmp
            if qmp is not None and qmp.connected:
                with contextlib.suppress(QmpError, QmpUnavailable):
                    self._refresh(await qmp.execute("query-block-jobs"))
            await asyncio.sleep(self.poll_interval)

    def _refresh(self, block_jobs: list[JsonObject]) -> None:
        changed = False
        for entry in block_jobs:
            job = self._jobs.get(str(entry.get("device")))
            if job is None or job.concluding:
                continue
            progress = (int(entry["offset"]), int(entry["len"]))
            changed |= progress != job.progress or entry != job.block
            job.progress, job.block = progress, entry
        if changed:
            self._changes.bump()

    # --------------------------------------------------------------- verbs

    async def _verb(self, job_id: str, command: str, arguments: JsonObject, *, block: bool) -> None:
        job = self._jobs.get(job_id)
        if job is None or (block and not job.launch.block):
            raise refusals.block_job_not_found(job_id) if block else refusals.job_not_found(job_id)
        if job.concluding:
            await job.settled.wait()
        if job.lost:
            self._lost_verb(job, command)
            return
        try:
            await self._connection().execute(command, arguments, within=self.command_timeout)
        except QmpError as error:
            raise job_error(error, job.launch.nodes.names) from None
        except QmpUnavailable as error:
            raise unavailable(error) from None
        self._changes.bump()

    def _lost_verb(self, job: TrackedJob, command: str) -> None:
        """A verb on a job its dead daemon left CONCLUDED: only dismiss works, here."""
        verb = JobVerb(command.split("-", 2)[-1])
        if verb is not JobVerb.DISMISS:
            raise refusals.verb_not_allowed(job.id, job.status, verb)
        self._apply(job, ev.JOB_STATUS_CHANGE, {"id": job.id, "status": "null"}, synthetic=True)

    async def job_pause(self, job_id: str) -> None:
        """job-pause, by QEMU."""
        await self._verb(job_id, "job-pause", {"id": job_id}, block=False)

    async def job_resume(self, job_id: str) -> None:
        """job-resume, by QEMU."""
        await self._verb(job_id, "job-resume", {"id": job_id}, block=False)

    async def job_cancel(self, job_id: str) -> None:
        """job-cancel, by QEMU."""
        await self._verb(job_id, "job-cancel", {"id": job_id}, block=False)

    async def job_complete(self, job_id: str) -> None:
        """job-complete, by QEMU."""
        await self._verb(job_id, "job-complete", {"id": job_id}, block=False)

    async def job_finalize(self, job_id: str) -> None:
        """job-finalize, by QEMU."""
        await self._verb(job_id, "job-finalize", {"id": job_id}, block=False)

    async def job_dismiss(self, job_id: str) -> None:
        """job-dismiss, by QEMU."""
        await self._verb(job_id, "job-dismiss", {"id": job_id}, block=False)

    async def block_job_pause(self, device: str) -> None:
        """block-job-pause, by QEMU."""
        await self._verb(device, "block-job-pause", {"device": device}, block=True)

    async def block_job_resume(self, device: str) -> None:
        """block-job-resume, by QEMU."""
        await self._verb(device, "block-job-resume", {"device": device}, block=True)

    async def block_job_cancel(self, device: str, force: bool = False) -> None:
        """block-job-cancel (soft unless ``force``), by QEMU."""
        await self._verb(device, "block-job-cancel", {"device": device, "force": force}, block=True)

    async def block_job_complete(self, device: str) -> None:
        """block-job-complete, by QEMU."""
        await self._verb(device, "block-job-complete", {"device": device}, block=True)

    async def block_job_finalize(self, job_id: str) -> None:
        """block-job-finalize, by QEMU."""
        await self._verb(job_id, "block-job-finalize", {"id": job_id}, block=True)

    async def block_job_dismiss(self, job_id: str) -> None:
        """block-job-dismiss, by QEMU."""
        await self._verb(job_id, "block-job-dismiss", {"id": job_id}, block=True)

    async def block_job_set_speed(self, device: str, speed: int) -> None:
        """block-job-set-speed, by QEMU."""
        await self._verb(
            device, "block-job-set-speed", {"device": device, "speed": speed}, block=True
        )
        job = self._jobs.get(device)
        if job is not None:
            job.block = {**job.block, "speed": speed}

    # ------------------------------------------------------------- queries

    def _visible(self) -> list[TrackedJob]:
        return [
            job
            for job in reversed(self._jobs.values())
            if job.status not in (JobStatus.UNDEFINED, JobStatus.NULL)
        ]

    def query_jobs(self) -> list[JobInfo]:
        """query-jobs: the engine's jobs, newest first."""
        return [job.info() for job in self._visible()]

    def query_block_jobs(self) -> list[BlockJobInfo]:
        """query-block-jobs: the engine's block jobs, newest first."""
        return [job.block_info() for job in self._visible() if job.launch.block]

    def job_info(self, job_id: str) -> JobInfo:
        """One job's JobInfo; raises ``Job not found``."""
        for job in self._visible():
            if job.id == job_id:
                return job.info()
        raise refusals.job_not_found(job_id)

    def snapshot(self) -> Snapshot:
        """Every job now, with the sequence number of the last event reflected."""
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
        """Events with ``seq > after_seq`` (None: from now on)."""
        return self.events.subscribe(after_seq, max_lag=max_lag)

    def snapshot_and_subscribe(
        self, *, max_lag: int | None = None
    ) -> tuple[Snapshot, Subscription]:
        """A snapshot and a subscription starting right after it."""
        snapshot = self.snapshot()
        return snapshot, self.events.subscribe(snapshot.last_seq, max_lag=max_lag)

    @property
    def instance_id(self) -> str:
        """Random per backend; tells clients that sequence numbers restarted."""
        return self.events.instance_id

    @property
    def change_version(self) -> int:
        """Increases whenever any job's visible state changes."""
        return self._changes.value

    async def wait_for_change(self, after_version: int) -> int:
        """Wait until :attr:`change_version` exceeds ``after_version``; return it."""
        return await self._changes.wait_beyond(after_version)

    def owner_of(self, job_id: str) -> str | None:
        """Who started ``job_id`` (kept in the journal, so across a takeover); None: nobody."""
        job = self._jobs.get(job_id)
        return None if job is None else job.launch.owner

    # -------------------------------------------------------------- faults

    def _on_close(self, reason: Exception) -> None:
        if self._closing or self.daemon.stopping:
            return
        self._changes.bump()  # health watchers learn that the daemon is gone
        self._spawn(self._daemon_lost(), "qemu-lost")

    async def _daemon_lost(self) -> None:
        """Conclude every job with a synthetic error, undo its files, restart the daemon."""
        try:
            status = await asyncio.wait_for(self.daemon.wait(), LIVENESS_GRACE)
        except TimeoutError:
            if await self._reconnect():
                return
            status = None  # it lives but cannot be talked to: stop it and start afresh
        text = _exit_text(status)
        logger.error("%s; concluding its jobs", text)
        await self._idle.wait()  # cleanups in flight fail fast now, and publish what they hold
        for job in list(reversed(self._jobs.values())):
            await self._conclude_lost(job, text)
        await self._restart()

    async def _reconnect(self) -> bool:
        """The connection broke but the daemon lives: connect again and catch up with QEMU.

        Events sent while no one listened are gone for good; what changed
        meanwhile is published as one status change per job.
        """
        await self._idle.wait()
        self._reconciling = True
        self._idle.clear()
        try:
            self._qmp = await self.daemon.reconnect(
                on_event=self._on_event, on_close=self._on_close
            )
            await self._reconcile(self._qmp)
        except (DaemonError, QmpError, QmpUnavailable):
            logger.exception("reconnecting to qemu-storage-daemon failed")
            return False
        finally:
            self._reconciling = False
            self._drain()
        logger.warning("reconnected to qemu-storage-daemon")
        return True

    async def _conclude_lost(self, job: TrackedJob, text: str) -> None:
        status = job.status
        if status is JobStatus.UNDEFINED:
            del self._jobs[job.id]
            job.gone.set()
            return
        if status in (JobStatus.PAUSED, JobStatus.STANDBY):
            hop = JobStatus.RUNNING if status is JobStatus.PAUSED else JobStatus.READY
            self._apply(
                job, ev.JOB_STATUS_CHANGE, {"id": job.id, "status": hop.value}, synthetic=True
            )
        if job.status not in (JobStatus.ABORTING, JobStatus.CONCLUDED):
            job.error = text
            self._apply(
                job, ev.JOB_STATUS_CHANGE, {"id": job.id, "status": "aborting"}, synthetic=True
            )
            if job.launch.block:
                self._apply(job, ev.BLOCK_JOB_COMPLETED, job.lost_data(text), synthetic=True)
        job.launch.nodes.forget()  # they died with the daemon
        await job.launch.undo(None, remove_files=job.aborted)
        if job.status is not JobStatus.CONCLUDED:
            self._apply(
                job, ev.JOB_STATUS_CHANGE, {"id": job.id, "status": "concluded"}, synthetic=True
            )
        job.settled.set()
        job.lost = True
        if job.launch.auto_dismiss:
            self._apply(job, ev.JOB_STATUS_CHANGE, {"id": job.id, "status": "null"}, synthetic=True)

    async def _restart(self) -> None:
        """Start a new daemon, backing off while that fails; give up only at shutdown."""
        self._qmp = None
        await self.daemon.stop(grace=1.0)
        for delay in itertools.chain(_RESTART_BACKOFF, itertools.repeat(_RESTART_BACKOFF[-1])):
            if self._closing:
                return
            try:
                self._qmp = await self.daemon.start(
                    on_event=self._on_event, on_close=self._on_close
                )
            except DaemonError:
                logger.exception("restarting qemu-storage-daemon failed")
                await asyncio.sleep(delay)
                continue
            self.restarts += 1
            self._changes.bump()
            return

    # ------------------------------------------------------------ shutdown

    async def _leave_running(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
        await self._idle.wait()
        await self._write_journal()
        if self._qmp is not None:
            await self._qmp.close()
        await _cancel_all(self._tasks)
        self._service_lock.release()
        self.events.close()

    async def shutdown(self, grace: float = 10.0) -> None:
        """Cancel every job newest first, wait for each to go, then stop the daemon.

        With ``keep_daemon`` the daemon and its jobs run on instead: the
        journal is saved and the connection closed, for the next server.
        """
        self._closing = True
        if self.keep_daemon and self._qmp is not None and self._qmp.connected:
            await self._leave_running()
            return
        deadline = asyncio.get_running_loop().time() + grace
        for job in list(reversed(self._jobs.values())):
            qmp = self._qmp
            if qmp is None or not qmp.connected:
                break
            with contextlib.suppress(QmpError, QmpUnavailable):
                if job.concluding:
                    await job.settled.wait()
                if job.status is JobStatus.CONCLUDED:
                    await qmp.execute("job-dismiss", {"id": job.id})
                else:
                    await qmp.execute("job-cancel", {"id": job.id})
            with contextlib.suppress(TimeoutError):
                remaining = deadline - asyncio.get_running_loop().time()
                await asyncio.wait_for(job.gone.wait(), max(0.0, remaining))
        if self._poller is not None:
            self._poller.cancel()
        # A restart in flight must end first, or the daemon it spawns would outlive us.
        await _cancel_all(self._tasks)
        await self.daemon.stop(grace=max(1.0, deadline - asyncio.get_running_loop().time()))
        # Nothing in the run directory outlives the daemon: not left behind in /tmp.
        await asyncio.to_thread(self._service_lock.release, remove=True)
        self.events.close()


async def _cancel_all(tasks: set[asyncio.Task[None]]) -> None:
    """Cancel the tasks and wait until each has ended."""
    pending = list(tasks)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)


def _exit_text(status: int | None) -> str:
    if status == UNKNOWN_STATUS:
        return "qemu-storage-daemon exited"
    if status is None:
        return "qemu-storage-daemon stopped answering"
    if status < 0:
        return f"qemu-storage-daemon exited: signal {-status}"
    return f"qemu-storage-daemon exited: status {status}"
