"""Event stream sessions: WatchService.WatchEvents and JobsService.StreamEvents.

Both read the manager's event log through a subscription (a cursor, so a
slow stream costs nothing until it reads again), drain everything
available at each wake-up, and hand out frames the encoder shares between
streams.  WatchEvents adds sequence numbers, resuming, filters, the
initial snapshot, heartbeats and (when asked for) batches; StreamEvents is
the plain QMP-like feed.

A batching WatchEvents stream sends what one wake-up found (after the
filters) as a single EventBatch, at most :data:`MAX_BATCH_EVENTS` of it;
a lone event goes out as a plain ``event``, with the frame every other
stream shares.  Nothing waits for more events to arrive.

A session's *position* is the sequence number up to which every event was
handed to gRPC or filtered out: heartbeats report it, and a stream ended
by the server tells the client to resume after it.
"""

from __future__ import annotations

import asyncio
from abc import abstractmethod
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import grpc

from qapi_jobs.server.engines.backend import JobView
from qapi_jobs.server.grpc.watch_encoding import (
    EventEncoder,
    Frame,
    M,
    block_job_info_message,
    job_info_message,
    now_timestamp,
)
from qapi_jobs.server.grpc.watch_status import (
    StreamEnd,
    events_expired,
    instance_changed,
    invalid_request,
    shutting_down,
    stream_too_slow,
    too_slow,
)
from qapi_jobs.server.grpc.watch_streams import StreamSession
from qapi_jobs.server.jobs.events import (
    DEFAULT_BATCH,
    EventRecord,
    EventsExpired,
    SubscriberDropped,
    Subscription,
)
from qapi_jobs.server.jobs.info import Snapshot
from qapi_jobs.transcoder import event_names
from qapi_jobs.v1 import service_pb2, watch_pb2

MIN_HEARTBEAT = 0.1
"""Seconds; shorter heartbeat intervals asked for are raised to this."""

MAX_BATCH_EVENTS = DEFAULT_BATCH
"""Most events in one EventBatch (a few tens of KiB at most)."""

KNOWN_EVENTS = frozenset(event_names(service_pb2.Event))


def job_of(record: EventRecord) -> str | None:
    """The job an event is about (``id`` or, in most block job events, ``device``)."""
    job = record.data.get("id", record.data.get("device"))
    return job if isinstance(job, str) else None


@dataclass(frozen=True, slots=True)
class EventFilter:
    """Which events a watcher wants; an empty set means no restriction."""

    job_ids: frozenset[str]
    names: frozenset[str]

    def matches(self, record: EventRecord) -> bool:
        """True if ``record`` passes both restrictions."""
        if self.names and record.name not in self.names:
            return False
        return not self.job_ids or job_of(record) in self.job_ids


class _LogSession(StreamSession[M]):
    """Turns a subscription into frames; subclasses choose the frames."""

    def __init__(
        self,
        encoder: EventEncoder,
        subscription: Subscription,
        *,
        max_lag: int,
        event_filter: EventFilter | None = None,
        heartbeat: float | None = None,
        intro: Iterable[Frame[M]] = (),
        intro_end: int | None = None,
        batch_limit: int = 1,
    ) -> None:
        super().__init__()
        self._encoder = encoder
        self._subscription = subscription
        self._max_lag = max_lag
        self._filter = event_filter
        self._heartbeat = heartbeat
        self._intro: deque[Frame[M]] = deque(intro)
        self._intro_end = intro_end
        self._batch_limit = batch_limit
        self._records: deque[EventRecord] = deque()
        self._batch_end = 0
        self._loop = asyncio.get_running_loop()
        self._last_sent = self._loop.time()
        self.position: int | None = None if self._intro else subscription.next_seq - 1
        """Everything up to here was handed to gRPC or filtered out; None mid-snapshot."""

    @abstractmethod
    def _frame(self, record: EventRecord) -> Frame[M]:
        """The frame that delivers ``record``."""

    def _batch_frame(self, records: list[EventRecord]) -> Frame[M]:
        """The frame that delivers ``records`` (two or more) together."""
        raise AssertionError("this stream does not batch")

    @abstractmethod
    def _idle_frame(self) -> Frame[M]:
        """The frame sent when nothing was sent for a heartbeat interval."""

    @abstractmethod
    def _dropped(self) -> StreamEnd:
        """How the stream ends when the subscription fell too far behind."""

    def close(self) -> None:
        """Close the subscription."""
        self._subscription.close()

    async def next_frame(self) -> Frame[M] | None:
        """The next snapshot part, event or heartbeat (see the module docstring)."""
        self.check_stop()
        # The adapter asks for the next frame once the previous one is
        # written, so "now" is when the stream last sent something.
        self._last_sent = self._loop.time()
        if self._intro:
            frame = self._intro.popleft()
            if not self._intro:
                self.position = self._intro_end
            return frame
        records = self._records
        while not records:
            batch = await self._next_batch()
            if batch is None:
                return self._idle_frame()
            self._batch_end = batch[-1].seq
            event_filter = self._filter
            if event_filter is None:
                records.extend(batch)
            else:
                records.extend(record for record in batch if event_filter.matches(record))
                if not records:
                    self.position = self._batch_end
        record = records.popleft()
        if records and self._batch_limit > 1:
            together = [record]
            while records and len(together) < self._batch_limit:
                together.append(records.popleft())
            self.position = records[0].seq - 1 if records else self._batch_end
            return self._batch_frame(together)
        self.position = records[0].seq - 1 if records else self._batch_end
        return self._frame(record)

    async def _next_batch(self) -> Sequence[EventRecord] | None:
        """Events to deliver, or None when a heartbeat is due first."""
        subscription = self._subscription
        try:
            while True:
                batch = subscription.get_nowait(DEFAULT_BATCH)
                if batch:
                    return batch
                if subscription.closed:
                    # The manager shut its event log down.
                    raise StreamEnd(self.stop_status())
                if self._heartbeat is None:
                    batch = await self.park(subscription.next_batch(DEFAULT_BATCH))
                else:
                    remaining = self._last_sent + self._heartbeat - self._loop.time()
                    if remaining <= 0:
                        return None
                    try:
                        async with asyncio.timeout(remaining):
                            batch = await self.park(subscription.next_batch(DEFAULT_BATCH))
                    except TimeoutError:
                        return None
                if batch:
                    return batch
        except SubscriberDropped:
            raise self._dropped() from None


class WatchEventsSession(_LogSession[watch_pb2.WatchEventsResponse]):
    """One WatchEvents stream."""

    def _frame(self, record: EventRecord) -> Frame[watch_pb2.WatchEventsResponse]:
        return self._encoder.watch_frame(record)

    def _batch_frame(self, records: list[EventRecord]) -> Frame[watch_pb2.WatchEventsResponse]:
        return self._encoder.watch_batch_frame(records)

    def _idle_frame(self) -> Frame[watch_pb2.WatchEventsResponse]:
        heartbeat = watch_pb2.Heartbeat(
            sequence=self._subscription.next_seq - 1,
            instance_id=self._encoder.instance_id,
            time=now_timestamp(),
        )
        return Frame(watch_pb2.WatchEventsResponse(heartbeat=heartbeat))

    def _dropped(self) -> StreamEnd:
        assert self.position is not None, "a subscription is only read after the snapshot"
        return too_slow(self.position, self._max_lag, self._encoder.instance_id)

    def stop_status(self) -> grpc.Status:
        """UNAVAILABLE, telling the client where to resume."""
        return shutting_down(self.position, self._encoder.instance_id)


def open_watch_events(
    manager: JobView,
    encoder: EventEncoder,
    request: watch_pb2.WatchEventsRequest,
    *,
    default_heartbeat: float,
    max_lag: int,
) -> WatchEventsSession:
    """Check a WatchEvents request and open its session (raises StreamEnd)."""
    event_filter = _event_filter(request)
    heartbeat = _heartbeat_interval(request, default_heartbeat)
    batch_limit = MAX_BATCH_EVENTS if request.batch else 1
    if request.send_initial_snapshot:
        if request.HasField("after_sequence"):
            raise invalid_request(
                "after_sequence cannot be combined with send_initial_snapshot", "after_sequence"
            )
        snapshot, subscription = manager.snapshot_and_subscribe(max_lag=max_lag)
        intro = _snapshot_frames(snapshot, event_filter, encoder.instance_id)
        intro_end: int | None = snapshot.last_seq
    else:
        after = request.after_sequence if request.HasField("after_sequence") else None
        subscription = _resume(manager, after, request.instance_id, max_lag)
        intro, intro_end = [], None
    return WatchEventsSession(
        encoder,
        subscription,
        max_lag=max_lag,
        event_filter=event_filter,
        heartbeat=heartbeat,
        intro=intro,
        intro_end=intro_end,
        batch_limit=batch_limit,
    )


def _event_filter(request: watch_pb2.WatchEventsRequest) -> EventFilter | None:
    names = frozenset(request.event_names)
    unknown = sorted(names - KNOWN_EVENTS)
    if unknown:
        raise invalid_request(
            f"unknown event name {unknown[0]!r}; known: {', '.join(sorted(KNOWN_EVENTS))}",
            "event_names",
        )
    job_ids = frozenset(request.job_ids)
    if not names and not job_ids:
        return None
    return EventFilter(job_ids, names)


def _heartbeat_interval(request: watch_pb2.WatchEventsRequest, default: float) -> float:
    if not request.HasField("heartbeat_interval"):
        return default
    asked = request.heartbeat_interval.ToNanoseconds() / 1e9
    if asked < 0:
        raise invalid_request("heartbeat_interval must not be negative", "heartbeat_interval")
    if asked == 0:
        return default
    return max(asked, MIN_HEARTBEAT)


def _resume(manager: JobView, after: int | None, instance_id: str, max_lag: int) -> Subscription:
    current = manager.instance_id
    if after is not None and instance_id and instance_id != current:
        raise instance_changed(
            f"sequence numbers of server instance {instance_id} do not apply to "
            f"this instance ({current})",
            current,
        )
    try:
        return manager.subscribe(after, max_lag=max_lag)
    except EventsExpired as expired:
        raise events_expired(expired.after_seq, expired.oldest_retained, current) from None
    except ValueError:
        newest = manager.events.last_seq
        if instance_id:
            raise invalid_request(
                f"after_sequence {after} was never issued (the newest is {newest})",
                "after_sequence",
            ) from None
        raise instance_changed(
            f"sequence {after} was not issued by this server instance (the newest is {newest})",
            current,
        ) from None


def _snapshot_frames(
    snapshot: Snapshot, event_filter: EventFilter | None, instance_id: str
) -> list[Frame[watch_pb2.WatchEventsResponse]]:
    job_ids = event_filter.job_ids if event_filter is not None else frozenset()
    block_jobs = {info.device: info for info in snapshot.block_jobs}
    frames = []
    for info in snapshot.jobs:
        if job_ids and info.id not in job_ids:
            continue
        part = watch_pb2.JobSnapshot(job=job_info_message(info))
        block = block_jobs.get(info.id)
        if block is not None:
            part.block_job.CopyFrom(block_job_info_message(block))
        frames.append(Frame(watch_pb2.WatchEventsResponse(snapshot=part)))
    end = watch_pb2.SnapshotEnd(sequence=snapshot.last_seq, instance_id=instance_id)
    frames.append(Frame(watch_pb2.WatchEventsResponse(snapshot_end=end)))
    return frames


class StreamEventsSession(_LogSession[service_pb2.StreamEventsResponse]):
    """One JobsService.StreamEvents stream: live events, no sequence numbers."""

    def _frame(self, record: EventRecord) -> Frame[service_pb2.StreamEventsResponse]:
        return self._encoder.stream_frame(record)

    def _idle_frame(self) -> Frame[service_pb2.StreamEventsResponse]:
        raise AssertionError("StreamEvents has no heartbeats")

    def _dropped(self) -> StreamEnd:
        return stream_too_slow(self._max_lag)

    def stop_status(self) -> grpc.Status:
        """UNAVAILABLE (the stream has no positions to resume from)."""
        return shutting_down(None, self._encoder.instance_id)


def open_stream_events(
    manager: JobView, encoder: EventEncoder, *, max_lag: int
) -> StreamEventsSession:
    """Open a StreamEvents session: the events published from now on."""
    return StreamEventsSession(encoder, manager.subscribe(max_lag=max_lag), max_lag=max_lag)
