"""Turning refusals into gRPC statuses with machine-readable details.

The message stays QEMU's exact text (for humans); the ``google.rpc.ErrorInfo``
detail carries the contract for programs: a stable reason, our domain, and
the job, status and verb the refusal is about (AIP-193).
"""

from __future__ import annotations

from collections.abc import Mapping

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from qapi_jobs.server.jobs.errors import ErrorKind, JobError

DOMAIN = "qapi-jobs.qapi_jobs.v1"
"""The ErrorInfo domain of every error this service reports."""

_CODES: dict[ErrorKind, int] = {
    ErrorKind.NOT_FOUND: code_pb2.NOT_FOUND,
    ErrorKind.WRONG_STATE: code_pb2.FAILED_PRECONDITION,
    ErrorKind.INVALID_ARGUMENT: code_pb2.INVALID_ARGUMENT,
    ErrorKind.ALREADY_EXISTS: code_pb2.ALREADY_EXISTS,
    ErrorKind.PERMISSION_DENIED: code_pb2.PERMISSION_DENIED,
    ErrorKind.UNSUPPORTED: code_pb2.FAILED_PRECONDITION,
}


def error_status(
    code: int, message: str, reason: str, metadata: Mapping[str, str] | None = None
) -> grpc.Status:
    """A gRPC status whose details hold one ErrorInfo."""
    info = error_details_pb2.ErrorInfo(reason=reason, domain=DOMAIN, metadata=dict(metadata or {}))
    detail = any_pb2.Any()
    detail.Pack(info)
    status = status_pb2.Status(code=code, message=message, details=[detail])
    return rpc_status.to_status(status)


def job_error_status(error: JobError) -> grpc.Status:
    """The status for a refusal by the job manager or an engine."""
    return error_status(_CODES[error.kind], error.message, error.reason, error.metadata())
