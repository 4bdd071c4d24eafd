"""The event log: numbered, timestamped events with bounded retention and cursors.

Every event gets the next sequence number (1, 2, 3, ... with no gaps) and is
kept in a ring buffer of configurable size.  A :class:`Subscription` is
nothing but a cursor into that buffer: publishing never touches a
subscriber, it only resolves the futures of subscribers that are waiting
for news.  A subscriber's "queue" is the distance between its cursor and
the head of the log, not counting the backlog it asked for when it
subscribed (replaying retained events is bounded by retention alone).
Once that distance exceeds its limit, or the events it still needs have
been overwritten, its next read raises :class:`SubscriberDropped`, which
names the sequence number to resume from.

Without a journal the log lives in memory and its ``instance_id`` is
random per process, so a client holding a sequence number can tell that it
belongs to a server that has restarted.  With an :class:`EventJournal` (the
durable store) the log starts where the journal ended, under the journal's
stable identity, and every event is written to the journal before any
subscriber can see it.  The commits run in the journal's writer thread, one
at a time and in publishing order, never on the event loop: at the end of a
loop iteration that published something the pending events are handed over
as one batch, and whatever is published while that commit runs makes up the
next one (group commit).  Only once a commit has returned does
:attr:`EventLog.last_seq`, the newest event subscribers see, move on.
The events of earlier processes stay in the journal and are read from it
when a subscriber resumes that far back, so a restart does not wait for
the whole retained history to be loaded.
"""

from __future__ import annotations

import asyncio
import bisect
import concurrent.futures
import contextlib
import logging
import time
import uuid
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType, TracebackType
from typing import Protocol

from qapi_jobs.server.jobs.notify import WakeList

JOB_STATUS_CHANGE = "JOB_STATUS_CHANGE"
BLOCK_JOB_READY = "BLOCK_JOB_READY"
BLOCK_JOB_PENDING = "BLOCK_JOB_PENDING"
BLOCK_JOB_COMPLETED = "BLOCK_JOB_COMPLETED"
BLOCK_JOB_CANCELLED = "BLOCK_JOB_CANCELLED"
BLOCK_JOB_ERROR = "BLOCK_JOB_ERROR"

DEFAULT_RETENTION = 10_000
DEFAULT_MAX_LAG = 1_000
DEFAULT_BATCH = 256
RETRY_WRITE_AFTER = 0.5
SETTLE_COMMITS = 4
"""Most commits :meth:`EventLog.settle` waits for before it gives up."""
"""Seconds before a journal write that failed (disk full, I/O error) is tried again."""

logger = logging.getLogger(__name__)

JobRecordData = Mapping[str, object]
"""A job's durable record, as :mod:`~qapi_jobs.server.jobs.records` writes it."""


@dataclass(frozen=True, slots=True)
class EventRecord:
    """One published event; ``data`` is in QMP wire form and read-only."""

    seq: int
    timestamp: float
    name: str
    data: Mapping[str, object]
    synthetic: bool = False
    """Made by the server, not sent by QEMU: a change it learnt of afterwards (a takeover, a
    reconnection) or one QEMU can no longer report (its daemon died)."""

    def to_qmp(self) -> dict[str, object]:
        """The event as QMP sends it (``event``, ``data``, ``timestamp``)."""
        seconds = int(self.timestamp)
        return {
            "event": self.name,
            "data": dict(self.data),
            "timestamp": {
                "seconds": seconds,
                "microseconds": int((self.timestamp - seconds) * 1_000_000),
            },
        }


class JournalError(Exception):
    """The journal could not write; the message says why and what to do."""


class EventJournal(Protocol):
    """Durable storage under an :class:`EventLog` (the store implements it)."""

    @property
    def log_id(self) -> str:
        """The log's identity; stays the same across restarts."""

    @property
    def last_seq(self) -> int:
        """The newest sequence number written (0 for a new journal)."""

    @property
    def oldest_seq(self) -> int:
        """The oldest sequence number still held (``last_seq + 1`` when empty)."""

    @property
    def writer(self) -> concurrent.futures.Executor:
        """The single thread :meth:`append` runs in; the journal shuts it down on close."""

    def read_events(self, first: int, last: int) -> list[EventRecord]:
        """The held events from ``first`` to ``last`` (both included), oldest first.

        Safe while :meth:`append` runs in the writer; sees only committed events.
        """

    def timestamps(self, first: int) -> list[float]:
        """The timestamps of the held events from ``first`` on, oldest first."""

    def append(
        self,
        events: Sequence[EventRecord],
        jobs: Mapping[str, JobRecordData | None],
        keep_from: int,
    ) -> None:
        """Write events and job records (None deletes one) atomically; drop events
        older than ``keep_from``.  Raises JournalError when the write fails.

        Called in :attr:`writer` only, one call at a time.
        """


class EventsExpired(LookupError):
    """The events after the requested sequence number are no longer retained."""

    def __init__(self, after_seq: int, oldest_retained: int) -> None:
        super().__init__(
            f"events after sequence number {after_seq} are no longer retained; "
            f"the oldest retained event is {oldest_retained}"
        )
        self.after_seq = after_seq
        self.oldest_retained = oldest_retained


class SubscriberDropped(Exception):
    """A subscription fell too far behind and was closed.

    ``resume_from`` is the first sequence number it has not delivered;
    subscribe again with ``after_seq = resume_from - 1`` to continue, if
    the log still retains it.
    """

    def __init__(self, resume_from: int, reason: str) -> None:
        super().__init__(f"{reason}; resume from sequence number {resume_from}")
        self.resume_from = resume_from
        self.reason = reason


class EventLog:
    """Publishes events and serves any number of cursor-based subscriptions.

    Must be used from one event loop (the manager's); publishing is
    synchronous and never waits for a subscriber.
    """

    def __init__(
        self,
        *,
        retention: int = DEFAULT_RETENTION,
        max_lag: int = DEFAULT_MAX_LAG,
        clock: Callable[[], float] = time.time,
        instance_id: str | None = None,
        journal: EventJournal | None = None,
        max_age: float | None = None,
    ) -> None:
        """``max_age`` (seconds) also retires events by age; ``journal`` makes the log durable."""
        if retention < 1:
            raise ValueError("retention must be at least 1")
        if max_lag < 1:
            raise ValueError("max_lag must be at least 1")
        if max_age is not None and max_age <= 0:
            raise ValueError("max_age must be positive")
        if journal is not None:
            instance_id = journal.log_id
        self.instance_id = instance_id or uuid.uuid4().hex
        self.retention = retention
        self.max_lag = max_lag
        self.max_age = max_age
        self._clock = clock
        self._ring: list[EventRecord | None] = [None] * retention
        self._last_seq = 0
        """The newest event subscribers may see (written to the journal, if any)."""
        self._issued = 0
        """The newest event published."""
        self._floor = 1
        """No event older than this is retained (age, or what the journal still had)."""
        self._base = 1
        """The oldest event in memory; older retained ones are in the journal only."""
        self._journal_times: list[float] = []
        """With max_age: timestamps of the events in the journal only, from _floor on."""
        self._journal = journal
        self._unwritten: list[EventRecord] = []
        self._staged_jobs: dict[str, JobRecordData | None] = {}
        self._flush_scheduled = False
        self._in_flight: _Write | None = None
        """The write running in the journal's writer thread; at most one."""
        self._written: asyncio.Future[None] | None = None
        """Resolved by the write that takes what is pending now (for :meth:`written`)."""
        self._write_error: JournalError | None = None
        self._closed = False
        self._waiters = WakeList()
        self._open: weakref.WeakSet[Subscription] = weakref.WeakSet()
        self._listeners: list[Callable[[EventRecord], None]] = []
        if journal is not None:
            self._restore(journal)

    def _restore(self, journal: EventJournal) -> None:
        self._last_seq = self._issued = journal.last_seq
        self._base = self._issued + 1
        self._floor = max(journal.oldest_seq, self._issued - self.retention + 1)
        if self.max_age is not None:
            self._journal_times = journal.timestamps(self._floor)
        self._expire_by_age()

    @property
    def last_seq(self) -> int:
        """Sequence number of the newest event subscribers can see (0 before the first one)."""
        return self._last_seq

    @property
    def oldest_seq(self) -> int:
        """Sequence number of the oldest retained event (``last_seq + 1`` when empty)."""
        return max(self._floor, self._issued - self.retention + 1)

    @property
    def durable(self) -> bool:
        """Whether events (and staged job records) go to a journal."""
        return self._journal is not None

    @property
    def write_error(self) -> JournalError | None:
        """Why the last journal write failed, while writes keep failing (None: all written)."""
        return self._write_error

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called."""
        return self._closed

    @property
    def subscriber_count(self) -> int:
        """How many subscriptions are open."""
        return len(self._open)

    def publish(
        self, name: str, data: Mapping[str, object], *, synthetic: bool = False
    ) -> EventRecord:
        """Append an event and return the record (see :attr:`EventRecord.synthetic`).

        Without a journal, waiting subscribers are woken at once; with one,
        once the event is written (see :meth:`flush`).
        """
        self._issued += 1
        record = EventRecord(
            self._issued, self._clock(), name, MappingProxyType(dict(data)), synthetic
        )
        self._ring[(record.seq - 1) % self.retention] = record
        for listener in self._listeners:
            listener(record)
        if self._journal is None:
            self._last_seq = record.seq
            self._expire_by_age()
            self._waiters.wake_all()
        else:
            self._unwritten.append(record)
            self._schedule_flush()
        return record

    def add_listener(self, listener: Callable[[EventRecord], None]) -> None:
        """Call ``listener`` with every event as it is published, in the publisher's task.

        For observers that need the state at that instant (the job still
        exists, the caller's context is current); it must be quick and
        must not raise.
        """
        self._listeners.append(listener)

    def stage_job(self, job_id: str, record: JobRecordData | None) -> None:
        """Have the next journal write store ``record`` for the job (None: forget it).

        Does nothing without a journal.
        """
        if self._journal is not None:
            self._staged_jobs[job_id] = record
            self._schedule_flush()

    async def written(self) -> None:
        """Return once everything published so far is written.

        Raises JournalError if that write fails.
        """
        if self._journal is None:
            return
        if self._unwritten or self._staged_jobs:
            if self._written is None:
                self._written = asyncio.get_running_loop().create_future()
                self._written.add_done_callback(_retrieve)
                self._schedule_flush()
            waiter = self._written
        elif self._in_flight is not None and self._in_flight.waiter is not None:
            waiter = self._in_flight.waiter
        elif self._in_flight is not None:
            waiter = self._in_flight.waiter = asyncio.get_running_loop().create_future()
            waiter.add_done_callback(_retrieve)
        else:
            return
        await asyncio.shield(waiter)

    @property
    def writing(self) -> bool:
        """Whether something published is not written yet (waiting, or being written)."""
        return bool(self._unwritten or self._staged_jobs or self._in_flight is not None)

    async def settle(self) -> None:
        """Wait, a few commits at most, until nothing published is being written.

        A synchronous :meth:`flush` right after then has nothing to wait for,
        so a snapshot taken at once does not hold up the event loop; under a
        steady stream of publishes a little may still be left.  A failed
        write ends the wait (it is retried as usual).
        """
        for _ in range(SETTLE_COMMITS):
            if not self.writing:
                return
            try:
                await self.written()
            except JournalError:
                return

    def flush(self) -> None:
        """Write what was published or staged, then show it to subscribers (blocking).

        For callers that cannot wait (no running loop, or a shutdown path):
        waits for the write in flight, then commits the rest in the writer
        thread and waits for that too.  Raises JournalError if the journal
        refused the write; the events then stay unwritten and invisible, and
        the write is retried shortly.
        """
        if self._journal is None:
            return
        write = self._in_flight
        if write is not None:
            concurrent.futures.wait([write.done])
            self._finish(write)
        if not (self._unwritten or self._staged_jobs):
            return
        write = self._start_write()
        concurrent.futures.wait([write.done])
        self._finish(write)
        if self._write_error is not None:
            raise self._write_error

    def _start_write(self) -> _Write:
        """Hand everything pending to the writer thread as one commit."""
        journal = self._journal
        if journal is None or self._in_flight is not None:
            raise AssertionError("one write at a time, and only with a journal")
        self._expire_by_age()
        events, jobs = self._unwritten, self._staged_jobs
        try:
            done = journal.writer.submit(journal.append, events, jobs, self.oldest_seq)
        except RuntimeError:  # the writer was shut down: the journal is closed
            done = concurrent.futures.Future()
            done.set_exception(JournalError("the state store is closed"))
        write = _Write(events, jobs, self._written, done)
        self._unwritten, self._staged_jobs, self._written = [], {}, None
        self._in_flight = write
        return write

    def _finish(self, write: _Write) -> None:
        """Settle a write that has returned: show its events, or put them back for a retry."""
        if self._in_flight is not write:
            return  # already settled (a blocking flush got there first)
        self._in_flight = None
        error = write.done.exception()
        if error is not None:
            if not isinstance(error, JournalError):
                logger.error("unexpected failure writing events", exc_info=error)
                error = JournalError(f"cannot write events and job records: {error}")
            if self._write_error is None:
                logger.error("events and job records cannot be written: %s", error)
            self._write_error = error
            # Back in front of what came meanwhile: same order, and a newer job record wins.
            self._unwritten = write.events + self._unwritten
            self._staged_jobs = {**write.jobs, **self._staged_jobs}
            _settle(write.waiter, error)
            waiter, self._written = self._written, None
            _settle(waiter, error)
            self._retry_later()
            return
        if self._write_error is not None:
            logger.warning("events and job records are written again")
            self._write_error = None
        if write.events:
            self._last_seq = write.events[-1].seq
        _settle(write.waiter, None)
        self._waiters.wake_all()

    def _write_returned(self, write: _Write) -> None:
        """In the loop, once the writer thread is done with ``write``: settle it, start the next."""
        self._finish(write)
        if self._write_error is None and self._in_flight is None:
            self._scheduled_flush()

    def _schedule_flush(self) -> None:
        if self._flush_scheduled:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.flush()
            return
        self._flush_scheduled = True
        loop.call_soon(self._scheduled_flush)

    def _retry_later(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        if not self._flush_scheduled:
            self._flush_scheduled = True
            loop.call_later(RETRY_WRITE_AFTER, self._scheduled_flush)

    def _scheduled_flush(self) -> None:
        self._flush_scheduled = False
        if self._in_flight is not None or not (self._unwritten or self._staged_jobs):
            return  # the write in flight starts the next one when it returns
        write = self._start_write()
        loop = asyncio.get_running_loop()

        def returned(_: concurrent.futures.Future[None]) -> None:
            with contextlib.suppress(RuntimeError):  # the loop is gone: nobody waits any more
                loop.call_soon_threadsafe(self._write_returned, write)

        write.done.add_done_callback(returned)

    def _expire_by_age(self) -> None:
        if self.max_age is None:
            return
        cutoff = self._clock() - self.max_age
        ring, size = self._ring, self.retention
        seq = self.oldest_seq
        if seq < self._base:
            # Timestamps ascend with sequence numbers: the first young enough one.
            start = self._base - len(self._journal_times)
            index = bisect.bisect_left(self._journal_times, cutoff, lo=max(0, seq - start))
            seq = start + index
            if seq < self._base:
                self._floor = seq
                return
        while seq <= self._last_seq:
            record = ring[(seq - 1) % size]
            if record is None or record.timestamp >= cutoff:
                break
            seq += 1
        self._floor = seq

    def events_after(self, after_seq: int, limit: int | None = None) -> list[EventRecord]:
        """The retained events with ``seq > after_seq``, oldest first, at most ``limit``.

        Raises :class:`EventsExpired` when some of them are no longer
        retained and :class:`ValueError` when ``after_seq`` lies in the future.
        """
        self._check_cursor(after_seq)
        last = self._last_seq if limit is None else min(self._last_seq, after_seq + limit)
        older: list[EventRecord] = []
        if after_seq + 1 < self._base and self._journal is not None:
            # Events of an earlier process: read from the journal (a rare, far resume).
            older = self._journal.read_events(after_seq + 1, min(last, self._base - 1))
            after_seq = min(last, self._base - 1)
        ring, size = self._ring, self.retention
        return older + [_present(ring[(seq - 1) % size]) for seq in range(after_seq + 1, last + 1)]

    def in_journal_only(self, seq: int) -> bool:
        """Whether event ``seq`` is an earlier process's, held by the journal alone."""
        return seq < self._base and self._journal is not None

    async def read_journal(self, first: int, limit: int) -> list[EventRecord]:
        """Up to ``limit`` of an earlier process's events from ``first`` on (in a thread).

        Far resumes are rare but read from disk, so the loop does not wait
        for them.  Fewer come back when compaction removed some meanwhile.
        """
        journal = self._journal
        assert journal is not None
        last = min(self._base - 1, first + limit - 1)
        return await asyncio.to_thread(journal.read_events, first, last)

    def newest_first(self, chunk: int = 1000) -> Iterator[EventRecord]:
        """The retained events that subscribers can see, newest first."""
        last = self._last_seq
        while last >= self.oldest_seq:
            first = max(self.oldest_seq, last - chunk + 1)
            yield from reversed(self.events_after(first - 1, last - first + 1))
            last = first - 1

    def subscribe(
        self, after_seq: int | None = None, *, max_lag: int | None = None
    ) -> Subscription:
        """Open a subscription delivering events with ``seq > after_seq``.

        ``after_seq=None`` delivers only events published from now on.
        ``max_lag`` overrides the log's default limit for this subscriber.
        """
        start = self._last_seq if after_seq is None else after_seq
        self._check_cursor(start)
        subscription = Subscription(self, start + 1, self._last_seq, max_lag or self.max_lag)
        if not self._closed:
            self._open.add(subscription)
        return subscription

    def close(self) -> None:
        """End every subscription once it has delivered what was published.

        Publishing still works afterwards (late events are numbered and
        retained as usual); only waiting for news stops.
        """
        self._closed = True
        self._waiters.wake_all()

    def _check_cursor(self, after_seq: int) -> None:
        if after_seq > self._last_seq:
            raise ValueError(
                f"sequence number {after_seq} is beyond the newest event {self._last_seq}"
            )
        if after_seq < self.oldest_seq - 1:
            raise EventsExpired(after_seq, self.oldest_seq)

    def _forget(self, subscription: Subscription) -> None:
        self._open.discard(subscription)


@dataclass(slots=True)
class _Write:
    """One commit handed to the writer thread."""

    events: list[EventRecord]
    jobs: dict[str, JobRecordData | None]
    waiter: asyncio.Future[None] | None
    """Settled once the commit returned (for :meth:`EventLog.written`)."""
    done: concurrent.futures.Future[None]
    """The commit in the writer thread."""


def _settle(waiter: asyncio.Future[None] | None, error: JournalError | None) -> None:
    if waiter is None or waiter.done():
        return
    if error is None:
        waiter.set_result(None)
    else:
        waiter.set_exception(error)


def _retrieve(future: asyncio.Future[None]) -> None:
    # A waiter cancelled meanwhile must not leave the error unretrieved.
    if not future.cancelled():
        future.exception()


def _present(record: EventRecord | None) -> EventRecord:
    if record is None:
        raise AssertionError("retained slot is empty")
    return record


class Subscription:
    """A cursor into an :class:`EventLog`; an async iterator of :class:`EventRecord`.

    Iteration ends (``StopAsyncIteration``) after :meth:`close`, or once the
    log is closed and everything retained was delivered.  A subscriber that
    lags more than ``max_lag`` events published after it subscribed behind
    gets :class:`SubscriberDropped`.
    """

    def __init__(self, log: EventLog, next_seq: int, backlog_end: int, max_lag: int) -> None:
        self._log = log
        self._next_seq = next_seq
        self._backlog_end = backlog_end
        self._max_lag = max_lag
        self._closed = False
        self._dropped: SubscriberDropped | None = None
        self._waiter: asyncio.Future[None] | None = None

    @property
    def next_seq(self) -> int:
        """The sequence number of the next event this subscription will deliver."""
        return self._next_seq

    @property
    def closed(self) -> bool:
        """True once closed, dropped or ended with the log."""
        return self._closed

    @property
    def lag(self) -> int:
        """How many published events this subscription has not delivered yet."""
        return self._log.last_seq - self._next_seq + 1

    def close(self) -> None:
        """End the subscription; a read waiting in another task returns at once."""
        self._closed = True
        self._log._forget(self)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def get_nowait(self, max_count: int = DEFAULT_BATCH) -> list[EventRecord]:
        """Deliver up to ``max_count`` events that are already published (maybe none)."""
        if self._dropped is not None:
            raise self._dropped
        if self._closed:
            return []
        log = self._log
        behind = log.last_seq - max(self._next_seq - 1, self._backlog_end)
        if behind > self._max_lag:
            self._drop(f"subscriber fell {behind} events behind (limit {self._max_lag})")
        if self._next_seq < log.oldest_seq:
            self._drop("the events this subscriber needs are no longer retained")
        if self._next_seq > log.last_seq or log.in_journal_only(self._next_seq):
            return []  # the journal's events come from next_batch, read in a thread
        batch = log.events_after(self._next_seq - 1, max_count)
        self._next_seq = batch[-1].seq + 1
        return batch

    async def next_batch(self, max_count: int = DEFAULT_BATCH) -> list[EventRecord]:
        """Wait for at least one event and deliver up to ``max_count``.

        Returns an empty list once the subscription has ended.
        """
        while True:
            batch = self.get_nowait(max_count)
            if batch or self._closed:
                return batch
            if self._log.in_journal_only(self._next_seq):
                return await self._read_journal(max_count)
            if self._log.closed:
                self.close()
                return []
            await self._log._waiters.wait(self._register)

    async def _read_journal(self, max_count: int) -> list[EventRecord]:
        first = self._next_seq
        batch = await self._log.read_journal(first, max_count)
        if self._closed:
            return []
        if not batch or batch[0].seq != first or batch[-1].seq != first + len(batch) - 1:
            self._drop("the events this subscriber needs are no longer retained")
        self._next_seq = batch[-1].seq + 1
        return batch

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> EventRecord:
        batch = await self.next_batch(1)
        if not batch:
            raise StopAsyncIteration
        return batch[0]

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _register(self, future: asyncio.Future[None]) -> None:
        self._waiter = future

    def _drop(self, reason: str) -> None:
        self._dropped = SubscriberDropped(self._next_seq, reason)
        self.close()
        raise self._dropped
