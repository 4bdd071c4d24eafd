"""The QAPI commands the service runs, keyed by their QAPI names.

Which commands exist is the schema's to say: the JobsService descriptor
lists them.  A command with a ``job-id`` member creates a job through the
job backend; ``transaction`` groups such commands; every other command is the
backend's method of the same name (``block-job-set-speed`` is
:meth:`~qapi_jobs.server.engines.backend.JobBackend.block_job_set_speed`), called
with the command's members as keyword arguments (``id`` as ``job_id``).  A command of the schema
that none of these implements is reported as unknown.

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

from google.protobuf.descriptor import ServiceDescriptor

from qapi_jobs.server.engines.backend import Action, JobBackend
from qapi_jobs.server.engines.schema import JOBS_SERVICE, job_commands
from qapi_jobs.transcoder import command_table

Arguments = Mapping[str, Any]
CommandFunction = Callable[[Arguments], Awaitable[object]]

TRANSACTION = "transaction"


class UnknownCommand(LookupError):
    """The server has no implementation of a command of the schema."""


_RENAMED = {"id": "job_id"}
"""Members passed under another name, where the QAPI name is a Python builtin."""


def python_name(wire_name: str) -> str:
    """The Python identifier for a QAPI name: ``block-job-set-speed`` -> ``block_job_set_speed``."""
    return _RENAMED.get(wire_name, wire_name.replace("-", "_"))


class Commands:
    """Runs QAPI commands on a job backend (either engine's)."""

    def __init__(self, backend: JobBackend, service: ServiceDescriptor = JOBS_SERVICE) -> None:
        self.backend = backend
        self.job_commands = job_commands(service)
        self._table: dict[str, CommandFunction] = {}
        for name in command_table(service):
            function = self._implementation(name)
            if function is not None:
                self._table[name] = function

    def _implementation(self, name: str) -> CommandFunction | None:
        if name in self.job_commands:
            return partial(self._start_job, name)
        if name == TRANSACTION:
            return self._transaction
        method = python_name(name)
        if not callable(getattr(self.backend, method, None)):
            return None
        return partial(self._call_manager, method)

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

    async def _start_job(self, command: str, arguments: Arguments) -> None:
        await self.backend.start_job(command, arguments)

    async def _transaction(self, arguments: Arguments) -> None:
        """Start the actions' jobs as one group; the backend refuses all or none.

        The first action that cannot be set up (or an ``abort`` action)
        refuses the whole transaction at its place in the order: jobs of
        earlier actions are created and rolled back, as QEMU does.
        """
        properties = arguments.get("properties", {})
        grouped = properties.get("completion-mode", "individual") == "grouped"
        actions: list[Action] = [
            (action["type"], action.get("data", {})) for action in arguments["actions"]
        ]
        await self.backend.start_transaction(actions, grouped=grouped)

    async def _call_manager(self, method: str, arguments: Arguments) -> object:
        """Call a backend method with the command's members; its result as QMP."""
        function: Callable[..., Any] = getattr(self.backend, method)
        result = function(**{python_name(member): value for member, value in arguments.items()})
        if isinstance(result, Awaitable):
            result = await result
        if isinstance(result, list):
            return [item.to_qmp() for item in result]
        return result
