"""The event resume machine with batches: asked for, and unpacked event by event."""

from __future__ import annotations

import pytest

from qapi_jobs.client import EventItem, Heartbeat
from qapi_jobs.client.resume import EventsResume
from qapi_jobs.v1 import service_pb2, watch_pb2


def record(sequence: int, instance: str = "A") -> watch_pb2.EventRecord:
    return watch_pb2.EventRecord(sequence=sequence, instance_id=instance, event=service_pb2.Event())


def batch(*sequences: int, instance: str = "A") -> watch_pb2.WatchEventsResponse:
    events = [record(sequence, instance) for sequence in sequences]
    return watch_pb2.WatchEventsResponse(batch=watch_pb2.EventBatch(events=events))


def test_every_request_asks_for_batches() -> None:
    resume = EventsResume(snapshot=True)
    assert resume.request().batch
    resume.receive_all(
        watch_pb2.WatchEventsResponse(snapshot_end=watch_pb2.SnapshotEnd(sequence=3))
    )
    assert resume.request().batch


def test_a_batch_yields_its_events_in_order_and_moves_the_position() -> None:
    resume = EventsResume(after_sequence=4, instance_id="A")
    resume.request()
    items = resume.receive_all(batch(5, 6, 7))
    assert [item.sequence for item in items if isinstance(item, EventItem)] == [5, 6, 7]
    assert resume.request().after_sequence == 7


def test_events_already_seen_are_dropped_one_by_one() -> None:
    resume = EventsResume(after_sequence=6, instance_id="A")
    resume.request()
    items = resume.receive_all(batch(5, 6, 7, 8))
    assert [item.sequence for item in items if isinstance(item, EventItem)] == [7, 8]
    # Another instance's numbers are never taken for repeats.
    items = resume.receive_all(batch(1, 2, instance="B"))
    assert [(i.sequence, i.instance_id) for i in items if isinstance(i, EventItem)] == [
        (1, "B"),
        (2, "B"),
    ]


def test_single_responses_go_through_receive_all_as_well() -> None:
    resume = EventsResume()
    resume.request()
    beat = watch_pb2.WatchEventsResponse(heartbeat=watch_pb2.Heartbeat(sequence=9, instance_id="A"))
    (item,) = resume.receive_all(beat)
    assert isinstance(item, Heartbeat) and item.sequence == 9
    (event,) = resume.receive_all(watch_pb2.WatchEventsResponse(event=record(10)))
    assert isinstance(event, EventItem) and event.sequence == 10
    assert resume.receive_all(watch_pb2.WatchEventsResponse(event=record(10))) == []


def test_receive_refuses_a_batch() -> None:
    with pytest.raises(ValueError, match="receive_all"):
        EventsResume().receive(batch(1, 2))
