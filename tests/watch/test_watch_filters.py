"""WatchEvents: server-side filters, and heartbeats on idle streams."""

from __future__ import annotations

from google.protobuf.duration_pb2 import Duration

from qapi_jobs.server.grpc.watch import WatchSettings
from qapi_jobs.v1 import watch_pb2
from tests.support.watch_rig import Rig, open_rig, publish_noise, read_events, statuses

SHORT = Duration(nanos=100_000_000)


async def test_job_filter_applies_to_events_and_snapshot(rig: Rig) -> None:
    await rig.start_job("a")
    await rig.start_job("b")
    request = watch_pb2.WatchEventsRequest(send_initial_snapshot=True, job_ids=["b", "c"])
    call = rig.watch.WatchEvents(request)
    snapshot, end = await read_events(call, 2)
    assert snapshot.snapshot.job.id == "b"
    assert end.HasField("snapshot_end")

    await rig.start_job("c")
    rig.drivers["a"].finish()
    rig.drivers["b"].finish()
    await rig.until(lambda: [job.id for job in rig.manager.query_jobs()] == ["c"])
    received = await read_events(call, 2 + 5)  # c starts; b runs to the end
    assert {job for job, _ in statuses(received)} == {"b", "c"}
    kinds = [message.event.event.WhichOneof("kind") for message in received]
    assert kinds.count("block_job_completed") == 1  # b's, keyed by "device"
    sequences = [message.event.sequence for message in received]
    assert sequences == sorted(sequences)
    call.cancel()


async def test_event_name_filter(rig: Rig) -> None:
    request = watch_pb2.WatchEventsRequest(after_sequence=0, event_names=["BLOCK_JOB_COMPLETED"])
    call = rig.watch.WatchEvents(request)
    driver = await rig.start_job("a")
    driver.finish()
    (message,) = await read_events(call, 1)
    completed = message.event.event.block_job_completed
    assert completed.device == "a"
    (record,) = rig.manager.events.events_after(message.event.sequence - 1, 1)
    assert record.name == "BLOCK_JOB_COMPLETED"
    call.cancel()


async def test_idle_stream_gets_heartbeats_with_the_latest_sequence(rig: Rig) -> None:
    publish_noise(rig.manager, 4)
    request = watch_pb2.WatchEventsRequest(heartbeat_interval=SHORT)
    call = rig.watch.WatchEvents(request)
    (first,) = await read_events(call, 1, skip_heartbeats=False)
    assert first.heartbeat.sequence == 4
    assert first.heartbeat.instance_id == rig.manager.instance_id
    assert first.heartbeat.time.seconds > 0
    publish_noise(rig.manager, 1)
    (event,) = await read_events(call, 1)
    assert event.event.sequence == 5
    (second,) = await read_events(call, 1, skip_heartbeats=False)
    assert second.heartbeat.sequence == 5
    call.cancel()


async def test_heartbeats_report_filtered_out_events() -> None:
    rig = await open_rig(WatchSettings(heartbeat_interval=0.1))
    try:
        call = rig.watch.WatchEvents(watch_pb2.WatchEventsRequest(job_ids=["quiet"]))
        await rig.manager.until_subscribed(1)
        last = publish_noise(rig.manager, 30)
        while True:
            (message,) = await read_events(call, 1, skip_heartbeats=False)
            assert message.HasField("heartbeat"), "only heartbeats pass this filter"
            if message.heartbeat.sequence == last:
                break
        call.cancel()
    finally:
        await rig.close()


async def test_tiny_heartbeat_intervals_are_raised_to_the_minimum(rig: Rig) -> None:
    request = watch_pb2.WatchEventsRequest(heartbeat_interval=Duration(nanos=1))
    call = rig.watch.WatchEvents(request)
    messages = await read_events(call, 3, skip_heartbeats=False)
    assert all(message.HasField("heartbeat") for message in messages)
    seconds = [m.heartbeat.time.ToNanoseconds() / 1e9 for m in messages]
    # At least 100 ms apart (a lower bound only: never fails on a slow machine).
    assert seconds[2] - seconds[0] >= 0.19
    call.cancel()
