"""What the schema says about the commands that create jobs, read from the descriptors.

The generated JobsService descriptor carries the QAPI schema: each rpc
names its command, each request message lists the command's members with
their QAPI types, and each enum its wire names.  Engines check a command's
arguments against it through the transcoder instead of keeping their own
copy of member lists, enum values or integer ranges, so a member added to
the schema reaches an engine without any edit there; an engine only says
what it supports (raw images only, some preallocation modes, ...).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from google.protobuf.descriptor import ServiceDescriptor

from qapi_jobs.server.jobs.errors import ErrorKind, JobError
from qapi_jobs.transcoder import Command, TranscodeError, command_table
from qapi_jobs.transcoder import decode_arguments as arguments_to_request
from qapi_jobs.transcoder import encode_arguments as request_to_arguments
from qapi_jobs.transcoder.descriptors import plan_of_type
from qapi_jobs.v1 import service_pb2

JOBS_SERVICE: Final = service_pb2.DESCRIPTOR.services_by_name["JobsService"]
"""The JobsService descriptor of the schema this server was built from."""

JOB_ID_MEMBER: Final = "job-id"
"""The member that marks a command as one that creates a job."""


def job_commands(service: ServiceDescriptor = JOBS_SERVICE) -> frozenset[str]:
    """The commands of ``service`` that create a job: those with a ``job-id`` member."""
    return frozenset(
        name
        for name, command in command_table(service).items()
        if JOB_ID_MEMBER in plan_of_type(command.request).member_wires
    )


class CommandSchema:
    """Checks job-creating commands' arguments against a service's descriptors."""

    def __init__(self, service: ServiceDescriptor = JOBS_SERVICE) -> None:
        table = command_table(service)
        self._commands: dict[str, Command] = {name: table[name] for name in job_commands(service)}

    @property
    def job_commands(self) -> frozenset[str]:
        """The QAPI names of the commands that create a job."""
        return frozenset(self._commands)

    def check(self, command: str, arguments: Mapping[str, Any]) -> dict[str, Any]:
        """``arguments`` checked against the schema, as QMP arguments again.

        Members, types, enum values and integer ranges are the schema's; a
        member whose value is None counts as absent.  What comes back has
        the absent optional members left out and nothing else changed, so
        an engine reads each member it acts on by its wire name and ignores
        the rest.  Raises JobError (INVALID_ARGUMENT) naming the member.
        """
        spec = self._commands.get(command)
        if spec is None:
            raise JobError(
                ErrorKind.UNSUPPORTED,
                f"'{command}' is not a command that starts a job",
                reason="UNKNOWN_COMMAND",
            )
        try:
            request = arguments_to_request(spec.request, _without_nulls(arguments))
            return request_to_arguments(request)
        except TranscodeError as error:
            field = error.path.removeprefix("$").removeprefix(".")
            raise JobError(
                ErrorKind.INVALID_ARGUMENT,
                f"Invalid arguments for '{command}': {error}",
                reason="INVALID_REQUEST",
                facts={"field": field, "command": command},
            ) from error


def _without_nulls(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _without_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_without_nulls(item) for item in value]
    return value
