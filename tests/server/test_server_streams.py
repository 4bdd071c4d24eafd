"""The event streams are wired in: JobsService.StreamEvents, WatchService, and their shutdown."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import grpc
import pytest

from qapi_jobs.server.grpc.app import JobsServer, build_server
from qapi_jobs.server.grpc.config import ServerConfig
from qapi_jobs.transcoder import decode_arguments, encode_event
from qapi_jobs.v1 import job_pb2, service_pb2, service_pb2_grpc, watch_pb2, watch_pb2_grpc
from tests.support.errors import error_info
from tests.support.events import Events
from tests.support.images import MIB
from tests.support.timeouts import GUARD_TIMEOUT

if TYPE_CHECKING:
    from qapi_jobs.v1.service_pb2_grpc import JobsServiceAsyncStub as Stub
    from qapi_jobs.v1.watch_pb2_grpc import WatchServiceAsyncStub as WatchStub


def create_request(job_id: str) -> service_pb2.BlockdevCreateRequest:
    options = {"driver": "raw", "filename": f"{job_id}.img", "size": MIB}
    return decode_arguments(
        service_pb2.BlockdevCreateRequest, {"job-id": job_id, "options": options}
    )


async def test_stream_events_delivers_qmp_events(stub: Stub) -> None:
    stream = stub.StreamEvents(service_pb2.StreamEventsRequest())
    await stream.wait_for_connection()
    await stub.BlockdevCreate(create_request("c1"))
    statuses: list[str] = []
    async with asyncio.timeout(GUARD_TIMEOUT):
        async for response in stream:
            qmp = encode_event(response.event)
            assert qmp["event"] == "JOB_STATUS_CHANGE"
            statuses.append(qmp["data"]["status"])
            if statuses[-1] == "concluded":
                break
    stream.cancel()
    assert statuses == ["created", "running", "waiting", "pending", "concluded"]
    await stub.JobDismiss(service_pb2.JobDismissRequest(id="c1"))


async def test_watch_events_starts_with_a_snapshot(
    stub: Stub, watch_stub: WatchStub, events: Events
) -> None:
    await stub.BlockdevCreate(create_request("c1"))
    await events.until("c1:concluded")
    stream = watch_stub.WatchEvents(watch_pb2.WatchEventsRequest(send_initial_snapshot=True))
    snapshot: list[tuple[str, int]] = []
    async with asyncio.timeout(GUARD_TIMEOUT):
        async for response in stream:
            if response.WhichOneof("item") == "snapshot_end":
                break
            snapshot.append((response.snapshot.job.id, response.snapshot.job.status))
    stream.cancel()
    assert snapshot == [("c1", job_pb2.JOB_STATUS_CONCLUDED)]
    await stub.JobDismiss(service_pb2.JobDismissRequest(id="c1"))


async def test_watch_jobs_is_served(stub: Stub, watch_stub: WatchStub) -> None:
    await stub.BlockdevCreate(create_request("c1"))
    stream = watch_stub.WatchJobs(watch_pb2.WatchJobsRequest(job_id="c1"))
    async with asyncio.timeout(GUARD_TIMEOUT):
        async for response in stream:
            if [job.status for job in response.jobs] == [job_pb2.JOB_STATUS_CONCLUDED]:
                break
    await stub.JobDismiss(service_pb2.JobDismissRequest(id="c1"))
    stream.cancel()


async def ended_with(stream: Any) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        async for _ in stream:
            pass
    return caught.value


async def test_stop_ends_every_stream_at_once(config: ServerConfig) -> None:
    # A grace far beyond the guard timeout: stop() must not wait it out for open streams.
    server: JobsServer = await build_server(replace(config, shutdown_grace=3 * GUARD_TIMEOUT))
    await server.start()
    async with grpc.aio.insecure_channel(server.address) as channel:
        stub = service_pb2_grpc.JobsServiceStub(channel)
        watch = watch_pb2_grpc.WatchServiceStub(channel)
        qmp_events = stub.StreamEvents(service_pb2.StreamEventsRequest())
        watch_events = watch.WatchEvents(watch_pb2.WatchEventsRequest())
        await qmp_events.wait_for_connection()
        await watch_events.wait_for_connection()
        await stub.QueryJobs(service_pb2.QueryJobsRequest())
        async with asyncio.timeout(GUARD_TIMEOUT):
            stopping = asyncio.create_task(server.stop())
            for stream in (qmp_events, watch_events):
                error = await ended_with(stream)
                assert error.code() == grpc.StatusCode.UNAVAILABLE
                assert error_info(error).reason == "SERVER_SHUTTING_DOWN"
            await stopping
