"""The exceptions the client raises, one per gRPC status code.

Every refusal from the server arrives as a gRPC status: a code, a message
for humans and, in the ``grpc-status-details-bin`` trailer (read with
``grpc_status.rpc_status``), a ``google.rpc.Status`` whose details hold one
``google.rpc.ErrorInfo`` (reason, domain, metadata such as ``job_id``,
``status`` and ``verb``, a ``hint`` and facts) and, for a bad argument, a
``google.rpc.BadRequest`` naming the fields.
Programs should branch on the exception class and on :attr:`reason`; the
message is QEMU's text and may change.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, cast

import grpc
import grpc.aio
from google.protobuf import any_pb2
from google.protobuf.message import DecodeError
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

HINT_KEY = "hint"
"""The ErrorInfo metadata key of the server's one-sentence hint."""


@dataclass(frozen=True)
class FieldViolation:
    """One entry of a ``google.rpc.BadRequest``: the field path and what is wrong."""

    field: str
    description: str


class QapiJobsError(Exception):
    """The server (or the channel) refused a call.

    ``code`` is the gRPC status code, ``message`` the server's text,
    ``reason``/``domain``/``metadata`` the ErrorInfo detail (empty when the
    server sent none), ``field_violations`` the BadRequest detail's entries
    and ``details`` every detail of the ``google.rpc.Status``.  The
    metadata's ``hint`` is :attr:`hint`, its other keys are facts
    (:attr:`facts`).
    """

    code: grpc.StatusCode = grpc.StatusCode.UNKNOWN

    def __init__(
        self,
        message: str,
        *,
        code: grpc.StatusCode | None = None,
        reason: str = "",
        domain: str = "",
        metadata: Mapping[str, str] | None = None,
        details: Iterable[any_pb2.Any] = (),
        field_violations: Iterable[FieldViolation] = (),
    ) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code
        self.message = message
        self.reason = reason
        self.domain = domain
        self.metadata: dict[str, str] = dict(metadata or {})
        self.details: tuple[any_pb2.Any, ...] = tuple(details)
        self.field_violations: tuple[FieldViolation, ...] = tuple(field_violations)

    @property
    def hint(self) -> str | None:
        """What to do about the refusal, in one sentence, when the server said."""
        return self.metadata.get(HINT_KEY) or None

    @property
    def facts(self) -> dict[str, str]:
        """The metadata but the hint: ids, statuses, sizes, limits, ..."""
        return {key: value for key, value in self.metadata.items() if key != HINT_KEY}

    @property
    def job_id(self) -> str | None:
        """The job the refusal is about, when the server said."""
        return self.metadata.get("job_id")

    @property
    def job_status(self) -> str | None:
        """The job's status (QAPI name) at the time of the refusal, when known."""
        return self.metadata.get("status")

    @property
    def verb(self) -> str | None:
        """The refused verb (QAPI ``JobVerb`` name), when the server said."""
        return self.metadata.get("verb")

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        name = type(self).__name__
        return f"{name}({self.message!r}, code={self.code.name}, reason={self.reason!r})"


class Cancelled(QapiJobsError):
    """CANCELLED: the call was cancelled (usually by the caller)."""

    code = grpc.StatusCode.CANCELLED


class UnknownError(QapiJobsError):
    """UNKNOWN: the server failed in a way it did not classify."""

    code = grpc.StatusCode.UNKNOWN


class InvalidArgument(QapiJobsError):
    """INVALID_ARGUMENT: an argument is wrong whatever the jobs' state."""

    code = grpc.StatusCode.INVALID_ARGUMENT


class DeadlineExceeded(QapiJobsError):
    """DEADLINE_EXCEEDED: no reply within the deadline."""

    code = grpc.StatusCode.DEADLINE_EXCEEDED


class JobNotFound(QapiJobsError):
    """NOT_FOUND: the job (or another named thing) does not exist."""

    code = grpc.StatusCode.NOT_FOUND


class AlreadyExists(QapiJobsError):
    """ALREADY_EXISTS: the job id or the target is taken."""

    code = grpc.StatusCode.ALREADY_EXISTS


class PermissionDenied(QapiJobsError):
    """PERMISSION_DENIED: e.g. a path outside the server's data directory."""

    code = grpc.StatusCode.PERMISSION_DENIED


class ResourceExhausted(QapiJobsError):
    """RESOURCE_EXHAUSTED: a server limit was reached (e.g. watchers)."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class WrongState(QapiJobsError):
    """FAILED_PRECONDITION: the job's status does not allow the request."""

    code = grpc.StatusCode.FAILED_PRECONDITION


class Aborted(QapiJobsError):
    """ABORTED: a conflict; retrying later may work (a slow watcher is cut with it)."""

    code = grpc.StatusCode.ABORTED


class OutOfRange(QapiJobsError):
    """OUT_OF_RANGE: e.g. a watch resumed from events the server no longer holds."""

    code = grpc.StatusCode.OUT_OF_RANGE


class Unimplemented(QapiJobsError):
    """UNIMPLEMENTED: the server does not offer this call."""

    code = grpc.StatusCode.UNIMPLEMENTED


class InternalError(QapiJobsError):
    """INTERNAL or DATA_LOSS: a bug or a broken invariant on the server."""

    code = grpc.StatusCode.INTERNAL


class Unavailable(QapiJobsError):
    """UNAVAILABLE: the server cannot be reached or is shutting down; retry."""

    code = grpc.StatusCode.UNAVAILABLE


class Unauthenticated(QapiJobsError):
    """UNAUTHENTICATED: credentials are missing or wrong."""

    code = grpc.StatusCode.UNAUTHENTICATED


_BY_CODE: dict[grpc.StatusCode, type[QapiJobsError]] = {
    grpc.StatusCode.CANCELLED: Cancelled,
    grpc.StatusCode.UNKNOWN: UnknownError,
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgument,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceeded,
    grpc.StatusCode.NOT_FOUND: JobNotFound,
    grpc.StatusCode.ALREADY_EXISTS: AlreadyExists,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDenied,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhausted,
    grpc.StatusCode.FAILED_PRECONDITION: WrongState,
    grpc.StatusCode.ABORTED: Aborted,
    grpc.StatusCode.OUT_OF_RANGE: OutOfRange,
    grpc.StatusCode.UNIMPLEMENTED: Unimplemented,
    grpc.StatusCode.INTERNAL: InternalError,
    grpc.StatusCode.DATA_LOSS: InternalError,
    grpc.StatusCode.UNAVAILABLE: Unavailable,
    grpc.StatusCode.UNAUTHENTICATED: Unauthenticated,
}


def error_class(code: grpc.StatusCode) -> type[QapiJobsError]:
    """The exception class for a status code."""
    return _BY_CODE.get(code, QapiJobsError)


@dataclass(frozen=True)
class _Ended:
    """A finished call as ``grpc_status.rpc_status.from_call`` reads it."""

    status_code: grpc.StatusCode
    message: str
    metadata: tuple[tuple[str, Any], ...]

    def code(self) -> grpc.StatusCode:
        return self.status_code

    def details(self) -> str:
        return self.message

    def trailing_metadata(self) -> tuple[tuple[str, Any], ...]:
        return self.metadata


def _rich_status(
    code: grpc.StatusCode, message: str, trailing: Iterable[tuple[str, Any]] | None
) -> status_pb2.Status | None:
    """The ``google.rpc.Status`` of the trailers; None when there is none, or
    when it is unreadable or describes another status than the call's."""
    try:
        # from_call reads only code(), details() and trailing_metadata(),
        # which both the sync and the asyncio errors provide.
        ended = cast(grpc.Call, _Ended(code, message, tuple(trailing or ())))
        status: status_pb2.Status | None = rpc_status.from_call(ended)
    except (ValueError, DecodeError):
        return None
    return status


def make_error(
    code: grpc.StatusCode, message: str, trailing: Iterable[tuple[str, Any]] | None = None
) -> QapiJobsError:
    """The exception for a status, with the ErrorInfo and BadRequest details
    found in ``trailing`` metadata (``grpc-status-details-bin``)."""
    status = _rich_status(code, message, trailing)
    reason = domain = ""
    metadata: dict[str, str] = {}
    violations: list[FieldViolation] = []
    details = list(status.details) if status is not None else []
    for detail in details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR) and not reason:
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            reason, domain, metadata = info.reason, info.domain, dict(info.metadata)
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            request = error_details_pb2.BadRequest()
            detail.Unpack(request)
            violations.extend(
                FieldViolation(v.field, v.description) for v in request.field_violations
            )
    return error_class(code)(
        message,
        code=code,
        reason=reason,
        domain=domain,
        metadata=metadata,
        details=details,
        field_violations=violations,
    )


def error_from_rpc(err: grpc.RpcError) -> QapiJobsError:
    """The exception for a failed call (sync or asyncio)."""
    if isinstance(err, grpc.aio.AioRpcError | grpc.Call):
        return make_error(err.code(), err.details() or "", _pairs(err.trailing_metadata()))
    return UnknownError(str(err) or type(err).__name__, code=grpc.StatusCode.UNKNOWN)


def _pairs(metadata: Any) -> list[tuple[str, Any]]:
    if metadata is None:
        return []
    return [(str(key), value) for key, value in metadata]
