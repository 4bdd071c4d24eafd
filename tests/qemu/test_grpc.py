"""The gRPC service with ``engine="qemu"``: the same API, jobs run by qemu-storage-daemon."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from qapi_jobs.client import AsyncJobsClient, EventItem
from qapi_jobs.client.cli.output import event_line, item_json
from qapi_jobs.server.engines.qemu.jobs import QemuJobs
from qapi_jobs.server.grpc.app import JobsServer, build_server
from qapi_jobs.server.grpc.config import ServerConfig
from qapi_jobs.transcoder import decode_arguments
from qapi_jobs.v1 import service_pb2, service_pb2_grpc
from tests.support.errors import error_info

from .conftest import WAIT, until
from .images import MIB, create, info, same, write


@pytest.fixture
async def server(qsd: str, data_dir: Path) -> AsyncIterator[JobsServer]:
    config = ServerConfig(
        data_dir=data_dir,
        listen=("127.0.0.1:0",),
        engine="qemu",
        qemu_storage_daemon=qsd,
        shutdown_grace=5.0,
    )
    async with await build_server(config) as running:
        yield running


@pytest.fixture
async def channel(server: JobsServer) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(server.address) as opened:
        yield opened


async def test_jobs_run_in_the_daemon(
    server: JobsServer, channel: grpc.aio.Channel, data_dir: Path
) -> None:
    assert isinstance(server.manager, QemuJobs)
    stub = service_pb2_grpc.JobsServiceStub(channel)
    source = create(data_dir / "src.qcow2")
    write(source, 5, 0, MIB)
    events = server.manager.subscribe()
    request = decode_arguments(
        service_pb2.DriveBackupRequest,
        {"job-id": "b", "device": "src.qcow2", "target": "copy.qcow2", "sync": "full",
         "auto-dismiss": False},
    )  # fmt: skip
    await stub.DriveBackup(request)
    await until(events, "b", "concluded")
    (job,) = (await stub.QueryJobs(service_pb2.QueryJobsRequest())).result
    assert (job.id, job.current_progress) == ("b", 4 * MIB)
    await stub.JobDismiss(service_pb2.JobDismissRequest(id="b"))
    assert info(data_dir / "copy.qcow2")["format"] == "qcow2"
    assert same(source, data_dir / "copy.qcow2")


async def test_refusals_are_qemus_with_grpc_codes(channel: grpc.aio.Channel) -> None:
    stub = service_pb2_grpc.JobsServiceStub(channel)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub.JobPause(service_pb2.JobPauseRequest(id="ghost"))
    assert refused.value.code() == grpc.StatusCode.NOT_FOUND
    assert refused.value.details() == "Job not found"
    assert error_info(refused.value).reason == "JOB_NOT_FOUND"


async def test_health_follows_the_daemon(server: JobsServer, channel: grpc.aio.Channel) -> None:
    health: Any = health_pb2_grpc.HealthStub(channel)  # typed for sync channels only
    watch = health.Watch(health_pb2.HealthCheckRequest(service=""))
    serving, not_serving = (
        health_pb2.HealthCheckResponse.SERVING,
        health_pb2.HealthCheckResponse.NOT_SERVING,
    )
    async with asyncio.timeout(WAIT):
        assert (await watch.read()).status == serving
        assert isinstance(server.manager, QemuJobs)
        process = server.manager.daemon.process
        assert process is not None
        os.kill(process.pid, signal.SIGKILL)
        assert (await watch.read()).status == not_serving
        assert (await watch.read()).status == serving
    watch.cancel()
    assert server.manager.restarts == 1


async def test_watchers_see_which_events_the_server_made_up(
    server: JobsServer, channel: grpc.aio.Channel, data_dir: Path
) -> None:
    assert isinstance(server.manager, QemuJobs)
    write(create(data_dir / "src.qcow2"), 5, 0, MIB)
    client = AsyncJobsClient(channel=channel)
    items = client.watch_events(after_sequence=0)
    request = decode_arguments(
        service_pb2.DriveBackupRequest,
        {"job-id": "b", "device": "src.qcow2", "target": "copy.qcow2", "sync": "full",
         "speed": 65536},
    )  # fmt: skip
    await service_pb2_grpc.JobsServiceStub(channel).DriveBackup(request)
    seen: list[tuple[str | None, bool]] = []
    last: EventItem | None = None
    async with asyncio.timeout(WAIT):
        async for item in items:
            assert isinstance(item, EventItem)
            last = item
            seen.append((item.data.get("status"), item.synthetic))
            if item.data.get("status") == "running" and len(seen) == 2:
                process = server.manager.daemon.process
                assert process is not None
                os.kill(process.pid, signal.SIGKILL)
            if item.data.get("status") == "null":
                break
    await items.aclose()
    # QEMU's own events, then what the server says for the daemon that died.
    assert seen[:2] == [("created", False), ("running", False)]
    assert seen[-4:] == [("aborting", True), (None, True), ("concluded", True), ("null", True)]
    assert last is not None
    assert "(synthetic)" in event_line(last) and item_json(last)["synthetic"] is True
