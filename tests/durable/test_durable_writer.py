"""The event log's commits run in the store's writer thread: the loop goes on meanwhile."""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from pathlib import Path

import pytest

from qapi_jobs.server.jobs.events import EventLog, EventRecord, JobRecordData, JournalError
from qapi_jobs.server.store import Store, open_store
from tests.durable.stores import StoreWrapper

GUARD = 20.0
"""Seconds after which a test that would hang fails instead (never reached when it passes)."""

_Test = Callable[[Store], Awaitable[None]]


def guarded(test: _Test) -> _Test:
    """Fail the test rather than hang when a commit blocks the loop (or never comes)."""

    @functools.wraps(test)
    async def run(store: Store) -> None:
        async with asyncio.timeout(GUARD):
            await test(store)

    return run


@pytest.fixture
def store(data_dir: Path) -> Iterator[Store]:
    opened = open_store(data_dir)
    try:
        yield opened
    finally:
        opened.close()


class HeldStore(StoreWrapper):
    """The real store, whose commits wait in the writer thread until the test lets them go."""

    def __init__(self, store: Store) -> None:
        super().__init__(store)
        self.commits: list[list[int]] = []
        self.entered = threading.Semaphore(0)
        """Released once per commit that has started (and is now held)."""
        self.gate = threading.Semaphore(0)
        """Released by the test once per commit it lets through."""
        self.fail_next = False

    def append(
        self,
        events: Sequence[EventRecord],
        jobs: Mapping[str, JobRecordData | None],
        keep_from: int,
    ) -> None:
        self.entered.release()
        if not self.gate.acquire(timeout=GUARD):
            raise AssertionError("the held commit was never let go: it blocked the event loop")
        if self.fail_next:
            self.fail_next = False
            raise JournalError("No space left on device")
        self.commits.append([e.seq for e in events])
        super().append(events, jobs, keep_from)

    async def wait_entered(self) -> None:
        """Until the next commit is running in the writer thread."""
        assert await asyncio.to_thread(self.entered.acquire, timeout=GUARD), "no commit started"


def publish(log: EventLog, *names: str) -> None:
    for name in names:
        log.publish("JOB_STATUS_CHANGE", {"id": name, "status": "created"})


@guarded
async def test_the_loop_runs_while_a_commit_is_held(store: Store) -> None:
    held = HeldStore(store)
    log = EventLog(journal=held)
    subscription = log.subscribe()
    reader = asyncio.create_task(subscription.next_batch(100))
    publish(log, "a", "b")
    await held.wait_entered()  # commit 1 (a, b) is in the writer thread, held there
    # The loop is free: other tasks run, and publishing goes on.
    ticks = 0
    for _ in range(5):
        await asyncio.sleep(0)
        ticks += 1
    assert ticks == 5
    publish(log, "c")
    await asyncio.sleep(0)
    publish(log, "d", "e")
    await asyncio.sleep(0)
    # Nothing of the held batch is visible, neither to the reader nor to a new subscriber.
    assert not reader.done()
    assert log.last_seq == 0
    assert log.subscribe(0).get_nowait() == []
    assert store.read_events(1, 10) == []  # a read while the write runs sees nothing half done
    held.gate.release()
    assert [r.seq for r in await reader] == [1, 2]
    await held.wait_entered()  # commit 2: everything published meanwhile, in one batch
    assert log.last_seq == 2
    assert subscription.get_nowait() == []
    held.gate.release()
    assert [r.seq for r in await subscription.next_batch(100)] == [3, 4, 5]
    assert held.commits == [[1, 2], [3, 4, 5]]
    assert [r.seq for r in store.read_events(1, 10)] == [1, 2, 3, 4, 5]


@guarded
async def test_written_waits_for_the_commit_that_holds_the_events(store: Store) -> None:
    held = HeldStore(store)
    log = EventLog(journal=held)
    publish(log, "a")
    first = asyncio.create_task(log.written())
    await held.wait_entered()
    publish(log, "b")
    second = asyncio.create_task(log.written())
    await asyncio.sleep(0)
    assert not first.done() and not second.done()
    held.gate.release()
    await first
    assert not second.done()  # "b" goes into the next commit
    await held.wait_entered()
    held.gate.release()
    await second
    assert store.last_seq == 2


@guarded
async def test_a_failed_commit_is_retried_in_order_and_newer_records_win(store: Store) -> None:
    held = HeldStore(store)
    log = EventLog(journal=held)
    publish(log, "a")
    log.stage_job("j", {"version": 1})
    waiting = asyncio.create_task(log.written())
    await held.wait_entered()
    publish(log, "b")
    log.stage_job("j", {"version": 2})  # staged while the older record is being written
    held.fail_next = True
    held.gate.release()
    with pytest.raises(JournalError):
        await waiting
    assert log.write_error is not None
    assert log.last_seq == 0  # failed: nothing visible
    held.gate.release()  # the retry
    await log.written()
    assert log.write_error is None
    assert held.commits == [[1, 2]]
    assert [r.seq for r in store.read_events(1, 10)] == [1, 2]
    assert store.load_jobs() == [{"version": 2}]


@guarded
async def test_flush_waits_for_the_commit_in_flight_and_writes_the_rest(store: Store) -> None:
    held = HeldStore(store)
    log = EventLog(journal=held)
    publish(log, "a")
    await held.wait_entered()
    publish(log, "b")
    held.gate.release()
    held.gate.release()
    log.flush()  # a shutdown path: blocks until both commits returned
    assert log.last_seq == 2
    assert held.commits == [[1], [2]]


@guarded
async def test_settle_waits_for_the_commits_without_holding_the_loop(store: Store) -> None:
    # What a WatchEvents start with a snapshot does before its synchronous snapshot.
    held = HeldStore(store)
    log = EventLog(journal=held)
    publish(log, "a")
    settling = asyncio.create_task(log.settle())
    await held.wait_entered()  # commit 1 is held in the writer thread
    publish(log, "b")  # pending behind it
    for _ in range(5):
        await asyncio.sleep(0)  # the loop runs on
    assert not settling.done() and log.writing
    held.gate.release()
    await held.wait_entered()  # commit 2 (b)
    assert not settling.done()
    held.gate.release()
    await settling
    assert not log.writing
    assert log.last_seq == 2
    log.flush()  # nothing left: returns at once
    assert held.commits == [[1], [2]]
