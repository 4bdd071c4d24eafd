"""Turning refusals into gRPC statuses with machine-readable details.

The message stays QEMU's exact text (for humans); the ``google.rpc.ErrorInfo``
detail carries the contract for programs: a stable reason, our domain, and
the job, status and verb the refusal is about (AIP-193).  A request the
transcoder cannot map onto QMP arguments also gets a ``google.rpc.BadRequest``
naming the offending member.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import grpc
from google.protobuf import any_pb2
from google.protobuf.message import Message
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from qapi_jobs.server.grpc.echo import MESSAGE_LIMIT, bounded
from qapi_jobs.server.jobs.errors import ErrorKind, JobError
from qapi_jobs.transcoder import TranscodeError

DOMAIN = "qapi-jobs.qapi_jobs.v1"
"""The ErrorInfo domain of every error this service reports."""

_CODES: dict[ErrorKind, int] = {
    ErrorKind.NOT_FOUND: code_pb2.NOT_FOUND,
    ErrorKind.WRONG_STATE: code_pb2.FAILED_PRECONDITION,
    ErrorKind.INVALID_ARGUMENT: code_pb2.INVALID_ARGUMENT,
    ErrorKind.ALREADY_EXISTS: code_pb2.ALREADY_EXISTS,
    ErrorKind.PERMISSION_DENIED: code_pb2.PERMISSION_DENIED,
    ErrorKind.UNSUPPORTED: code_pb2.FAILED_PRECONDITION,
    ErrorKind.RESOURCE_EXHAUSTED: code_pb2.RESOURCE_EXHAUSTED,
    ErrorKind.UNAVAILABLE: code_pb2.UNAVAILABLE,
}

# Refusals that say "not here, not now" rather than "not in this state":
# a client should retry them elsewhere (another replica), so UNAVAILABLE.
_UNAVAILABLE_REASONS = frozenset({"SHUTTING_DOWN", "STATE_NOT_WRITABLE"})


def error_status(
    code: int,
    message: str,
    reason: str,
    metadata: Mapping[str, str] | None = None,
    extra_details: Sequence[Message] = (),
) -> grpc.Status:
    """A gRPC status whose details hold one ErrorInfo, then ``extra_details``.

    The message and metadata may repeat client input, so they are bounded
    and escaped (see :mod:`.echo`).
    """
    message = bounded(message, MESSAGE_LIMIT)
    metadata = {key: bounded(value) for key, value in (metadata or {}).items()}
    info = error_details_pb2.ErrorInfo(reason=reason, domain=DOMAIN, metadata=metadata)
    details = []
    for detail_message in (info, *extra_details):
        detail = any_pb2.Any()
        detail.Pack(detail_message)
        details.append(detail)
    status = status_pb2.Status(code=code, message=message, details=details)
    return rpc_status.to_status(status)


def job_error_status(error: JobError) -> grpc.Status:
    """The status for a refusal by the job manager or an engine."""
    code = code_pb2.UNAVAILABLE if error.reason in _UNAVAILABLE_REASONS else _CODES[error.kind]
    return error_status(code, error.message, error.reason, error.metadata())


def field_path(error: TranscodeError) -> str:
    """The failing member as a field path (``actions[0].data.sync``), QAPI wire names."""
    return error.path.removeprefix("$").removeprefix(".")


def transcode_error_status(error: TranscodeError, command: str) -> grpc.Status:
    """INVALID_ARGUMENT for a request that is not valid QMP for ``command``.

    The message includes the JSON path (``$.options.size: ...``); a
    BadRequest field violation repeats it in machine-readable form.
    """
    violation = error_details_pb2.BadRequest.FieldViolation(
        field=bounded(field_path(error)), description=bounded(error.message, MESSAGE_LIMIT)
    )
    return error_status(
        code_pb2.INVALID_ARGUMENT,
        f"Invalid arguments for '{command}': {error}",
        "INVALID_REQUEST",
        {"command": command, "field": field_path(error)},
        [error_details_pb2.BadRequest(field_violations=[violation])],
    )


def unknown_field_status(path: str, number: int, message_type: str, command: str) -> grpc.Status:
    """INVALID_ARGUMENT for a protobuf field the server's schema does not have.

    QEMU's text for an unexpected member, with the field's number where its
    name would be (the server cannot know the name); the hint says why it
    happens.
    """
    violation = error_details_pb2.BadRequest.FieldViolation(
        field=path, description=f"unknown field number {number} of {message_type}"
    )
    return error_status(
        code_pb2.INVALID_ARGUMENT,
        f"Parameter '{path}' is unexpected",
        "UNKNOWN_FIELD",
        {
            "command": command,
            "field": path,
            "field_number": str(number),
            "message_type": message_type,
            "hint": (
                f"The request sets field {number} of {message_type}, which this server's schema "
                "does not have: the client was built from a newer schema. Leave that member "
                "out, or upgrade the server."
            ),
        },
        [error_details_pb2.BadRequest(field_violations=[violation])],
    )


def unknown_command_status(command: str) -> grpc.Status:
    """UNIMPLEMENTED for a command this server has no implementation of (QMP's text)."""
    return error_status(
        code_pb2.UNIMPLEMENTED,
        f"The command {command} has not been found",
        "COMMAND_NOT_FOUND",
        {"command": command},
    )


def internal_status(command: str, incident: str) -> grpc.Status:
    """INTERNAL for an unexpected failure; ``incident`` ties it to the logged traceback."""
    return error_status(
        code_pb2.INTERNAL,
        f"Internal error while running '{command}'; the server log has the details "
        f"(incident {incident})",
        "INTERNAL_ERROR",
        {"command": command, "incident": incident},
    )
