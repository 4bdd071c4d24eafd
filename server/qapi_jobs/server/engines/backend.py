"""The job backend: what the gRPC layer drives, whichever engine runs the jobs.

Two implementations share this surface: :class:`BuiltinJobs` (the Python
job manager with the builtin engine's drivers) and
:class:`~qapi_jobs.server.engines.qemu.jobs.QemuJobs` (QEMU's own job
state machine in qemu-storage-daemon).  Jobs are started from QMP-shaped
command arguments, so that each engine checks them its own way; verbs,
queries and watch streams are the job manager's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from qapi_jobs.server.engines.base import Engine, EngineHealth
from qapi_jobs.server.engines.schema import job_commands
from qapi_jobs.server.jobs.errors import ErrorKind, JobError
from qapi_jobs.server.jobs.events import EventLog, Subscription
from qapi_jobs.server.jobs.info import BlockJobInfo, JobInfo, Snapshot
from qapi_jobs.server.jobs.manager import AbortAction, GroupAction, JobManager, RefusedAction

Action = tuple[str, Mapping[str, Any]]
"""One transaction action: its type (a job-creating command or ``abort``) and its data."""

ABORT_ACTION = "abort"


class JobView(Protocol):
    """The read side: queries, snapshots and events (what watch streams need)."""

    events: EventLog
    """The numbered events of every job, as watch streams read them."""

    def query_jobs(self) -> list[JobInfo]:
        """query-jobs, newest first."""
        ...

    def query_block_jobs(self) -> list[BlockJobInfo]:
        """query-block-jobs, newest first."""
        ...

    def job_info(self, job_id: str) -> JobInfo:
        """One job; raises ``Job not found``."""
        ...

    def snapshot(self) -> Snapshot:
        """Every job now and the last event that reflects."""
        ...

    def subscribe(
        self, after_seq: int | None = None, *, max_lag: int | None = None
    ) -> Subscription:
        """Events with ``seq > after_seq`` (None: from now on)."""
        ...

    def snapshot_and_subscribe(
        self, *, max_lag: int | None = None
    ) -> tuple[Snapshot, Subscription]:
        """A snapshot and the events right after it."""
        ...

    @property
    def instance_id(self) -> str:
        """Random per backend instance."""
        ...

    @property
    def change_version(self) -> int:
        """Grows with every visible change of any job."""
        ...

    async def wait_for_change(self, after_version: int) -> int:
        """Wait until :attr:`change_version` exceeds ``after_version``."""
        ...

    def owner_of(self, job_id: str) -> str | None:
        """Who started ``job_id`` (opaque, see ``jobs.job.CREATOR``), kept across restarts."""
        ...


class JobBackend(JobView, Protocol):
    """Starts jobs, applies verbs, answers queries and serves events."""

    @property
    def name(self) -> str:
        """The engine's name, e.g. ``"builtin"`` or ``"qemu"``."""
        ...

    def health(self) -> EngineHealth:
        """Whether jobs can run now, and how often the engine's helper process restarted."""
        ...

    @property
    def commands(self) -> frozenset[str]:
        """The job-creating commands this backend runs."""
        ...

    async def start_job(self, command: str, arguments: Mapping[str, Any]) -> JobInfo:
        """Check and start one job from a job-creating command's QMP arguments."""
        ...

    async def start_transaction(
        self, actions: Sequence[Action], *, grouped: bool = False
    ) -> list[JobInfo]:
        """Start a transaction's jobs, all or nothing (``abort`` refuses the whole group)."""
        ...

    async def job_pause(self, job_id: str) -> None:
        """job-pause."""
        ...

    async def job_resume(self, job_id: str) -> None:
        """job-resume."""
        ...

    async def job_cancel(self, job_id: str) -> None:
        """job-cancel."""
        ...

    async def job_complete(self, job_id: str) -> None:
        """job-complete."""
        ...

    async def job_finalize(self, job_id: str) -> None:
        """job-finalize."""
        ...

    async def job_dismiss(self, job_id: str) -> None:
        """job-dismiss."""
        ...

    async def block_job_pause(self, device: str) -> None:
        """block-job-pause."""
        ...

    async def block_job_resume(self, device: str) -> None:
        """block-job-resume."""
        ...

    async def block_job_cancel(self, device: str, force: bool = False) -> None:
        """block-job-cancel."""
        ...

    async def block_job_complete(self, device: str) -> None:
        """block-job-complete."""
        ...

    async def block_job_finalize(self, job_id: str) -> None:
        """block-job-finalize."""
        ...

    async def block_job_dismiss(self, job_id: str) -> None:
        """block-job-dismiss."""
        ...

    async def block_job_set_speed(self, device: str, speed: int) -> None:
        """block-job-set-speed."""
        ...

    async def shutdown(self, grace: float = 10.0) -> None:
        """Cancel every job newest first, then end the event streams."""
        ...


class BuiltinJobs(JobManager):
    """The job manager with an engine that prepares its jobs: the builtin backend."""

    def __init__(self, engine: Engine, **manager_options: Any) -> None:
        super().__init__(**manager_options)
        self.engine = engine
        self._job_commands = job_commands()

    @property
    def commands(self) -> frozenset[str]:
        """The job-creating commands the engine runs."""
        return self.engine.commands

    @property
    def name(self) -> str:
        """The engine's name."""
        return self.engine.name

    def health(self) -> EngineHealth:
        """The engine's health."""
        return self.engine.health()

    async def start_job(self, command: str, arguments: Mapping[str, Any]) -> JobInfo:
        """Prepare the job with the engine, then create and start it."""
        return await self.start(await self.engine.prepare(command, arguments))

    async def start_transaction(
        self, actions: Sequence[Action], *, grouped: bool = False
    ) -> list[JobInfo]:
        """Prepare every action in order, then create and start the jobs as one group.

        The first action that cannot be prepared (or an ``abort`` action)
        refuses the whole transaction at its place in the order: jobs of
        earlier actions are created and rolled back, as QEMU does.  Actions
        after it are not even prepared.
        """
        prepared: list[GroupAction] = []
        for kind, data in actions:
            if kind == ABORT_ACTION:
                prepared.append(AbortAction())
                break
            try:
                prepared.append(await self._prepare_action(kind, data))
            except JobError as error:
                prepared.append(RefusedAction(error))
                break
        return await self.start_group(prepared, grouped=grouped)

    async def _prepare_action(self, kind: str, data: Mapping[str, Any]) -> GroupAction:
        if kind not in self._job_commands:
            raise JobError(
                ErrorKind.UNSUPPORTED,
                f"Transaction action '{kind}' is not supported",
                reason="UNSUPPORTED_ACTION",
            )
        return await self.engine.prepare(kind, data)
