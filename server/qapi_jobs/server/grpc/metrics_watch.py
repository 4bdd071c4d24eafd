"""Watch stream metrics: open streams, how they start and end, events delivered.

What a watcher asked for tells how it starts: ``resume`` (after a
sequence number), ``snapshot`` (a list first: a new watcher or a relist
after EVENTS_EXPIRED or INSTANCE_CHANGED) or ``live``.  A stream that
ends with reason WATCHER_TOO_SLOW counts as a dropped watcher.
Deliveries are counted by an :class:`~.watch_encoding.EventEncoder` that
counts what it hands out: each call is one event (or one batch) going to
one watcher, and a plain integer per event name keeps that hot path cheap.
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Iterator, Sequence
from types import TracebackType

import grpc
from google.rpc import error_details_pb2, status_pb2
from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from qapi_jobs.server.grpc.interceptors import Context, Observe
from qapi_jobs.server.grpc.metrics_rpc import MethodMetrics, RpcTimer, split_method
from qapi_jobs.server.grpc.watch_encoding import EventEncoder, Frame
from qapi_jobs.server.jobs.events import EventRecord
from qapi_jobs.v1 import service_pb2, watch_pb2

TOO_SLOW = "WATCHER_TOO_SLOW"
_DETAILS_KEY = "grpc-status-details-bin"


def start_kind(request: object) -> str:
    """``resume``, ``snapshot`` or ``live``: how a watch stream starts."""
    if isinstance(request, watch_pb2.WatchEventsRequest):
        if request.send_initial_snapshot:
            return "snapshot"
        if request.HasField("after_sequence"):
            return "resume"
    return "live"


def error_reason(context: Context) -> str | None:
    """The ErrorInfo reason in the status details a call ended with, if any."""
    for key, value in context.trailing_metadata() or ():
        if key == _DETAILS_KEY and isinstance(value, bytes):
            status = status_pb2.Status.FromString(value)
            for detail in status.details:
                info = error_details_pb2.ErrorInfo()
                if detail.Unpack(info):
                    return str(info.reason)
    return None


class WatchMetrics:
    """Open streams, starts by kind and dropped watchers, per watch method."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.open = Gauge(
            "qapi_jobs_watch_streams_open",
            "Watch streams open now.",
            ("grpc_method",),
            registry=registry,
        )
        self.started = Counter(
            "qapi_jobs_watch_streams_started",
            "Watch streams opened, by how they start: resume, snapshot (initial list or relist) "
            "or live.",
            ("grpc_method", "start"),
            registry=registry,
        )
        self.dropped = Counter(
            "qapi_jobs_watchers_dropped",
            "Watch streams ended because the watcher fell too far behind (WATCHER_TOO_SLOW).",
            ("grpc_method",),
            registry=registry,
        )

    def observe(self, method: str, metrics: MethodMetrics) -> Observe:
        """An Observe for watch method ``method``, recording its RPC ``metrics`` too."""
        name = split_method(method)[1]
        open_streams = self.open.labels(name)
        dropped = self.dropped.labels(name)
        starts = {kind: self.started.labels(name, kind) for kind in ("resume", "snapshot", "live")}

        def observe(request: object, context: Context) -> WatchCall:
            starts[start_kind(request)].inc()
            return WatchCall(RpcTimer(metrics, context), context, open_streams, dropped)

        return observe


class WatchCall:
    """One watch stream: open while it runs, checked for WATCHER_TOO_SLOW at its end."""

    __slots__ = ("_context", "_dropped", "_open", "_timer")

    def __init__(self, timer: RpcTimer, context: Context, open_streams: Gauge, dropped: Counter):
        self._timer = timer
        self._context = context
        self._open = open_streams
        self._dropped = dropped

    def __enter__(self) -> WatchCall:
        self._timer.__enter__()
        self._open.inc()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._open.dec()
        self._timer.__exit__(exc_type, exc, traceback)
        if (
            exc is not None
            and self._context.code() == grpc.StatusCode.ABORTED
            and error_reason(self._context) == TOO_SLOW
        ):
            self._dropped.inc()


class CountingEncoder(EventEncoder, Collector):
    """An EventEncoder that counts the events it hands out; a collector of that count."""

    def __init__(self, instance_id: str) -> None:
        super().__init__(instance_id)
        self.delivered: Tally[str] = Tally()
        self._batching = False

    def watch_frame(self, record: EventRecord) -> Frame[watch_pb2.WatchEventsResponse]:
        """See EventEncoder.watch_frame; counts one delivery."""
        if not self._batching:
            self.delivered[record.name] += 1
        return super().watch_frame(record)

    def watch_batch_frame(
        self, records: Sequence[EventRecord]
    ) -> Frame[watch_pb2.WatchEventsResponse]:
        """See EventEncoder.watch_batch_frame; counts a delivery per event."""
        # A batch is built from single-event frames: those are not deliveries.
        self._batching = True
        try:
            frame = super().watch_batch_frame(records)
        finally:
            self._batching = False
        self.delivered.update(record.name for record in records)
        return frame

    def stream_frame(self, record: EventRecord) -> Frame[service_pb2.StreamEventsResponse]:
        """See EventEncoder.stream_frame; counts one delivery."""
        self.delivered[record.name] += 1
        return super().stream_frame(record)

    def collect(self) -> Iterator[CounterMetricFamily]:
        """``qapi_jobs_events_delivered_total`` by event name."""
        family = CounterMetricFamily(
            "qapi_jobs_events_delivered",
            "Events written to watch streams (one per watcher that got it).",
            labels=("event",),
        )
        for name, count in sorted(self.delivered.items()):
            family.add_metric((name,), count)
        yield family
