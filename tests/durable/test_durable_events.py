"""The durable event log: written before seen, one commit per loop iteration, retention."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import pytest

from qapi_jobs.server.jobs.events import (
    EventLog,
    EventRecord,
    EventsExpired,
    JobRecordData,
    SubscriberDropped,
)
from qapi_jobs.server.store import Store, open_store
from qapi_jobs.server.store.store import COMPACT_CHUNK
from tests.durable.stores import StoreWrapper


class Clock:
    """Wall-clock time the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store(data_dir: Path) -> Iterator[Store]:
    opened = open_store(data_dir)
    try:
        yield opened
    finally:
        opened.close()


class CountingStore(StoreWrapper):
    """The real store, counting its commits."""

    def __init__(self, store: Store) -> None:
        super().__init__(store)
        self.commits: list[int] = []

    def append(
        self,
        events: Sequence[EventRecord],
        jobs: Mapping[str, JobRecordData | None],
        keep_from: int,
    ) -> None:
        self.commits.append(len(events))
        super().append(events, jobs, keep_from)


async def test_subscribers_see_an_event_only_once_it_is_written(store: Store) -> None:
    counting = CountingStore(store)
    log = EventLog(journal=counting)
    subscription = log.subscribe()
    for i in range(100):
        log.publish("JOB_STATUS_CHANGE", {"id": f"j{i}", "status": "created"})
    assert subscription.get_nowait() == []  # published, not yet written
    assert store.read_events(1, 1000) == []
    batch = await subscription.next_batch(1000)
    assert [r.seq for r in batch] == list(range(1, 101))
    assert store.read_events(1, 1000) == batch  # in the store by the time it is seen
    assert counting.commits == [100]  # one commit for the whole loop iteration


async def test_numbers_and_identity_continue_in_the_next_process(data_dir: Path) -> None:
    store = open_store(data_dir)
    log = EventLog(journal=store)
    for i in range(3):
        log.publish("JOB_STATUS_CHANGE", {"id": f"j{i}", "status": "created"})
    log.flush()
    store.close()
    store = open_store(data_dir)
    try:
        log2 = EventLog(journal=store)
        assert (log2.instance_id, log2.last_seq) == (log.instance_id, 3)
        resumed = log2.subscribe(1)
        assert [r.seq for r in await resumed.next_batch()] == [2, 3]
        log2.publish("JOB_STATUS_CHANGE", {"id": "j3", "status": "created"})
        assert [r.seq for r in await resumed.next_batch()] == [4]
        # One read across the restart: the earlier process's events from the store.
        assert [r.data["id"] for r in log2.events_after(1)] == ["j1", "j2", "j3"]
    finally:
        store.close()


class ThreadNotingStore(StoreWrapper):
    """The real store, noting which thread reads events and able to lose some (compaction)."""

    def __init__(self, store: Store) -> None:
        super().__init__(store)
        self.readers: list[int] = []
        self.lose_first = False

    def read_events(self, first: int, last: int) -> list[EventRecord]:
        self.readers.append(threading.get_ident())
        return super().read_events(first + self.lose_first, last)


async def test_a_far_resume_reads_the_store_off_the_loop(data_dir: Path) -> None:
    store = open_store(data_dir)
    log = EventLog(journal=store)
    for i in range(5):
        log.publish("JOB_STATUS_CHANGE", {"id": f"j{i}", "status": "created"})
    log.flush()
    store.close()
    store = open_store(data_dir)
    try:
        noting = ThreadNotingStore(store)
        log2 = EventLog(journal=noting)
        resumed = log2.subscribe(1)
        assert resumed.get_nowait() == []  # never a disk read on the caller's thread
        assert [r.seq for r in await resumed.next_batch(2)] == [2, 3]
        assert [r.seq for r in await resumed.next_batch()] == [4, 5]
        assert noting.readers and threading.get_ident() not in noting.readers
        # Events compacted away between the check and the read: a gap is never delivered.
        noting.lose_first = True
        gapped = log2.subscribe(2)
        with pytest.raises(SubscriberDropped):
            await gapped.next_batch()
    finally:
        store.close()


def test_retention_by_count_drops_old_events_from_the_store(data_dir: Path) -> None:
    store = open_store(data_dir)
    log = EventLog(journal=store, retention=10)
    for i in range(30):
        log.publish("JOB_STATUS_CHANGE", {"id": f"j{i}", "status": "created"})
    log.flush()
    assert store.stored_events == 10
    store.close()
    store = open_store(data_dir)
    try:
        log = EventLog(journal=store, retention=10)
        assert (log.oldest_seq, log.last_seq) == (21, 30)
        with pytest.raises(EventsExpired):
            log.subscribe(19)
        assert [r.seq for r in log.events_after(20)] == list(range(21, 31))
    finally:
        store.close()


def test_retention_by_age(data_dir: Path) -> None:
    clock = Clock()
    store = open_store(data_dir)
    log = EventLog(journal=store, clock=clock, max_age=60)
    for i in range(5):
        log.publish("JOB_STATUS_CHANGE", {"id": f"old{i}", "status": "created"})
    log.flush()
    clock.now += 61
    log.publish("JOB_STATUS_CHANGE", {"id": "new", "status": "created"})
    log.flush()
    assert log.oldest_seq == 6
    assert store.stored_events == 1
    with pytest.raises(EventsExpired):
        log.subscribe(4)
    store.close()
    # Events that aged while no server ran are gone at the next start.
    clock.now += 61
    store = open_store(data_dir)
    try:
        log = EventLog(journal=store, clock=clock, max_age=60)
        assert (log.oldest_seq, log.last_seq) == (7, 6)
        assert log.subscribe(6).get_nowait() == []  # the newest position is still valid
    finally:
        store.close()


def test_compaction_does_a_bounded_amount_per_commit(data_dir: Path) -> None:
    store = open_store(data_dir)
    log = EventLog(journal=store, retention=10_000)
    for i in range(COMPACT_CHUNK * 2 + 10):
        log.publish("JOB_STATUS_CHANGE", {"id": f"j{i}", "status": "created"})
    log.flush()
    store.close()
    store = open_store(data_dir)
    try:
        total = store.stored_events
        log = EventLog(journal=store, retention=10)  # retention cut: a big backlog to drop
        log.publish("JOB_STATUS_CHANGE", {"id": "a", "status": "created"})
        log.flush()
        assert store.stored_events == total + 1 - COMPACT_CHUNK
        log.publish("JOB_STATUS_CHANGE", {"id": "b", "status": "created"})
        log.flush()
        log.publish("JOB_STATUS_CHANGE", {"id": "c", "status": "created"})
        log.flush()
        assert store.stored_events == 10
        assert log.oldest_seq == log.last_seq - 9
    finally:
        store.close()


def test_power_loss_durability_is_an_option(data_dir: Path, tmp_path: Path) -> None:
    store = open_store(data_dir)
    assert store.synchronous == "NORMAL"
    store.close()
    store = open_store(data_dir, power_loss=True)
    try:
        assert store.synchronous == "FULL"
    finally:
        store.close()


async def test_a_subscriber_waiting_for_news_gets_it_after_the_commit(store: Store) -> None:
    log = EventLog(journal=store)
    subscription = log.subscribe()
    waiting = asyncio.create_task(subscription.next_batch())
    await asyncio.sleep(0)
    log.publish("JOB_STATUS_CHANGE", {"id": "j", "status": "created"})
    batch = await waiting
    assert [r.seq for r in batch] == [1]
    assert store.last_seq == 1
