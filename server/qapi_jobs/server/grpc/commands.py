"""The QAPI commands the service runs, keyed by their QAPI names.

Each command takes its QMP arguments (QAPI wire names, as the transcoder
produces them from a request message, already checked against the schema)
and returns what QMP puts under ``"return"``: ``{}`` for commands without a
result.  Refusals are :class:`~qapi_jobs.server.jobs.errors.JobError`.
Nothing here knows about gRPC.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from functools import partial
from typing import Any

from qapi_jobs.server.engines.base import JOB_COMMANDS, Engine
from qapi_jobs.server.jobs.errors import ErrorKind, JobError
from qapi_jobs.server.jobs.job import JobSpec
from qapi_jobs.server.jobs.manager import AbortAction, GroupAction, JobManager, RefusedAction

Arguments = Mapping[str, Any]
CommandFunction = Callable[[Arguments], Awaitable[object]]

ABORT_ACTION = "abort"


class UnknownCommand(LookupError):
    """The server has no implementation of a command of the schema."""


class Commands:
    """Runs QAPI commands on a job manager, creating jobs through an engine."""

    def __init__(self, manager: JobManager, engine: Engine) -> None:
        self.manager = manager
        self.engine = engine
        jobs = manager
        self._table: dict[str, CommandFunction] = {
            "job-pause": lambda args: jobs.job_pause(args["id"]),
            "job-resume": lambda args: jobs.job_resume(args["id"]),
            "job-cancel": lambda args: jobs.job_cancel(args["id"]),
            "job-complete": lambda args: jobs.job_complete(args["id"]),
            "job-dismiss": lambda args: jobs.job_dismiss(args["id"]),
            "job-finalize": lambda args: jobs.job_finalize(args["id"]),
            "block-job-set-speed": lambda args: jobs.block_job_set_speed(
                args["device"], args["speed"]
            ),
            "block-job-cancel": lambda args: jobs.block_job_cancel(
                args["device"], args.get("force", False)
            ),
            "query-jobs": self._query_jobs,
            "query-block-jobs": self._query_block_jobs,
            "transaction": self._transaction,
        }
        for command in JOB_COMMANDS:
            self._table[command] = partial(self._start_job, command)

    @property
    def names(self) -> frozenset[str]:
        """The QAPI names of every command this object runs."""
        return frozenset(self._table)

    async def execute(self, command: str, arguments: Arguments) -> object:
        """Run ``command``; return its QMP result (``{}`` when it has none)."""
        function = self._table.get(command)
        if function is None:
            raise UnknownCommand(command)
        result = await function(arguments)
        return {} if result is None else result

    async def _query_jobs(self, arguments: Arguments) -> list[dict[str, object]]:
        return [info.to_qmp() for info in self.manager.query_jobs()]

    async def _query_block_jobs(self, arguments: Arguments) -> list[dict[str, object]]:
        return [info.to_qmp() for info in self.manager.query_block_jobs()]

    async def _start_job(self, command: str, arguments: Arguments) -> None:
        plan = await self.engine.prepare(command, arguments)
        await self.manager.start(plan.job_spec())

    async def _transaction(self, arguments: Arguments) -> None:
        """Prepare every action in order, then create and start the jobs as one group.

        The first action that cannot be prepared (or an ``abort`` action)
        refuses the whole transaction at its place in the order: jobs of
        earlier actions are created and rolled back, as QEMU does.  Actions
        after it are not even prepared.
        """
        properties = arguments.get("properties", {})
        grouped = properties.get("completion-mode", "individual") == "grouped"
        actions: list[GroupAction] = []
        for action in arguments["actions"]:
            kind, data = action["type"], action.get("data", {})
            if kind == ABORT_ACTION:
                actions.append(AbortAction())
                break
            try:
                actions.append(await self._prepare_action(kind, data))
            except JobError as error:
                actions.append(RefusedAction(error))
                break
        await self.manager.start_group(actions, grouped=grouped)

    async def _prepare_action(self, kind: str, data: Arguments) -> JobSpec:
        if kind not in JOB_COMMANDS:
            raise JobError(
                ErrorKind.UNSUPPORTED,
                f"Transaction action '{kind}' is not supported",
                reason="UNSUPPORTED_ACTION",
            )
        plan = await self.engine.prepare(kind, data)
        return plan.job_spec()
