"""Helpers for the attack tests: jobs on a real job manager, files, failed calls."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import grpc
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status

from qapi_jobs.server.engines.builtin import BuiltinEngine
from qapi_jobs.server.jobs import events as ev
from qapi_jobs.server.jobs.errors import JobError
from qapi_jobs.server.jobs.manager import JobManager

GUARD_TIMEOUT = 30.0


def write(path: Path, content: bytes) -> bytes:
    """Create (or replace) ``path`` holding ``content``; return the content."""
    path.write_bytes(content)
    return content


def snapshot(directory: Path) -> dict[str, bytes]:
    """Every file below ``directory`` (not following links) with its content."""
    found: dict[str, bytes] = {}
    for root, _, names in os.walk(directory):
        for name in names:
            path = Path(root) / name
            if not path.is_symlink():
                found[str(path.relative_to(directory))] = path.read_bytes()
    return found


async def run_job(
    manager: JobManager, engine: BuiltinEngine, command: str, arguments: dict[str, Any]
) -> str:
    """Prepare and run one job to its end; return ``completed``, its error, or the refusal."""
    try:
        plan = await engine.prepare(command, arguments)
    except JobError as refusal:
        return f"refused {refusal.reason}"
    subscription = manager.subscribe(manager.events.last_seq)
    try:
        await manager.start(plan)
    except JobError as refusal:
        subscription.close()
        return f"refused {refusal.reason}"
    try:
        async with asyncio.timeout(GUARD_TIMEOUT):
            while True:
                for record in await subscription.next_batch():
                    if record.name != ev.JOB_STATUS_CHANGE or record.data["id"] != plan.job_id:
                        continue
                    status = record.data["status"]
                    if status == "ready":
                        await manager.job_complete(plan.job_id)
                    elif status == "concluded":
                        return await _conclude(manager, plan.job_id)
    finally:
        subscription.close()


async def _conclude(manager: JobManager, job_id: str) -> str:
    info = next((info for info in manager.query_jobs() if info.id == job_id), None)
    error = None if info is None else info.error
    if info is not None:
        await manager.job_dismiss(job_id)
    return "completed" if error is None else f"failed {error}"


def reason_of(error: grpc.aio.AioRpcError) -> str:
    """The ErrorInfo reason a failed call carried."""
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None, f"no status details in {error!r}"
    for detail in status.details:
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            return str(info.reason)
    raise AssertionError(f"no ErrorInfo in {error!r}")


async def failure(call: Awaitable[object]) -> grpc.aio.AioRpcError:
    """The error ``call`` fails with (it must fail)."""
    try:
        await call
    except grpc.aio.AioRpcError as error:
        return error
    raise AssertionError("the call succeeded")


async def refused_for_owner(call: Awaitable[object], owner: str, context: str = "") -> None:
    """``call`` fails because the job belongs to ``owner`` (an owner_only policy)."""
    error = await failure(call)
    assert (error.code(), reason_of(error)) == (
        grpc.StatusCode.PERMISSION_DENIED,
        "NOT_JOB_OWNER",
    ), context
    assert f"belongs to {owner}" in (error.details() or ""), context


async def healthy(channel: grpc.aio.Channel) -> bool:
    """Whether the server answers a health check with SERVING."""
    stub: Any = health_pb2_grpc.HealthStub(channel)
    reply = await stub.Check(health_pb2.HealthCheckRequest())
    return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)
