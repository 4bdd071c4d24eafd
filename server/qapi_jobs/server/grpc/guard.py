"""One interceptor in front of every call: decoding, authorisation, stream limits.

- A request that does not decode as its message type is answered with
  INVALID_ARGUMENT (gRPC itself would answer UNKNOWN and name a Python
  class).
- With a policy, the caller's permissions (see :mod:`.policy`) are checked
  before the call runs; PERMISSION_DENIED names the permission missing.
  With ``owner_only``, verbs on a job are left to the caller that started
  it (see :mod:`.owners`).
- Streams (watches, event streams) open at once on one connection are
  limited; past the limit, RESOURCE_EXHAUSTED names it.
- Unary calls in flight are counted, so that a shutdown can let them
  finish before it cancels the jobs.

Health checks pass through untouched: probes are answered whatever a
policy says and however many streams clients hold.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Final, TypeVar, cast

import grpc
from google.protobuf.message import DecodeError
from google.rpc import code_pb2
from grpc_health.v1 import health_pb2

from qapi_jobs.server.grpc.errors import error_status
from qapi_jobs.server.grpc.owners import JobOwners, acted_on, created_ids
from qapi_jobs.server.grpc.policy import Caller, Permission, Policy
from qapi_jobs.transcoder import TranscodeError, command_table, encode_arguments
from qapi_jobs.v1 import service_pb2

logger = logging.getLogger(__name__)

HEALTH_PREFIX: Final = f"/{health_pb2.DESCRIPTOR.services_by_name['Health'].full_name}/"
_JOBS = service_pb2.DESCRIPTOR.services_by_name["JobsService"]
_READ_COMMANDS: Final = frozenset(
    f"/{_JOBS.full_name}/{command.method}"
    for command in command_table(_JOBS).values()
    if command.name.startswith("query-")
)
_COMMANDS: Final = {
    f"/{_JOBS.full_name}/{command.method}": command.name
    for command in command_table(_JOBS).values()
}
_OPERATE_PREFIX: Final = f"/{_JOBS.full_name}/"
_STREAM_EVENTS: Final = f"/{_JOBS.full_name}/StreamEvents"

Context = grpc.aio.ServicerContext[Any, Any]
_Req = TypeVar("_Req")
_Resp = TypeVar("_Resp")


class _Undecodable:
    """What a request that failed to decode turns into, so that the call can answer it."""

    def __init__(self, type_name: str) -> None:
        self.type_name = type_name


def permission_for(method: str) -> Permission | None:
    """What calling ``method`` (``/package.Service/Rpc``) needs; None for health checks."""
    if method.startswith(HEALTH_PREFIX):
        return None
    if method.startswith(_OPERATE_PREFIX) and method not in _READ_COMMANDS | {_STREAM_EVENTS}:
        return Permission.OPERATE
    # Watches, queries, event streams and reflection only read.
    return Permission.READ


def _certificate_identities(context: Context) -> list[str]:
    auth = context.auth_context()
    uris = [f"uri:{value.decode()}" for value in auth.get("peer_uri", [])]
    return uris + [f"dns:{value.decode()}" for value in auth.get("peer_dns", [])]


def _bearer(context: Context) -> str | None:
    for key, value in context.invocation_metadata() or ():
        if key == "authorization" and isinstance(value, str):
            scheme, _, token = value.partition(" ")
            if scheme.lower() == "bearer" and token:
                return token.strip()
    return None


class Guard(grpc.aio.ServerInterceptor):
    """The server's one interceptor (see the module docstring)."""

    def __init__(
        self,
        *,
        policy: Policy | None,
        max_streams_per_connection: int,
        owners: JobOwners | None = None,
    ) -> None:
        self.policy = policy
        self.owners = owners if policy is not None and policy.owner_only else None
        self.max_streams = max_streams_per_connection
        self._streams: Counter[str] = Counter()
        self._unary_calls = 0
        self._wrapped: dict[str, tuple[object, grpc.RpcMethodHandler[Any, Any]]] = {}
        self._no_unary_calls = asyncio.Event()
        self._no_unary_calls.set()

    async def wait_unary_calls(self) -> None:
        """Return once no unary call is running (health checks aside)."""
        await self._no_unary_calls.wait()

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[_Req, _Resp] | None]
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[_Req, _Resp] | None:
        """The handler of the called method, wrapped (health checks are left as they are)."""
        details = handler_call_details
        handler = await continuation(details)
        method: str = details.method
        permission = permission_for(method)
        if handler is None or permission is None:
            return handler
        cached = self._wrapped.get(method)
        if cached is not None and cached[0] is handler:
            # The same wrapper every time, so that interceptors outside this
            # one can cache what they build around it.
            return cast("grpc.RpcMethodHandler[_Req, _Resp]", cached[1])
        deserializer = _safe(handler.request_deserializer, method)
        wrapped: grpc.RpcMethodHandler[Any, Any] = handler
        if handler.unary_unary is not None:
            wrapped = grpc.unary_unary_rpc_method_handler(
                self._unary(handler.unary_unary, permission, method),
                request_deserializer=deserializer,
                response_serializer=handler.response_serializer,
            )
        elif handler.unary_stream is not None:
            wrapped = grpc.unary_stream_rpc_method_handler(
                self._stream(handler.unary_stream, permission, method),
                request_deserializer=deserializer,
                response_serializer=handler.response_serializer,
            )
        elif handler.stream_stream is not None:
            wrapped = grpc.stream_stream_rpc_method_handler(
                self._stream(handler.stream_stream, permission, method),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        self._wrapped[method] = (handler, wrapped)
        return cast("grpc.RpcMethodHandler[_Req, _Resp]", wrapped)

    async def _admit(
        self, request: object, context: Context, permission: Permission, method: str
    ) -> Caller | None:
        """Abort the call if its request did not decode or its caller lacks ``permission``."""
        if isinstance(request, _Undecodable):
            await _abort(
                context,
                code_pb2.INVALID_ARGUMENT,
                f"The request is not a valid {request.type_name} message; check that the "
                "client was built from the same .proto files as the server",
                "UNDECODABLE_REQUEST",
                {"message_type": request.type_name},
            )
        if self.policy is None:
            return None
        caller = self.policy.caller(_certificate_identities(context), _bearer(context))
        if permission not in caller.permissions:
            await _deny(context, caller, permission, method)
        return caller

    def _unary(
        self, inner: Callable[..., Any], permission: Permission, method: str
    ) -> Callable[[Any, Context], Awaitable[Any]]:
        async def behaviour(request: Any, context: Context) -> Any:
            self._unary_calls += 1
            self._no_unary_calls.clear()
            try:
                caller = await self._admit(request, context, permission, method)
                command = _COMMANDS.get(method)
                if self.owners is None or caller is None or command is None:
                    return await inner(request, context)
                return await self._as_owner(self.owners, caller, command, inner, request, context)
            finally:
                self._unary_calls -= 1
                if not self._unary_calls:
                    self._no_unary_calls.set()

        return behaviour

    @staticmethod
    async def _as_owner(
        owners: JobOwners,
        caller: Caller,
        command: str,
        inner: Callable[..., Any],
        request: Any,
        context: Context,
    ) -> Any:
        """Run a JobsService command if ``caller`` owns the job it acts on; note what it starts."""
        try:
            arguments = encode_arguments(request)
        except TranscodeError:
            return await inner(request, context)  # the command itself says what is wrong
        job_id = acted_on(command, arguments)
        if job_id is not None and not owners.may_act(caller, job_id):
            await _abort(
                context,
                code_pb2.PERMISSION_DENIED,
                f"Job '{job_id}' belongs to {owners.owner(job_id)}; only its owner may use "
                f"{command} on it",
                "NOT_JOB_OWNER",
                {"job_id": job_id, "caller": caller.name},
            )
        with owners.creating(caller):
            response = await inner(request, context)
        owners.record(caller, created_ids(command, arguments))
        return response

    def _stream(
        self, inner: Callable[..., Any], permission: Permission, method: str
    ) -> Callable[..., Any]:
        # grpc.aio tells a generator behaviour from one that writes by its kind.
        if inspect.isasyncgenfunction(inner):

            async def generator(request: Any, context: Context) -> AsyncIterator[Any]:
                async with self._slot(request, context, permission, method):
                    async for response in inner(request, context):
                        yield response

            return generator

        async def writer(request: Any, context: Context) -> None:
            async with self._slot(request, context, permission, method):
                await inner(request, context)

        return writer

    @contextlib.asynccontextmanager
    async def _slot(
        self, request: Any, context: Context, permission: Permission, method: str
    ) -> AsyncIterator[None]:
        """Admit a stream and hold one of its connection's stream slots while it runs."""
        await self._admit(request, context, permission, method)
        connection = context.peer()
        if self._streams[connection] >= self.max_streams:
            await _abort(
                context,
                code_pb2.RESOURCE_EXHAUSTED,
                "Too many streams on one connection: the limit max-streams-per-connection "
                f"({self.max_streams}) is reached; close streams or open another connection",
                "MAX_STREAMS_PER_CONNECTION",
                {"limit": str(self.max_streams)},
            )
        self._streams[connection] += 1
        try:
            yield
        finally:
            self._streams[connection] -= 1
            if not self._streams[connection]:
                del self._streams[connection]


def _safe(
    deserializer: Callable[[bytes], Any] | None, method: str
) -> Callable[[bytes], Any] | None:
    """``deserializer``, turning a DecodeError into an :class:`_Undecodable` request."""
    if deserializer is None:
        return None
    type_name = method.rpartition("/")[2] + "Request"
    message_type = getattr(deserializer, "__self__", None)
    if message_type is not None and hasattr(message_type, "DESCRIPTOR"):
        type_name = message_type.DESCRIPTOR.full_name

    def decode(data: bytes) -> Any:
        try:
            return deserializer(data)
        except DecodeError:
            return _Undecodable(type_name)

    return decode


async def _deny(context: Context, caller: Caller, permission: Permission, method: str) -> None:
    logger.info(
        "permission denied",
        extra={"rpc": method, "caller": caller.name, "permission": permission.value},
    )
    await _abort(
        context,
        code_pb2.PERMISSION_DENIED,
        f"Permission '{permission.value}' is needed for {method.rpartition('/')[2]}; "
        f"{caller.name} does not have it",
        "PERMISSION_MISSING",
        {"permission": permission.value, "caller": caller.name},
    )


async def _abort(
    context: Context, code: int, message: str, reason: str, metadata: dict[str, str]
) -> None:
    await context.abort_with_status(error_status(code, message, reason, metadata))
