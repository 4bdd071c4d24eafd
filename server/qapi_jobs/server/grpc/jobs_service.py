"""JobsService, built from its descriptor: one generic handler per QAPI command.

Every unary rpc carries its QAPI command name as a method option.  Its
handler turns the request message into QMP arguments with the transcoder,
runs the command by name, and turns the QMP result back into the response
message; refusals become statuses with rich details.  No code is written
per rpc: a command added to the schema needs only a job manager method of
its name, or a ``job-id`` member and an engine that runs it (see
:mod:`~qapi_jobs.server.grpc.commands`).  A request carrying a protobuf
field this server's schema lacks (a client built from a newer schema) is
refused before anything runs.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Coroutine
from typing import Any

import grpc
from google.protobuf.message import Message

from qapi_jobs.server.grpc import errors
from qapi_jobs.server.grpc.commands import Commands, UnknownCommand
from qapi_jobs.server.grpc.unknown_fields import find_unknown_field
from qapi_jobs.server.jobs.errors import JobError
from qapi_jobs.transcoder import Command, TranscodeError, command_table, decode_result
from qapi_jobs.transcoder import encode_arguments as request_arguments
from qapi_jobs.v1 import service_pb2

logger = logging.getLogger(__name__)

SERVICE = service_pb2.DESCRIPTOR.services_by_name["JobsService"]
"""The JobsService descriptor."""
SERVICE_NAME = SERVICE.full_name
STREAM_EVENTS = "StreamEvents"

Context = grpc.aio.ServicerContext[Any, Any]


CommandBehaviour = Callable[[Message, Context], Coroutine[Any, Any, Message]]


def command_behaviour(command: Command, commands: Commands) -> CommandBehaviour:
    """The behaviour of one unary rpc: transcode, run the command, transcode back.

    A plain coroutine function, which is how grpc.aio recognises an
    asynchronous behaviour (an object with an async ``__call__`` would be
    run as a synchronous one).
    """

    async def behaviour(request: Message, context: Context) -> Message:
        outcome = await _run(command, commands, request)
        if isinstance(outcome, grpc.Status):
            await context.abort_with_status(outcome)
        return outcome

    return behaviour


async def _run(command: Command, commands: Commands, request: Message) -> Message | grpc.Status:
    """The response to ``request``, or the status to end the call with."""
    unknown = find_unknown_field(request)
    if unknown is not None:
        status = errors.unknown_field_status(
            unknown.path, unknown.number, unknown.message_type, command.name
        )
        _log_refusal(command, status, "UNKNOWN_FIELD", {"field": unknown.path})
        return status
    try:
        arguments = request_arguments(request)
    except TranscodeError as error:
        status = errors.transcode_error_status(error, command.name)
        _log_refusal(command, status, "INVALID_REQUEST", {"field": errors.field_path(error)})
        return status
    try:
        result = await commands.execute(command.name, arguments)
        # A result that does not fit the response type is the server's bug,
        # not the client's: it falls through to INTERNAL below.
        return decode_result(command.response, result)
    except JobError as error:
        status = errors.job_error_status(error)
        _log_refusal(command, status, error.reason, error.metadata())
    except UnknownCommand:
        status = errors.unknown_command_status(command.name)
        _log_refusal(command, status, "COMMAND_NOT_FOUND", {})
    except Exception:
        incident = uuid.uuid4().hex[:12]
        logger.exception(
            "%s failed unexpectedly (incident %s)",
            command.method,
            incident,
            extra={"rpc": command.method, "command": command.name, "incident": incident},
        )
        status = errors.internal_status(command.name, incident)
    return status


def _log_refusal(
    command: Command, status: grpc.Status, reason: str, metadata: dict[str, str]
) -> None:
    logger.info(
        "%s refused: %s %s",
        command.method,
        status.code.name,
        status.details,
        extra={
            "rpc": command.method,
            "command": command.name,
            "code": status.code.name,
            "reason": reason,
            **metadata,
        },
    )


def jobs_service_handlers(
    commands: Commands, stream_events: grpc.RpcMethodHandler[Any, Any]
) -> dict[str, grpc.RpcMethodHandler[Any, Any]]:
    """The method handlers of JobsService, by rpc name.

    Every rpc of the service must be a QAPI command or the event stream;
    anything else means the generated code and this server disagree, which
    is reported at once rather than at the first call.
    """
    table = command_table(SERVICE)
    handlers: dict[str, grpc.RpcMethodHandler[Any, Any]] = {}
    for command in table.values():
        handlers[command.method] = grpc.unary_unary_rpc_method_handler(
            command_behaviour(command, commands),
            request_deserializer=command.request.FromString,
            response_serializer=command.response.SerializeToString,
        )
    handlers[STREAM_EVENTS] = stream_events
    unknown = {method.name for method in SERVICE.methods} - set(handlers)
    if unknown:
        raise RuntimeError(f"JobsService rpcs without a QAPI command: {sorted(unknown)}")
    return handlers


def add_jobs_service(
    server: grpc.aio.Server, commands: Commands, stream_events: grpc.RpcMethodHandler[Any, Any]
) -> None:
    """Register JobsService on ``server``; ``stream_events`` handles its event stream."""
    handlers = jobs_service_handlers(commands, stream_events)
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE_NAME, handlers),))
    server.add_registered_method_handlers(SERVICE_NAME, handlers)
