"""EventEncoder: each event is converted and serialised once, whoever asks."""

from __future__ import annotations

from qapi_jobs.server.grpc.watch_encoding import EventEncoder
from qapi_jobs.server.jobs.events import EventLog
from qapi_jobs.v1 import job_pb2, watch_pb2


def _log_with(count: int) -> EventLog:
    log = EventLog(clock=lambda: 1700000000.25, instance_id="inst")
    for i in range(count):
        log.publish("JOB_STATUS_CHANGE", {"id": f"j{i}", "status": "running"})
    return log


def test_frames_are_shared_and_serialised_once() -> None:
    log = _log_with(1)
    (record,) = log.events_after(0)
    encoder = EventEncoder("inst")
    frame = encoder.watch_frame(record)
    assert encoder.watch_frame(record) is frame
    assert frame.data is frame.data
    decoded = watch_pb2.WatchEventsResponse.FromString(frame.data)
    assert decoded.event.sequence == 1
    assert decoded.event.instance_id == "inst"
    change = decoded.event.event.job_status_change
    assert (change.id, change.status) == ("j0", job_pb2.JOB_STATUS_RUNNING)
    assert decoded.event.event.timestamp.ToNanoseconds() == 1700000000_250_000_000
    # StreamEvents shares the envelope, not the frame.
    stream = encoder.stream_frame(record)
    assert stream.message.event is not None
    assert stream.message.event == decoded.event.event


def test_cache_is_bounded() -> None:
    log = _log_with(5)
    encoder = EventEncoder("inst", capacity=2)
    records = log.events_after(0)
    first = encoder.watch_frame(records[0])
    for record in records[1:]:
        encoder.watch_frame(record)
    rebuilt = encoder.watch_frame(records[0])
    assert rebuilt is not first
    assert rebuilt.data == first.data


def test_an_event_the_schema_rejects_still_keeps_its_place() -> None:
    log = EventLog(instance_id="inst")
    record = log.publish("JOB_STATUS_CHANGE", {"id": "j", "status": "no-such-status"})
    decoded = watch_pb2.WatchEventsResponse.FromString(
        EventEncoder("inst").watch_frame(record).data
    )
    assert decoded.event.sequence == 1
    assert decoded.event.event.WhichOneof("kind") is None
    assert decoded.event.event.HasField("timestamp")


def test_a_batch_is_the_events_bytes_behind_one_header_and_is_shared() -> None:
    log = _log_with(300)
    records = log.events_after(0, 300)
    encoder = EventEncoder("inst")
    frame = encoder.watch_batch_frame(records)
    expected = watch_pb2.WatchEventsResponse(
        batch=watch_pb2.EventBatch(events=[encoder.watch_frame(r).message.event for r in records])
    )
    # 300 events need a two-byte length: the header's varint is exercised.
    assert frame.data == expected.SerializeToString()
    assert frame.message == expected
    assert encoder.watch_batch_frame(records) is frame


def test_filtered_batches_are_keyed_by_their_events() -> None:
    records = _log_with(6).events_after(0)
    encoder = EventEncoder("inst")
    ends = encoder.watch_batch_frame([records[0], records[3]])
    run = encoder.watch_batch_frame(records[0:4])
    assert run is not ends
    assert [r.sequence for r in ends.message.batch.events] == [1, 4]
    assert [r.sequence for r in run.message.batch.events] == [1, 2, 3, 4]
    assert encoder.watch_batch_frame([records[0], records[3]]) is ends
