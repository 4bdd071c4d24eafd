"""Protobuf forms of events and job states, built once and shared by every watcher.

With thousands of watchers, turning an event into protobuf and serialising
it once per watcher would dominate the cost of a fan-out.  An
:class:`EventEncoder` therefore builds each event's message and wire bytes
once and keeps them in a small cache keyed by sequence number; every
stream that delivers the event reuses the same :class:`Frame`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Generic, TypeVar

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from qapi_jobs.server.jobs.events import EventRecord
from qapi_jobs.server.jobs.info import BlockJobInfo, JobInfo
from qapi_jobs.transcoder import TranscodeError, decode_event, to_message
from qapi_jobs.v1 import block_job_pb2, job_pb2, service_pb2, watch_pb2

logger = logging.getLogger(__name__)

_V = TypeVar("_V")
M = TypeVar("M", bound=Message)

DEFAULT_CACHE_SIZE = 4096
"""Events kept encoded; enough for every watcher that is roughly keeping up."""


class Frame(Generic[M]):
    """One response message of a stream, with its wire bytes made on first use.

    Frames of events are shared between streams, so they must be treated
    as immutable once built.
    """

    __slots__ = ("_data", "message")

    def __init__(self, message: M) -> None:
        self.message = message
        self._data: bytes | None = None

    @property
    def data(self) -> bytes:
        """The serialised message (computed once)."""
        if self._data is None:
            self._data = self.message.SerializeToString()
        return self._data


class _SeqCache(Generic[_V]):
    """A bounded map keyed by sequence number; the oldest insert goes first.

    Sequence numbers only grow and watchers mostly read the newest events,
    so first-in-first-out eviction keeps what is being asked for.
    """

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._values: dict[int, _V] = {}

    def get(self, seq: int) -> _V | None:
        return self._values.get(seq)

    def put(self, seq: int, value: _V) -> None:
        values = self._values
        values[seq] = value
        if len(values) > self._capacity:
            del values[next(iter(values))]


class EventEncoder:
    """Encodes event records for WatchEvents and StreamEvents, each at most once."""

    def __init__(self, instance_id: str, capacity: int = DEFAULT_CACHE_SIZE) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.instance_id = instance_id
        self._watch: _SeqCache[Frame[watch_pb2.WatchEventsResponse]] = _SeqCache(capacity)
        self._stream: _SeqCache[Frame[service_pb2.StreamEventsResponse]] = _SeqCache(capacity)
        self._envelopes: _SeqCache[service_pb2.Event] = _SeqCache(capacity)

    def watch_frame(self, record: EventRecord) -> Frame[watch_pb2.WatchEventsResponse]:
        """The WatchEventsResponse carrying ``record`` (sequence, instance, event)."""
        frame = self._watch.get(record.seq)
        if frame is None:
            event_record = watch_pb2.EventRecord(
                sequence=record.seq, instance_id=self.instance_id, event=self.envelope(record)
            )
            frame = Frame(watch_pb2.WatchEventsResponse(event=event_record))
            self._watch.put(record.seq, frame)
        return frame

    def stream_frame(self, record: EventRecord) -> Frame[service_pb2.StreamEventsResponse]:
        """The StreamEventsResponse carrying ``record`` (no sequence number)."""
        frame = self._stream.get(record.seq)
        if frame is None:
            frame = Frame(service_pb2.StreamEventsResponse(event=self.envelope(record)))
            self._stream.put(record.seq, frame)
        return frame

    def envelope(self, record: EventRecord) -> service_pb2.Event:
        """The Event envelope of ``record`` (shared: do not modify it)."""
        envelope = self._envelopes.get(record.seq)
        if envelope is None:
            envelope = _decode(record)
            self._envelopes.put(record.seq, envelope)
        return envelope


def _decode(record: EventRecord) -> service_pb2.Event:
    try:
        return decode_event(service_pb2.Event, record.name, record.data, _qmp_timestamp(record))
    except TranscodeError:
        # The schema and the manager disagree: a server bug.  The record
        # still goes out (without its kind) so that sequence numbers stay
        # contiguous for the clients; they see an event they cannot read.
        logger.exception("event %d (%s) does not fit the schema", record.seq, record.name)
        envelope = service_pb2.Event()
        envelope.timestamp.CopyFrom(timestamp_of(record.timestamp))
        return envelope


def _qmp_timestamp(record: EventRecord) -> Mapping[str, int]:
    seconds = int(record.timestamp)
    return {"seconds": seconds, "microseconds": int((record.timestamp - seconds) * 1_000_000)}


def timestamp_of(seconds: float) -> Timestamp:
    """A protobuf Timestamp for a POSIX time in (fractional) seconds."""
    stamp = Timestamp()
    stamp.FromNanoseconds(int(seconds * 1_000_000_000))
    return stamp


def now_timestamp() -> Timestamp:
    """The current time as a protobuf Timestamp."""
    stamp = Timestamp()
    stamp.FromNanoseconds(time.time_ns())
    return stamp


def job_info_message(info: JobInfo) -> job_pb2.JobInfo:
    """A query-jobs entry as its protobuf message."""
    return to_message(info.to_qmp(), job_pb2.JobInfo)


def block_job_info_message(info: BlockJobInfo) -> block_job_pb2.BlockJobInfo:
    """A query-block-jobs entry as its protobuf message."""
    return to_message(info.to_qmp(), block_job_pb2.BlockJobInfo)
