"""Limits: past each one RESOURCE_EXHAUSTED names it, and health is still answered."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import grpc
import pytest

from qapi_jobs.server.grpc.app import JobsServer, build_server
from qapi_jobs.server.grpc.config import LimitsConfig, ServerConfig
from qapi_jobs.server.grpc.logs import TextFormatter
from qapi_jobs.server.jobs.limits import JobLimits
from qapi_jobs.transcoder import decode_arguments
from qapi_jobs.v1 import service_pb2, service_pb2_grpc, watch_pb2, watch_pb2_grpc

from .support import failure, healthy, reason_of, write

EXHAUSTED = grpc.StatusCode.RESOURCE_EXHAUSTED
GUARD_TIMEOUT = 30.0


@contextlib.asynccontextmanager
async def limited(
    config: ServerConfig, **fields: Any
) -> AsyncIterator[tuple[JobsServer, grpc.aio.Channel]]:
    """A server with the given limits (``jobs`` for JobLimits' fields), and a channel to it."""
    jobs = JobLimits(**fields.pop("jobs", {}))
    server = await build_server(replace(config, limits=LimitsConfig(jobs=jobs, **fields)))
    await server.start()
    try:
        async with grpc.aio.insecure_channel(server.address) as channel:
            yield server, channel
    finally:
        await server.stop()


def backup(job_id: str, target: str, **members: Any) -> service_pb2.DriveBackupRequest:
    arguments = {"job-id": job_id, "device": "disk.img", "target": target, "sync": "full"}
    return decode_arguments(service_pb2.DriveBackupRequest, arguments | members)


async def test_request_size(config: ServerConfig) -> None:
    async with limited(config, max_request_size=64 << 10) as (_, channel):
        stub = service_pb2_grpc.JobsServiceStub(channel)
        error = await failure(stub.JobPause(service_pb2.JobPauseRequest(id="x" * (100 << 10))))
        assert error.code() == EXHAUSTED
        assert "larger than max" in (error.details() or "")
        assert await healthy(channel)


async def test_job_id_length(config: ServerConfig, data_dir: Path) -> None:
    async with limited(config, jobs={"max_job_id_length": 16}) as (_, channel):
        write(data_dir / "disk.img", b"d" * 4096)
        stub = service_pb2_grpc.JobsServiceStub(channel)
        error = await failure(stub.DriveBackup(backup("j" * 17, "copy.img")))
        assert (error.code(), reason_of(error)) == (EXHAUSTED, "MAX_JOB_ID_LENGTH")
        assert "max-job-id-length is 16" in (error.details() or "")
        assert not (data_dir / "copy.img").exists()


async def test_number_of_jobs_and_of_running_jobs(config: ServerConfig, data_dir: Path) -> None:
    async with limited(config, jobs={"max_jobs": 2, "max_running_jobs": 1}) as (server, channel):
        write(data_dir / "disk.img", b"d" * (1 << 20))
        stub = service_pb2_grpc.JobsServiceStub(channel)
        # A mirror stays at work until it is completed or cancelled.
        mirror = {"job-id": "slow", "device": "disk.img", "target": "a.img", "sync": "full"}
        await stub.DriveMirror(
            decode_arguments(service_pb2.DriveMirrorRequest, mirror | {"auto-dismiss": False})
        )
        error = await failure(stub.DriveBackup(backup("second", "b.img")))
        assert (error.code(), reason_of(error)) == (EXHAUSTED, "MAX_RUNNING_JOBS")
        assert "max-running-jobs (1)" in (error.details() or "")
        await stub.JobCancel(service_pb2.JobCancelRequest(id="slow"))
        await _until(server, lambda statuses: statuses.get("slow") == "concluded")
        await stub.DriveBackup(backup("second", "b.img", **{"auto-dismiss": False}))
        await _until(server, lambda statuses: statuses.get("second") == "concluded")
        error = await failure(stub.DriveBackup(backup("third", "c.img")))
        assert (error.code(), reason_of(error)) == (EXHAUSTED, "MAX_JOBS")
        assert "max-jobs (2)" in (error.details() or "")
        assert await healthy(channel)


async def _until(server: JobsServer, done: Any) -> None:
    manager = server.manager
    async with asyncio.timeout(GUARD_TIMEOUT):
        version = manager.change_version
        while not done({info.id: info.status.value for info in manager.query_jobs()}):
            version = await manager.wait_for_change(version)


async def test_streams_per_connection(config: ServerConfig) -> None:
    async with limited(config, max_streams_per_connection=2) as (_, channel):
        watch = watch_pb2_grpc.WatchServiceStub(channel)
        calls = [watch.WatchJobs(watch_pb2.WatchJobsRequest()) for _ in range(2)]
        for call in calls:
            await call.read()
        extra = watch.WatchJobs(watch_pb2.WatchJobsRequest())
        error = await failure(extra.read())
        assert (error.code(), reason_of(error)) == (EXHAUSTED, "MAX_STREAMS_PER_CONNECTION")
        assert "max-streams-per-connection (2)" in (error.details() or "")
        assert await healthy(channel)
        calls[0].cancel()
        # A slot is free again once the server has seen the cancel.
        async with asyncio.timeout(GUARD_TIMEOUT):
            while True:
                again = watch.WatchJobs(watch_pb2.WatchJobsRequest())
                try:
                    await again.read()
                    break
                except grpc.aio.AioRpcError as error:
                    assert reason_of(error) == "MAX_STREAMS_PER_CONNECTION"
        for call in (calls[1], again):
            call.cancel()


async def test_idle_connections_are_closed(config: ServerConfig) -> None:
    async with limited(config, idle_timeout=1.0) as (_, channel):
        assert await healthy(channel)
        async with asyncio.timeout(GUARD_TIMEOUT):
            state = channel.get_state()
            while state is grpc.ChannelConnectivity.READY:
                await channel.wait_for_state_change(state)
                state = channel.get_state()
        assert state in (
            grpc.ChannelConnectivity.IDLE,
            grpc.ChannelConnectivity.CONNECTING,
            grpc.ChannelConnectivity.TRANSIENT_FAILURE,
        )


async def test_undecodable_requests_are_invalid_arguments(channel: grpc.aio.Channel) -> None:
    garbage = b"\xff\xff\xff\xff"
    for method in ("/qapi_jobs.v1.JobsService/JobPause", "/qapi_jobs.v1.WatchService/WatchJobs"):
        if method.endswith("WatchJobs"):
            stream: Any = channel.unary_stream(method)
            error = await failure(stream(garbage).read())
        else:
            unary: Any = channel.unary_unary(method)
            error = await failure(unary(garbage))
        assert (error.code(), reason_of(error)) == (
            grpc.StatusCode.INVALID_ARGUMENT,
            "UNDECODABLE_REQUEST",
        )
        assert "class" not in (error.details() or "")


async def test_echoes_of_client_input_are_bounded_and_escaped(
    stub: service_pb2_grpc.JobsServiceAsyncStub, caplog: pytest.LogCaptureFixture
) -> None:
    forged = "a\n2026-01-01T00:00:00 INFO qapi_jobs: admin logged in"
    with caplog.at_level(logging.INFO):
        error = await failure(stub.JobPause(service_pb2.JobPauseRequest(id="x" * 500_000)))
        assert error.code() == grpc.StatusCode.NOT_FOUND
        assert len(error.details() or "") <= 2100
        await failure(stub.JobPause(service_pb2.JobPauseRequest(id=forged)))
    formatter = TextFormatter()
    lines = [line for r in caplog.records for line in formatter.format(r).splitlines()]
    assert lines
    assert not [line for line in lines if line.startswith("2026-01-01")], "a forged log line"
    assert max(len(line) for line in lines) < 5000
