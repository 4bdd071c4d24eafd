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

The log's ``instance_id`` is random per process, so a client holding a
sequence number can tell that it belongs to a server that has restarted.
"""

from __future__ import annotations

import asyncio
import time
import uuid
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType, TracebackType

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


@dataclass(frozen=True, slots=True)
class EventRecord:
    """One published event; ``data`` is in QMP wire form and read-only."""

    seq: int
    timestamp: float
    name: str
    data: Mapping[str, object]

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
    ) -> None:
        if retention < 1:
            raise ValueError("retention must be at least 1")
        if max_lag < 1:
            raise ValueError("max_lag must be at least 1")
        self.instance_id = instance_id or uuid.uuid4().hex
        self.retention = retention
        self.max_lag = max_lag
        self._clock = clock
        self._ring: list[EventRecord | None] = [None] * retention
        self._last_seq = 0
        self._closed = False
        self._waiters = WakeList()
        self._open: weakref.WeakSet[Subscription] = weakref.WeakSet()
        self._listeners: list[Callable[[EventRecord], None]] = []

    @property
    def last_seq(self) -> int:
        """Sequence number of the newest event (0 before the first one)."""
        return self._last_seq

    @property
    def oldest_seq(self) -> int:
        """Sequence number of the oldest retained event (``last_seq + 1`` when empty)."""
        return max(1, self._last_seq - self.retention + 1) if self._last_seq else 1

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called."""
        return self._closed

    @property
    def subscriber_count(self) -> int:
        """How many subscriptions are open."""
        return len(self._open)

    def publish(self, name: str, data: Mapping[str, object]) -> EventRecord:
        """Append an event, wake waiting subscribers and return the record."""
        self._last_seq += 1
        record = EventRecord(self._last_seq, self._clock(), name, MappingProxyType(dict(data)))
        self._ring[(record.seq - 1) % self.retention] = record
        for listener in self._listeners:
            listener(record)
        self._waiters.wake_all()
        return record

    def add_listener(self, listener: Callable[[EventRecord], None]) -> None:
        """Call ``listener`` with every event as it is published, in the publisher's task.

        For observers that need the state at that instant (the job still
        exists, the caller's context is current); it must be quick and
        must not raise.
        """
        self._listeners.append(listener)

    def events_after(self, after_seq: int, limit: int | None = None) -> list[EventRecord]:
        """The retained events with ``seq > after_seq``, oldest first, at most ``limit``.

        Raises :class:`EventsExpired` when some of them are no longer
        retained and :class:`ValueError` when ``after_seq`` lies in the future.
        """
        self._check_cursor(after_seq)
        last = self._last_seq if limit is None else min(self._last_seq, after_seq + limit)
        ring, size = self._ring, self.retention
        return [_present(ring[(seq - 1) % size]) for seq in range(after_seq + 1, last + 1)]

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
        if self._next_seq > log.last_seq:
            return []
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
            if self._log.closed:
                self.close()
                return []
            await self._log._waiters.wait(self._register)

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
