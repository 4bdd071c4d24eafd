"""Protobuf forms of events and job states, built once and shared by every watcher.

With thousands of watchers, turning an event into protobuf and serialising
it once per watcher would dominate the cost of a fan-out.  An
:class:`EventEncoder` therefore builds each event's message and wire bytes
once and keeps them in a small cache keyed by sequence number; every
stream that delivers the event reuses the same :class:`Frame`.  Batches of
events (WatchEvents with ``batch`` set) are cached the same way, keyed by
the events they hold, and built by concatenating the events' bytes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Generic, TypeVar

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from qapi_jobs.server.jobs.events import EventRecord
from qapi_jobs.server.jobs.info import BlockJobInfo, JobInfo
from qapi_jobs.transcoder import TranscodeError, decode_event, qmp_to_message
from qapi_jobs.v1 import block_job_pb2, job_pb2, service_pb2, watch_pb2

logger = logging.getLogger(__name__)

_K = TypeVar("_K")
_V = TypeVar("_V")
M = TypeVar("M", bound=Message)

DEFAULT_CACHE_SIZE = 4096
"""Events kept encoded; enough for every watcher that is roughly keeping up."""
BATCH_CACHE_SIZE = 1024
"""Event batches kept encoded: watchers at the same place share theirs."""

_EVENT_FIELD = watch_pb2.WatchEventsResponse.DESCRIPTOR.fields_by_name["event"]
_BATCH_FIELD = watch_pb2.WatchEventsResponse.DESCRIPTOR.fields_by_name["batch"]
_BATCH_EVENTS_FIELD = watch_pb2.EventBatch.DESCRIPTOR.fields_by_name["events"]
# A batch is assembled from the single-event responses' bytes: a response
# carrying one EventRecord in field N is, byte for byte, one entry of a
# repeated EventRecord field N.  That holds only while the numbers agree.
assert _EVENT_FIELD.number == _BATCH_EVENTS_FIELD.number
_BATCH_TAG = bytes([_BATCH_FIELD.number << 3 | 2])  # wire type 2: length-delimited


class Frame(Generic[M]):
    """One response message of a stream, with its wire bytes made on first use.

    Frames of events are shared between streams, so they must be treated
    as immutable once built.  A frame assembled from wire bytes
    (:meth:`from_data`) parses its message only if someone asks for it.
    """

    __slots__ = ("_data", "_message", "_parse")

    def __init__(self, message: M) -> None:
        self._message: M | None = message
        self._data: bytes | None = None
        self._parse: Callable[[bytes], M] | None = None

    @classmethod
    def from_data(cls, data: bytes, parse: Callable[[bytes], M]) -> Frame[M]:
        """A frame whose wire bytes are known; ``parse`` makes its message on demand."""
        frame: Frame[M] = cls.__new__(cls)
        frame._message = None
        frame._data = data
        frame._parse = parse
        return frame

    @property
    def message(self) -> M:
        """The response message (parsed once, for frames made from bytes)."""
        if self._message is None:
            assert self._parse is not None and self._data is not None
            self._message = self._parse(self._data)
        return self._message

    @property
    def data(self) -> bytes:
        """The serialised message (computed once)."""
        if self._data is None:
            self._data = self.message.SerializeToString()
        return self._data


class _FifoCache(Generic[_K, _V]):
    """A bounded map; the oldest insert goes first.

    Sequence numbers only grow and watchers mostly read the newest events,
    so first-in-first-out eviction keeps what is being asked for.
    """

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._values: dict[_K, _V] = {}

    def get(self, key: _K) -> _V | None:
        return self._values.get(key)

    def put(self, key: _K, value: _V) -> None:
        values = self._values
        values[key] = value
        if len(values) > self._capacity:
            del values[next(iter(values))]


_WatchFrame = Frame[watch_pb2.WatchEventsResponse]
_StreamFrame = Frame[service_pb2.StreamEventsResponse]


class EventEncoder:
    """Encodes event records for WatchEvents and StreamEvents, each at most once."""

    def __init__(self, instance_id: str, capacity: int = DEFAULT_CACHE_SIZE) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.instance_id = instance_id
        self._watch: _FifoCache[int, _WatchFrame] = _FifoCache(capacity)
        self._stream: _FifoCache[int, _StreamFrame] = _FifoCache(capacity)
        self._envelopes: _FifoCache[int, service_pb2.Event] = _FifoCache(capacity)
        # Two caches, because a run's key (first, last) and a filtered
        # pick's key (its sequence numbers) could otherwise coincide.
        self._runs: _FifoCache[tuple[int, int], _WatchFrame] = _FifoCache(BATCH_CACHE_SIZE)
        self._picks: _FifoCache[tuple[int, ...], _WatchFrame] = _FifoCache(BATCH_CACHE_SIZE)

    def watch_frame(self, record: EventRecord) -> Frame[watch_pb2.WatchEventsResponse]:
        """The WatchEventsResponse carrying ``record`` (sequence, instance, event)."""
        frame = self._watch.get(record.seq)
        if frame is None:
            event_record = watch_pb2.EventRecord(
                sequence=record.seq,
                instance_id=self.instance_id,
                event=self.envelope(record),
                synthetic=record.synthetic,
            )
            frame = Frame(watch_pb2.WatchEventsResponse(event=event_record))
            self._watch.put(record.seq, frame)
        return frame

    def watch_batch_frame(
        self, records: Sequence[EventRecord]
    ) -> Frame[watch_pb2.WatchEventsResponse]:
        """The WatchEventsResponse carrying ``records`` (two or more, in order) as an EventBatch.

        Its bytes are the single-event frames' bytes behind one header, and
        are shared by every stream that delivers the same events together.
        """
        first, last = records[0].seq, records[-1].seq
        if last - first + 1 == len(records):
            run = (first, last)
            frame = self._runs.get(run)
            if frame is None:
                frame = self._batch(records)
                self._runs.put(run, frame)
            return frame
        pick = tuple(record.seq for record in records)
        frame = self._picks.get(pick)
        if frame is None:
            frame = self._batch(records)
            self._picks.put(pick, frame)
        return frame

    def _batch(self, records: Sequence[EventRecord]) -> Frame[watch_pb2.WatchEventsResponse]:
        body = b"".join([self.watch_frame(record).data for record in records])
        data = _BATCH_TAG + _varint(len(body)) + body
        return Frame.from_data(data, watch_pb2.WatchEventsResponse.FromString)

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


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


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
    """A query-jobs entry as its protobuf message.

    A record that does not fit the schema (a server bug) must not make the
    other jobs of a snapshot unreadable: it is logged and sent with only
    its identity, status and error.
    """
    try:
        return qmp_to_message(info.to_qmp(), job_pb2.JobInfo)
    except TranscodeError:
        logger.exception("job %r does not fit the schema", info.id)
        core = {key: info.to_qmp()[key] for key in ("id", "type", "status")}
        if info.error is not None:
            core["error"] = info.error
        return qmp_to_message(core | {"current-progress": 0, "total-progress": 0}, job_pb2.JobInfo)


def block_job_info_message(info: BlockJobInfo) -> block_job_pb2.BlockJobInfo:
    """A query-block-jobs entry as its protobuf message (one that does not fit: logged, empty)."""
    try:
        return qmp_to_message(info.to_qmp(), block_job_pb2.BlockJobInfo)
    except TranscodeError:
        logger.exception("block job %r does not fit the schema", info.device)
        return block_job_pb2.BlockJobInfo(device=info.device)
