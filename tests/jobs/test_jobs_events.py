"""The event log: numbering, retention, resumption, slow subscribers, snapshots."""

from __future__ import annotations

import asyncio

import pytest

from qapi_jobs.server.jobs.events import (
    EventLog,
    EventRecord,
    EventsExpired,
    SubscriberDropped,
)
from qapi_jobs.server.jobs.manager import JobManager
from tests.support.harness import Finish, Harness


def _publish(log: EventLog, count: int) -> None:
    for index in range(count):
        log.publish("E", {"n": index})


def test_sequence_numbers_and_record_shape() -> None:
    clock = iter([1700000000.25, 1700000001.5])
    log = EventLog(clock=lambda: next(clock), instance_id="abc")
    first = log.publish("JOB_STATUS_CHANGE", {"id": "j", "status": "created"})
    second = log.publish("X", {})
    assert (first.seq, second.seq, log.last_seq, log.oldest_seq) == (1, 2, 2, 1)
    assert first.to_qmp() == {
        "event": "JOB_STATUS_CHANGE",
        "data": {"id": "j", "status": "created"},
        "timestamp": {"seconds": 1700000000, "microseconds": 250000},
    }
    with pytest.raises(TypeError):
        first.data["id"] = "k"  # type: ignore[index]
    assert log.instance_id == "abc"
    assert EventLog().instance_id != EventLog().instance_id


def test_retention_and_reading_after_a_sequence_number() -> None:
    log = EventLog(retention=5)
    assert log.events_after(0) == []
    assert log.oldest_seq == 1
    _publish(log, 12)
    assert (log.oldest_seq, log.last_seq) == (8, 12)
    assert [record.seq for record in log.events_after(7)] == [8, 9, 10, 11, 12]
    assert [record.seq for record in log.events_after(9, limit=2)] == [10, 11]
    assert log.events_after(12) == []
    with pytest.raises(EventsExpired) as caught:
        log.events_after(6)
    assert caught.value.oldest_retained == 8
    assert "the oldest retained event is 8" in str(caught.value)
    with pytest.raises(ValueError, match="beyond the newest event"):
        log.events_after(13)


async def test_subscribe_resumes_from_a_retained_sequence_number() -> None:
    log = EventLog(retention=100)
    _publish(log, 5)
    subscription = log.subscribe(2)
    assert [record.seq for record in subscription.get_nowait()] == [3, 4, 5]
    live = log.subscribe()
    assert live.get_nowait() == []
    log.publish("E", {})
    assert [record.seq for record in await live.next_batch()] == [6]
    assert subscription.next_seq == 6
    with pytest.raises(EventsExpired):
        EventLog(retention=2).subscribe(-5)


async def test_waiting_subscriber_is_woken_by_publish() -> None:
    log = EventLog()
    subscription = log.subscribe()
    reader = asyncio.ensure_future(anext(subscription))
    await asyncio.sleep(0)
    assert not reader.done()
    log.publish("E", {"n": 1})
    record = await reader
    assert (record.seq, record.name) == (1, "E")


async def test_slow_subscriber_is_dropped_with_a_resume_point() -> None:
    log = EventLog(retention=1000, max_lag=10)
    slow = log.subscribe()
    fast = log.subscribe(max_lag=100)
    _publish(log, 4)
    assert len(slow.get_nowait(2)) == 2
    _publish(log, 20)
    assert len(fast.get_nowait(1000)) == 24
    with pytest.raises(SubscriberDropped) as caught:
        await slow.next_batch()
    assert caught.value.resume_from == 3
    assert "resume from sequence number 3" in str(caught.value)
    assert slow.closed
    with pytest.raises(SubscriberDropped):
        slow.get_nowait()
    again = log.subscribe(caught.value.resume_from - 1)
    assert [record.seq for record in again.get_nowait(3)] == [3, 4, 5]


async def test_replayed_backlog_does_not_count_against_the_lag_limit() -> None:
    log = EventLog(retention=1000, max_lag=5)
    _publish(log, 50)
    replay = log.subscribe(0)
    assert [record.seq for record in replay.get_nowait(10)] == list(range(1, 11))
    _publish(log, 5)  # five new events behind: still within the limit
    assert len(replay.get_nowait(1000)) == 45
    _publish(log, 6)
    with pytest.raises(SubscriberDropped) as caught:
        replay.get_nowait()
    assert caught.value.resume_from == 56


async def test_subscriber_overtaken_by_retention_is_dropped() -> None:
    log = EventLog(retention=4, max_lag=100)
    subscription = log.subscribe()
    _publish(log, 6)
    with pytest.raises(SubscriberDropped) as caught:
        subscription.get_nowait()
    assert caught.value.resume_from == 1
    assert "no longer retained" in caught.value.reason


async def test_close_ends_a_waiting_reader() -> None:
    log = EventLog()
    subscription = log.subscribe()
    assert log.subscriber_count == 1
    reader = asyncio.ensure_future(subscription.next_batch())
    await asyncio.sleep(0)
    subscription.close()
    assert await reader == []
    assert log.subscriber_count == 0
    with pytest.raises(StopAsyncIteration):
        await anext(subscription)


async def test_closing_the_log_drains_then_ends_iteration() -> None:
    log = EventLog()
    subscription = log.subscribe()
    _publish(log, 3)
    log.close()
    async with subscription:
        seen = [record.seq async for record in subscription]
    assert seen == [1, 2, 3]


async def test_cancelled_reader_does_not_disturb_others() -> None:
    log = EventLog()
    first, second = log.subscribe(), log.subscribe()
    reader_one = asyncio.ensure_future(first.next_batch())
    reader_two = asyncio.ensure_future(second.next_batch())
    await asyncio.sleep(0)
    reader_one.cancel()
    await asyncio.sleep(0)
    log.publish("E", {})
    assert [record.seq for record in await reader_two] == [1]
    assert [record.seq for record in await first.next_batch()] == [1]


async def test_publish_with_many_waiting_subscribers_delivers_to_all() -> None:
    log = EventLog(max_lag=50)
    subscriptions = [log.subscribe() for _ in range(500)]
    readers = [asyncio.ensure_future(s.next_batch()) for s in subscriptions]
    await asyncio.sleep(0)
    for index in range(3):
        log.publish("E", {"n": index})
    batches = await asyncio.gather(*readers)
    assert all([record.seq for record in batch] == [1, 2, 3] for batch in batches)


# --------------------------------------------------------- with a manager


async def test_snapshot_and_subscribe_has_no_gap_and_no_overlap(harness: Harness) -> None:
    m = harness.manager
    driver = await harness.start("a", auto_dismiss=False)
    snapshot, subscription = m.snapshot_and_subscribe()
    assert snapshot.last_seq == m.events.last_seq == 2
    assert snapshot.instance_id == m.instance_id
    assert [(info.id, info.status.value) for info in snapshot.jobs] == [("a", "running")]
    assert [info.device for info in snapshot.block_jobs] == ["a"]
    driver.feed(Finish())
    await harness.settle()
    records: list[EventRecord] = subscription.get_nowait()
    assert records[0].seq == snapshot.last_seq + 1
    assert [record.data.get("status") for record in records] == [
        "waiting",
        "pending",
        None,
        "concluded",
    ]


async def test_manager_subscription_sees_every_event(harness: Harness) -> None:
    subscription = harness.manager.subscribe(0)
    driver = await harness.start("a")
    driver.feed(Finish())
    await harness.settle()
    seqs = [record.seq for record in subscription.get_nowait()]
    assert seqs == list(range(1, harness.manager.events.last_seq + 1))


async def test_retention_is_configurable_on_the_manager() -> None:
    manager = JobManager(event_retention=3, subscriber_max_lag=2, instance_id="fixed")
    assert (manager.events.retention, manager.events.max_lag) == (3, 2)
    assert manager.instance_id == "fixed"
    await manager.shutdown()
    assert manager.events.closed
