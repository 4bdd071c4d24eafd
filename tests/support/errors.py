"""Reading the details of a failed gRPC call."""

from __future__ import annotations

from collections.abc import Mapping

import grpc
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

DOMAIN = "qapi-jobs.qapi_jobs.v1"
"""The ``ErrorInfo.domain`` of every error the server sends."""


def status_of(error: grpc.aio.AioRpcError) -> status_pb2.Status:
    """The google.rpc.Status a failed call carried in its trailers."""
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None, f"no status details in {error!r}"
    assert status.code == error.code().value[0]
    assert status.message == error.details()
    return status


def error_info(error: grpc.aio.AioRpcError) -> error_details_pb2.ErrorInfo:
    """The one ErrorInfo detail of a failed call."""
    infos = []
    for detail in status_of(error).details:
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            infos.append(info)
    assert len(infos) == 1, f"expected one ErrorInfo, got {infos}"
    assert infos[0].domain == DOMAIN
    return infos[0]


def bad_request(error: grpc.aio.AioRpcError) -> error_details_pb2.BadRequest:
    """The BadRequest detail of a failed call."""
    for detail in status_of(error).details:
        found = error_details_pb2.BadRequest()
        if detail.Unpack(found):
            return found
    raise AssertionError(f"no BadRequest detail in {error!r}")


def assert_refused(
    error: grpc.aio.AioRpcError,
    code: grpc.StatusCode,
    message: str,
    reason: str,
    metadata: Mapping[str, str] | None = None,
) -> None:
    """The call failed with ``code``, QEMU's ``message`` and an ErrorInfo with ``reason``."""
    assert (error.code(), error.details()) == (code, message)
    info = error_info(error)
    assert info.reason == reason
    if metadata is not None:
        assert dict(info.metadata) == dict(metadata)
