"""Shutdown keeps its promises: calls in flight finish, watchers see the cancellations,
and an open Health.Watch does not hold the drain for the whole grace period."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from qapi_jobs.server.engines.builtin import BuiltinEngine
from qapi_jobs.server.grpc.app import build_server
from qapi_jobs.server.grpc.config import ServerConfig
from qapi_jobs.server.jobs.job import JobSpec
from qapi_jobs.transcoder import decode_arguments
from qapi_jobs.v1 import job_pb2, service_pb2, service_pb2_grpc, watch_pb2, watch_pb2_grpc
from tests.support.servers import ServerProcess, free_port

from .support import write

GUARD_TIMEOUT = 30.0
LONG_GRACE = 600.0
"""Far longer than the guard: a drain that waited for it would fail the test."""
CALLS = 20


class GatedEngine(BuiltinEngine):
    """Holds every job-starting call inside the server until the test opens the gate."""

    def __init__(self, data_dir: Path) -> None:
        super().__init__(data_dir)
        self.gate = asyncio.Event()
        self.waiting = 0
        self.all_waiting = asyncio.Event()

    async def prepare(self, command: str, arguments: Mapping[str, Any]) -> JobSpec:
        self.waiting += 1
        if self.waiting == CALLS:
            self.all_waiting.set()
        await self.gate.wait()
        return await super().prepare(command, arguments)


def create(job_id: str) -> service_pb2.BlockdevCreateRequest:
    options = {"driver": "raw", "filename": f"{job_id}.img", "size": 4096}
    return decode_arguments(
        service_pb2.BlockdevCreateRequest, {"job-id": job_id, "options": options}
    )


async def test_unary_calls_in_flight_finish(config: ServerConfig, data_dir: Path) -> None:
    engine = GatedEngine(data_dir)
    server = await build_server(config, engine=engine)
    await server.start()
    async with grpc.aio.insecure_channel(server.address) as channel:
        stub = service_pb2_grpc.JobsServiceStub(channel)
        calls = [asyncio.ensure_future(stub.BlockdevCreate(create(f"c{n}"))) for n in range(CALLS)]
        async with asyncio.timeout(GUARD_TIMEOUT):
            await engine.all_waiting.wait()
            stopping = asyncio.ensure_future(server.stop(LONG_GRACE))
            await asyncio.sleep(0)  # the stop begins while the calls are inside the server
            engine.gate.set()
            results = await asyncio.gather(*calls, return_exceptions=True)
            await stopping
    failed = [result for result in results if isinstance(result, BaseException)]
    assert failed == [], "every call that was in flight finishes"


async def test_watchers_see_the_cancellations_and_health_watch_ends(
    config: ServerConfig, data_dir: Path
) -> None:
    write(data_dir / "disk.img", b"d" * (1 << 20))
    server = await build_server(config)
    await server.start()
    async with grpc.aio.insecure_channel(server.address) as channel:
        stub = service_pb2_grpc.JobsServiceStub(channel)
        health: Any = health_pb2_grpc.HealthStub(channel)
        health_watch = health.Watch(health_pb2.HealthCheckRequest())
        assert (await health_watch.read()).status == health_pb2.HealthCheckResponse.SERVING
        watch = watch_pb2_grpc.WatchServiceStub(channel).WatchEvents(
            watch_pb2.WatchEventsRequest(after_sequence=0)
        )
        # A mirror keeps running until it is completed: only the shutdown ends it.
        arguments = {"job-id": "m1", "device": "disk.img", "target": "c.img", "sync": "full"}
        await stub.DriveMirror(decode_arguments(service_pb2.DriveMirrorRequest, arguments))
        statuses: list[int] = []
        async with asyncio.timeout(GUARD_TIMEOUT):
            while job_pb2.JOB_STATUS_RUNNING not in statuses:
                statuses.append(_status(await watch.read()))
            await server.stop(LONG_GRACE)
            try:
                while (response := await watch.read()) is not grpc.aio.EOF:
                    statuses.append(_status(response))
            except grpc.aio.AioRpcError as error:
                # Watch streams end saying where to resume: after the cancellations.
                assert error.code() == grpc.StatusCode.UNAVAILABLE
            health_seen = [item.status async for item in _rest(health_watch)]
    # The durable store keeps the stopped job, with its error (docs/durability.md).
    assert [status for status in statuses if status != -1][-2:] == [
        job_pb2.JOB_STATUS_ABORTING,
        job_pb2.JOB_STATUS_CONCLUDED,
    ]
    assert health_seen[-1] == health_pb2.HealthCheckResponse.NOT_SERVING
    assert await health_watch.code() == grpc.StatusCode.OK


def _status(response: Any) -> int:
    event = response.event.event
    if not event.HasField("job_status_change"):
        return -1
    return int(event.job_status_change.status)


async def _rest(call: Any) -> Any:
    while (item := await call.read()) is not grpc.aio.EOF:
        yield item


async def test_sigterm_with_a_health_watch_open(tmp_path: Path) -> None:
    """The real process: SIGTERM with a long grace ends at once, the watchers informed."""
    write(tmp_path / "disk.img", b"d" * (1 << 20))
    server = ServerProcess(tmp_path, free_port(), ["--shutdown-grace", str(LONG_GRACE)]).start()
    try:
        async with grpc.aio.insecure_channel(server.address) as channel:
            health: Any = health_pb2_grpc.HealthStub(channel)
            health_watch = health.Watch(health_pb2.HealthCheckRequest())
            assert (await health_watch.read()).status == health_pb2.HealthCheckResponse.SERVING
            watch = watch_pb2_grpc.WatchServiceStub(channel).WatchEvents(
                watch_pb2.WatchEventsRequest(after_sequence=0)
            )
            arguments = {"job-id": "m1", "device": "disk.img", "target": "c.img", "sync": "full"}
            stub = service_pb2_grpc.JobsServiceStub(channel)
            await stub.DriveMirror(decode_arguments(service_pb2.DriveMirrorRequest, arguments))
            statuses: list[int] = []
            async with asyncio.timeout(GUARD_TIMEOUT):
                while job_pb2.JOB_STATUS_READY not in statuses:
                    statuses.append(_status(await watch.read()))
                assert await asyncio.to_thread(server.stop) == 0
                with contextlib.suppress(grpc.aio.AioRpcError):
                    while (response := await watch.read()) is not grpc.aio.EOF:
                        statuses.append(_status(response))
                health_seen = [item.status async for item in _rest(health_watch)]
    finally:
        if server.process is not None and server.process.poll() is None:
            server.kill()
    # The durable store keeps the stopped job, with its error (docs/durability.md).
    assert [status for status in statuses if status != -1][-2:] == [
        job_pb2.JOB_STATUS_ABORTING,
        job_pb2.JOB_STATUS_CONCLUDED,
    ]
    assert health_seen[-1:] == [health_pb2.HealthCheckResponse.NOT_SERVING]
