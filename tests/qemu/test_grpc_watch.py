"""WatchEvents on both engines: the same snapshot, then the same events in the same order."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import grpc
import pytest

from qapi_jobs.server.grpc.app import JobsServer, build_server
from qapi_jobs.server.grpc.config import ServerConfig
from qapi_jobs.transcoder import decode_arguments, encode_event
from qapi_jobs.v1 import job_pb2, service_pb2, service_pb2_grpc, watch_pb2, watch_pb2_grpc

from .conftest import ENGINES, WAIT, binary_of, until
from .images import MIB, create, same, write

if TYPE_CHECKING:
    from qapi_jobs.v1.service_pb2_grpc import JobsServiceAsyncStub
    from qapi_jobs.v1.watch_pb2_grpc import WatchServiceAsyncStub

_DRAINS = {("paused", "running"), ("standby", "ready")}


@pytest.fixture(params=ENGINES)
async def server(request: pytest.FixtureRequest, data_dir: Path) -> AsyncIterator[JobsServer]:
    qemu = request.param != "builtin"
    config = ServerConfig(
        data_dir=data_dir,
        listen=("127.0.0.1:0",),
        engine="qemu" if qemu else "builtin",
        qemu_storage_daemon=binary_of(request.param) if qemu else None,
        shutdown_grace=5.0,
    )
    async with await build_server(config) as running:
        yield running


async def test_snapshot_then_the_events_of_a_backup(server: JobsServer, data_dir: Path) -> None:
    source = create(data_dir / "src.raw", "raw", 2 * MIB)
    write(source, 6, 0, MIB, "raw")
    async with grpc.aio.insecure_channel(server.address) as channel:
        stub: JobsServiceAsyncStub = service_pb2_grpc.JobsServiceStub(channel)
        watch: WatchServiceAsyncStub = watch_pb2_grpc.WatchServiceStub(channel)
        created = server.manager.subscribe()
        options = {"driver": "raw", "filename": "c.raw", "size": MIB}
        await stub.BlockdevCreate(
            decode_arguments(
                service_pb2.BlockdevCreateRequest,
                {"job-id": "c", "options": options},  # a create job stays until dismissed
            )
        )
        await until(created, "c", "concluded")
        stream = watch.WatchEvents(watch_pb2.WatchEventsRequest(send_initial_snapshot=True))
        snapshot: list[tuple[str, int]] = []
        seen: list[tuple[str, object]] = []
        sequences: list[int] = []
        async with asyncio.timeout(WAIT):
            async for response in stream:
                item = response.WhichOneof("item")
                if item == "snapshot":
                    snapshot.append((response.snapshot.job.id, response.snapshot.job.status))
                elif item == "snapshot_end":
                    await stub.DriveBackup(
                        decode_arguments(
                            service_pb2.DriveBackupRequest,
                            {
                                "job-id": "b",
                                "device": "src.raw",
                                "target": "b.raw",
                                "format": "raw",
                                "sync": "full",
                            },
                        )
                    )
                elif item == "event":
                    sequences.append(response.event.sequence)
                    event = encode_event(response.event.event)
                    status = event["data"].get("status")
                    if seen and (seen[-1][1], status) in _DRAINS:
                        seen.pop()
                    else:
                        seen.append((event["event"], status))
                    if (event["data"].get("id"), status) == ("b", "null"):
                        break
        stream.cancel()
        await stub.JobDismiss(service_pb2.JobDismissRequest(id="c"))
    assert snapshot == [("c", job_pb2.JOB_STATUS_CONCLUDED)]
    assert seen == [
        ("JOB_STATUS_CHANGE", "created"), ("JOB_STATUS_CHANGE", "running"),
        ("JOB_STATUS_CHANGE", "waiting"), ("JOB_STATUS_CHANGE", "pending"),
        ("BLOCK_JOB_COMPLETED", None), ("JOB_STATUS_CHANGE", "concluded"),
        ("JOB_STATUS_CHANGE", "null"),
    ]  # fmt: skip
    assert sequences == list(range(sequences[0], sequences[0] + len(sequences)))
    assert same(source, data_dir / "b.raw")
