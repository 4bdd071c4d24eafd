"""The resume logic of the watch iterators, free of any I/O.

The sync and asyncio clients drive the same state machines: they ask for
the next request, feed every response in, and report how each stream
ended; the machine says what to yield and whether (and how soon) to open
the next stream.  The rules are those ``watch.proto`` documents:

* ask for batches (several events per message when they are ready
  together) and hand their events out one by one, exactly as if they had
  come singly;
* resume from the last sequence number seen (an event's or a heartbeat's),
  with the instance id it came with, so nothing is lost or repeated;
* OUT_OF_RANGE with reason EVENTS_EXPIRED or INSTANCE_CHANGED: those
  events are gone, so ask for a snapshot and hand it out as a
  :class:`~qapi_jobs.client.items.Resync`;
* ABORTED with reason WATCHER_TOO_SLOW, UNAVAILABLE (a server shutting
  down, a broken connection) and the like: open a new stream after a
  jittered backoff;
* anything else (INVALID_ARGUMENT, UNIMPLEMENTED, ...): raise.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import grpc
from google.protobuf import duration_pb2

from qapi_jobs.client.errors import QapiJobsError
from qapi_jobs.client.items import (
    RESYNC_INITIAL,
    RESYNC_RECONNECTED,
    EventItem,
    Heartbeat,
    JobsSnapshot,
    Resync,
    WatchItem,
)
from qapi_jobs.v1 import watch_pb2

EVENTS_EXPIRED = "EVENTS_EXPIRED"
INSTANCE_CHANGED = "INSTANCE_CHANGED"
RESUME_AFTER_KEY = "resume_after_sequence"

RETRYABLE = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.CANCELLED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.DEADLINE_EXCEEDED,
    }
)
"""Codes after which a watch opens a new stream: the connection, the
server or a proxy broke the stream, not the request."""


@dataclass(frozen=True)
class ReconnectPolicy:
    """How watch iterators reconnect.

    Delays grow from ``initial`` by ``multiplier`` up to ``maximum``
    seconds, each drawn at random from its upper half so that many
    watchers do not return at the same moment.  ``give_up_after`` bounds
    how long a watch keeps failing without receiving anything (None:
    forever); then the last error is raised.  ``connect_timeout`` bounds
    how long a watch that has never received anything keeps trying (None:
    forever): a wrong address or a server that is not running fails with
    Unavailable instead of being retried in silence; once a watch has been
    connected, only ``give_up_after`` applies.  ``on_retry`` is told of
    each error and the delay before the next attempt (e.g. to log it).
    """

    initial: float = 0.1
    maximum: float = 5.0
    multiplier: float = 2.0
    give_up_after: float | None = None
    connect_timeout: float | None = 30.0
    on_retry: Callable[[QapiJobsError, float], None] | None = field(default=None, compare=False)


class Backoff:
    """The delays of one watch, reset whenever a stream delivers something."""

    def __init__(
        self, policy: ReconnectPolicy, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.policy = policy
        self._clock = clock
        self._attempt = 0
        self._failing_since: float | None = None
        self._started = clock()
        self._connected = False

    def reset(self) -> None:
        """A stream delivered a message: start over from the shortest delay."""
        self._attempt = 0
        self._failing_since = None
        self._connected = True

    def next_delay(self, error: QapiJobsError) -> float:
        """The delay before the next attempt; re-raises ``error`` once the
        policy gives up."""
        now = self._clock()
        if self._failing_since is None:
            self._failing_since = now
        limit = self.policy.give_up_after
        if limit is not None and now - self._failing_since >= limit:
            raise error
        first = self.policy.connect_timeout
        if not self._connected and first is not None and now - self._started >= first:
            raise type(error)(
                f"the watch never reached the server in {first:g} s: {error.message}",
                code=error.code,
                reason=error.reason,
                domain=error.domain,
                metadata=error.metadata,
                details=error.details,
            ) from error
        ceiling = min(
            self.policy.maximum, self.policy.initial * self.policy.multiplier**self._attempt
        )
        self._attempt += 1
        delay = ceiling / 2 + random.uniform(0, ceiling / 2)
        if self.policy.on_retry is not None:
            self.policy.on_retry(error, delay)
        return delay


def _duration(seconds: float | None) -> duration_pb2.Duration | None:
    if seconds is None:
        return None
    duration = duration_pb2.Duration()
    duration.FromNanoseconds(round(seconds * 1e9))
    return duration


class EventsResume:
    """The state of one ``watch_events`` iteration across its streams."""

    def __init__(
        self,
        *,
        after_sequence: int | None = None,
        instance_id: str = "",
        snapshot: bool = False,
        job_ids: Iterable[str] = (),
        event_names: Iterable[str] = (),
        heartbeat_interval: float | None = None,
    ) -> None:
        if snapshot and after_sequence is not None:
            raise ValueError("a watch starts either with a snapshot or after a sequence number")
        self.position = after_sequence
        self.instance_id = instance_id
        self.job_ids = tuple(job_ids)
        self.event_names = tuple(event_names)
        self.heartbeat_interval = heartbeat_interval
        self._snapshot_reason: str | None = RESYNC_INITIAL if snapshot else None
        self._snapshot: list[watch_pb2.JobSnapshot] = []
        self._opened = False

    def request(self) -> watch_pb2.WatchEventsRequest:
        """The request of the next stream."""
        if self._opened and self.position is None and self._snapshot_reason is None:
            # Live-only watch that broke before learning its place: what
            # happened meanwhile is unknown, so start over from a snapshot.
            self._snapshot_reason = RESYNC_RECONNECTED
        self._opened = True
        self._snapshot.clear()
        request = watch_pb2.WatchEventsRequest(
            job_ids=self.job_ids,
            event_names=self.event_names,
            heartbeat_interval=_duration(self.heartbeat_interval),
            batch=True,
        )
        if self._snapshot_reason is not None:
            request.send_initial_snapshot = True
        elif self.position is not None:
            request.after_sequence = self.position
            request.instance_id = self.instance_id
        return request

    def receive_all(self, response: watch_pb2.WatchEventsResponse) -> list[WatchItem]:
        """What to hand to the program for one response, in order (maybe nothing).

        Unlike :meth:`receive`, accepts an EventBatch: its events are taken
        one by one, each with the same bookkeeping as a single event.
        """
        if response.WhichOneof("item") == "batch":
            items: list[WatchItem] = []
            for record in response.batch.events:
                item = self._event(record)
                if item is not None:
                    items.append(item)
            return items
        single = self.receive(response)
        return [] if single is None else [single]

    def receive(self, response: watch_pb2.WatchEventsResponse) -> WatchItem | None:
        """What to hand to the program for one response that is not a batch (None: nothing)."""
        kind = response.WhichOneof("item")
        if kind == "event":
            return self._event(response.event)
        if kind == "batch":
            raise ValueError("an EventBatch may hold several events: use receive_all")
        if kind == "heartbeat":
            beat = response.heartbeat
            if self._snapshot_reason is None:
                self.position, self.instance_id = beat.sequence, beat.instance_id
            return Heartbeat(beat.sequence, beat.instance_id)
        if kind == "snapshot":
            self._snapshot.append(response.snapshot)
            return None
        if kind == "snapshot_end":
            end = response.snapshot_end
            reason = self._snapshot_reason or RESYNC_INITIAL
            self._snapshot_reason = None
            self.position, self.instance_id = end.sequence, end.instance_id
            jobs = tuple(self._snapshot)
            self._snapshot.clear()
            return Resync(jobs, end.sequence, end.instance_id, reason)
        return None

    def _event(self, record: watch_pb2.EventRecord) -> EventItem | None:
        if (
            self.position is not None
            and record.instance_id == self.instance_id
            and record.sequence <= self.position
        ):
            return None
        self.position, self.instance_id = record.sequence, record.instance_id
        return EventItem(record.sequence, record.instance_id, record.event, record.synthetic)

    def failed(self, error: QapiJobsError) -> bool:
        """Account for a stream that ended with ``error``.

        Returns True to reconnect at once (a snapshot is due), False to
        reconnect after a backoff; raises ``error`` when it is final.
        """
        if error.code == grpc.StatusCode.OUT_OF_RANGE and error.reason in (
            EVENTS_EXPIRED,
            INSTANCE_CHANGED,
        ):
            self.position = None
            self._snapshot_reason = error.reason
            return True
        if error.code not in RETRYABLE:
            raise error
        # A watcher dropped as too slow, or by a server going away, is told
        # where its stream stood; that helps a watch that has not yet seen
        # an event or heartbeat of its own.
        resume = error.metadata.get(RESUME_AFTER_KEY, "")
        if self.position is None and self._snapshot_reason is None and resume.isdigit():
            self.position = int(resume)
            self.instance_id = error.metadata.get("instance_id", self.instance_id)
        return False


class JobsResume:
    """The state of one ``watch_jobs`` iteration across its streams."""

    def __init__(self, *, job_id: str = "", min_interval: float | None = None) -> None:
        self.job_id = job_id
        self.min_interval = min_interval
        self._last: JobsSnapshot | None = None
        self._reconnected = False

    def request(self) -> watch_pb2.WatchJobsRequest:
        """The request of the next stream."""
        if self._last is not None:
            self._reconnected = True
        return watch_pb2.WatchJobsRequest(
            job_id=self.job_id, min_interval=_duration(self.min_interval)
        )

    def receive(self, response: watch_pb2.WatchJobsResponse) -> JobsSnapshot | None:
        """The snapshot to hand out (None when nothing changed since the last one)."""
        last = self._last
        resync = self._reconnected and last is not None and last.instance_id != response.instance_id
        self._reconnected = False
        snapshot = JobsSnapshot(
            tuple(response.jobs), response.sequence, response.instance_id, resync
        )
        if (
            last is not None
            and not resync
            and (
                (last.jobs, last.sequence, last.instance_id)
                == (snapshot.jobs, snapshot.sequence, snapshot.instance_id)
            )
        ):
            return None
        self._last = snapshot
        return snapshot

    def finished(self) -> bool:
        """Whether a stream that ended cleanly ends the watch: the server
        ends a single job's stream once the job is gone."""
        return bool(self.job_id)

    def failed(self, error: QapiJobsError) -> None:
        """Account for a stream that ended with ``error``; raises it when final
        (a watched job that does not exist gives NOT_FOUND)."""
        if error.code not in RETRYABLE:
            raise error
