"""Ending streams: close_all at shutdown, the manager shutting down, and client cancels."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import pytest

from qapi_jobs.v1 import service_pb2, watch_pb2, watch_pb2_grpc
from tests.support.errors import error_info
from tests.support.watch_rig import (
    NO_WINDOW_GROWTH,
    Registration,
    Rig,
    eventually,
    failure_of,
    open_rig,
    publish_noise,
    read_events,
    read_until_sequence,
)


async def _open_one_of_each(rig: Rig) -> list[Any]:
    """Open every kind of stream and make sure the server has each of them running."""
    start = publish_noise(rig.manager, 1)
    live = rig.watch.WatchEvents(watch_pb2.WatchEventsRequest(after_sequence=start - 1))
    await read_events(live, 1)
    snapshot = rig.watch.WatchEvents(watch_pb2.WatchEventsRequest(send_initial_snapshot=True))
    await read_events(snapshot, 1)
    jobs = rig.watch.WatchJobs(watch_pb2.WatchJobsRequest())
    await jobs.read()
    opened = rig.manager.subscriptions_opened
    stream = rig.jobs.StreamEvents(service_pb2.StreamEventsRequest())
    await rig.manager.until_subscribed(opened + 1)
    await eventually(lambda: rig.servicer.open_streams == 4)
    return [live, snapshot, jobs, stream]


@pytest.mark.parametrize("registration", ["bytes", "generated"])
async def test_close_all_ends_every_stream_with_unavailable(registration: Registration) -> None:
    rig = await open_rig(registration=registration)
    try:
        calls = await _open_one_of_each(rig)
        last = rig.manager.events.last_seq
        rig.servicer.close_all()
        errors = [await asyncio.wait_for(failure_of(call), 10) for call in calls]
        for error in errors:
            assert error.code() == grpc.StatusCode.UNAVAILABLE
            assert "server shutting down" in (error.details() or "")
            assert error_info(error).reason == "SERVER_SHUTTING_DOWN"
        for error in errors[:2]:  # the WatchEvents streams say where to resume
            assert error_info(error).metadata["resume_after_sequence"] == str(last)
        await asyncio.wait_for(rig.servicer.wait_closed(), 10)
        assert rig.manager.events.subscriber_count == 0

        refused = await failure_of(rig.watch.WatchEvents(watch_pb2.WatchEventsRequest()))
        assert refused.code() == grpc.StatusCode.UNAVAILABLE
        refused = await failure_of(rig.watch.WatchJobs(watch_pb2.WatchJobsRequest()))
        assert refused.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        await rig.close()


async def test_close_all_ends_a_stream_stuck_behind_a_slow_client() -> None:
    rig = await open_rig()
    try:
        stub = watch_pb2_grpc.WatchServiceStub(rig.new_channel(NO_WINDOW_GROWTH))
        stuck = stub.WatchEvents(watch_pb2.WatchEventsRequest(after_sequence=0))
        await rig.manager.until_subscribed(1)
        (cursor,) = rig.manager.subscriptions
        pacer = rig.watch.WatchEvents(watch_pb2.WatchEventsRequest(after_sequence=0))
        last = 0
        while cursor.lag < 40:  # its writes are blocked: it stopped reading the log
            before, last = last, publish_noise(rig.manager, 20, size=1000)
            await read_until_sequence(pacer, last, after=before)

        rig.servicer.close_all()
        received: list[int] = []
        with pytest.raises(grpc.aio.AioRpcError) as failure:
            async for message in stuck:
                received.append(message.event.sequence)
        assert failure.value.code() == grpc.StatusCode.UNAVAILABLE
        resume_after = error_info(failure.value).metadata["resume_after_sequence"]
        assert received == list(range(1, len(received) + 1))
        assert resume_after == str(received[-1])
        assert received[-1] < last
        pacer.cancel()
    finally:
        await rig.close()


async def test_manager_shutdown_ends_event_streams(rig: Rig) -> None:
    call = rig.watch.WatchEvents(watch_pb2.WatchEventsRequest(send_initial_snapshot=True))
    await read_events(call, 1)
    await rig.manager.shutdown()
    error = await failure_of(call)
    assert error.code() == grpc.StatusCode.UNAVAILABLE
    assert error_info(error).reason == "SERVER_SHUTTING_DOWN"


@pytest.mark.parametrize("registration", ["bytes", "generated"])
async def test_client_cancel_releases_everything(registration: Registration) -> None:
    rig = await open_rig(registration=registration)
    try:
        await rig.start_job("a")
        calls = await _open_one_of_each(rig)
        watch_one = rig.watch.WatchJobs(watch_pb2.WatchJobsRequest(job_id="a"))
        await watch_one.read()
        assert rig.manager.events.subscriber_count == 3
        for call in [*calls, watch_one]:
            call.cancel()
        await eventually(lambda: rig.servicer.open_streams == 0)
        assert rig.manager.events.subscriber_count == 0
    finally:
        await rig.close()
