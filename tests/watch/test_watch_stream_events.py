"""JobsService.StreamEvents (served by WatchServicer.stream_events): the live QMP-like feed."""

from __future__ import annotations

import grpc

from qapi_jobs.server.grpc.watch import WatchSettings
from qapi_jobs.v1 import job_pb2, service_pb2
from tests.support.errors import error_info
from tests.support.watch_rig import Rig, next_message, open_rig, publish_noise


async def test_live_events_from_now_on(rig: Rig) -> None:
    publish_noise(rig.manager, 2)  # before the stream: not delivered
    call = rig.jobs.StreamEvents(service_pb2.StreamEventsRequest())
    await rig.manager.until_subscribed(1)
    driver = await rig.start_job("a")
    driver.finish()
    await rig.until(lambda: not rig.manager.query_jobs())
    records = rig.manager.events.events_after(2)

    received = [await next_message(call) for _ in records]
    kinds = [message.event.WhichOneof("kind") for message in received]
    assert kinds == [
        "job_status_change" if record.name == "JOB_STATUS_CHANGE" else record.name.lower()
        for record in records
    ]
    first = received[0].event
    assert first.job_status_change.id == "a"
    assert first.job_status_change.status == job_pb2.JOB_STATUS_CREATED
    assert abs(first.timestamp.ToNanoseconds() / 1e9 - records[0].timestamp) < 1e-5
    (completed,) = [m.event for m in received if m.event.HasField("block_job_completed")]
    assert (completed.block_job_completed.device, completed.block_job_completed.len) == ("a", 100)
    call.cancel()


async def test_slow_stream_events_watcher_is_aborted() -> None:
    rig = await open_rig(WatchSettings(max_lag=10))
    try:
        call = rig.jobs.StreamEvents(service_pb2.StreamEventsRequest())
        await rig.manager.until_subscribed(1)
        publish_noise(rig.manager, 50)  # at once: more than max_lag before it can read
        try:
            await next_message(call)
        except grpc.aio.AioRpcError as error:
            assert error.code() == grpc.StatusCode.ABORTED
            assert error_info(error).reason == "WATCHER_TOO_SLOW"
        else:
            raise AssertionError("expected ABORTED")
    finally:
        await rig.close()
