"""WatchEvents: resuming after a disconnect, and the refusals that say "list again"."""

from __future__ import annotations

import grpc
from google.protobuf.duration_pb2 import Duration

from qapi_jobs.v1 import watch_pb2
from tests.support.errors import error_info
from tests.support.watch_rig import Rig, failure_of, open_rig, publish_noise, read_events, statuses


async def test_resume_after_disconnect_loses_and_repeats_nothing(rig: Rig) -> None:
    first = rig.watch.WatchEvents(watch_pb2.WatchEventsRequest(after_sequence=0))
    a = await rig.start_job("a")
    received = await read_events(first, 2)
    assert statuses(received) == [("a", "JOB_STATUS_CREATED"), ("a", "JOB_STATUS_RUNNING")]
    last = received[-1].event
    first.cancel()

    # Events while nobody watches.
    await rig.start_job("b")
    a.finish()
    await rig.until(lambda: rig.status("a").value == "null")
    newest = rig.manager.events.last_seq

    second = rig.watch.WatchEvents(
        watch_pb2.WatchEventsRequest(after_sequence=last.sequence, instance_id=last.instance_id)
    )
    resumed = await read_events(second, newest - last.sequence)
    sequences = [message.event.sequence for message in resumed]
    assert sequences == list(range(last.sequence + 1, newest + 1))
    assert statuses(resumed)[:2] == [("b", "JOB_STATUS_CREATED"), ("b", "JOB_STATUS_RUNNING")]
    assert statuses(resumed)[-1] == ("a", "JOB_STATUS_NULL")
    assert all(message.event.instance_id == rig.manager.instance_id for message in resumed)
    assert all(message.event.event.HasField("timestamp") for message in resumed)
    second.cancel()


async def test_resume_from_expired_sequence_is_out_of_range() -> None:
    rig = await open_rig(retention=8)
    try:
        publish_noise(rig.manager, 20)
        call = rig.watch.WatchEvents(
            watch_pb2.WatchEventsRequest(after_sequence=2, instance_id=rig.manager.instance_id)
        )
        error = await failure_of(call)
        assert error.code() == grpc.StatusCode.OUT_OF_RANGE
        assert "list the jobs again" in (error.details() or "")
        info = error_info(error)
        assert info.reason == "EVENTS_EXPIRED"
        assert info.metadata["oldest_sequence"] == "13"

        # The oldest retained event can still be resumed to.
        call = rig.watch.WatchEvents(watch_pb2.WatchEventsRequest(after_sequence=12))
        assert [m.event.sequence for m in await read_events(call, 8)] == list(range(13, 21))
        call.cancel()
    finally:
        await rig.close()


async def test_sequence_from_another_instance_is_out_of_range(rig: Rig) -> None:
    publish_noise(rig.manager, 3)
    call = rig.watch.WatchEvents(
        watch_pb2.WatchEventsRequest(after_sequence=1, instance_id="some-other-instance")
    )
    error = await failure_of(call)
    assert error.code() == grpc.StatusCode.OUT_OF_RANGE
    info = error_info(error)
    assert info.reason == "INSTANCE_CHANGED"
    assert info.metadata["instance_id"] == rig.manager.instance_id


async def test_sequence_never_issued(rig: Rig) -> None:
    publish_noise(rig.manager, 3)
    # Without an instance id, a future sequence number must be another instance's.
    error = await failure_of(rig.watch.WatchEvents(watch_pb2.WatchEventsRequest(after_sequence=9)))
    assert error.code() == grpc.StatusCode.OUT_OF_RANGE
    assert error_info(error).reason == "INSTANCE_CHANGED"
    # With this instance's id it is simply wrong.
    request = watch_pb2.WatchEventsRequest(after_sequence=9, instance_id=rig.manager.instance_id)
    error = await failure_of(rig.watch.WatchEvents(request))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_instance_id_without_sequence_is_not_checked(rig: Rig) -> None:
    # A client relisting after INSTANCE_CHANGED may still send its old id.
    request = watch_pb2.WatchEventsRequest(send_initial_snapshot=True, instance_id="old")
    call = rig.watch.WatchEvents(request)
    (end,) = await read_events(call, 1)
    assert end.snapshot_end.instance_id == rig.manager.instance_id
    call.cancel()


async def test_resume_with_snapshot_is_invalid(rig: Rig) -> None:
    request = watch_pb2.WatchEventsRequest(after_sequence=0, send_initial_snapshot=True)
    error = await failure_of(rig.watch.WatchEvents(request))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error_info(error).metadata["field"] == "after_sequence"


async def test_bad_filters_and_intervals_are_invalid(rig: Rig) -> None:
    bad = [
        watch_pb2.WatchEventsRequest(event_names=["JOB_STATUS_CHANGE", "NO_SUCH_EVENT"]),
        watch_pb2.WatchEventsRequest(heartbeat_interval=Duration(seconds=-1)),
    ]
    for request in bad:
        error = await failure_of(rig.watch.WatchEvents(request))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert error_info(error).reason == "INVALID_WATCH_REQUEST"
