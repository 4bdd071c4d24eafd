"""The service's WatchEvents stream as the fan-out watcher processes open and read it.

Kept apart from :mod:`bench.watchers` so that a watcher process watching
only the bare broadcast never imports the generated code.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import grpc
from google.protobuf.duration_pb2 import Duration

from bench.watchers import EVENT, OPENED, OTHER, Message
from qapi_jobs.v1 import watch_pb2

WATCH_METHOD = "/qapi_jobs.v1.WatchService/WatchEvents"
IDLE_HEARTBEAT_SECONDS = 300
"""Heartbeats only on streams idle this long: the bare broadcast sends none either."""

_REQUEST = watch_pb2.WatchEventsRequest(
    send_initial_snapshot=True,
    heartbeat_interval=Duration(seconds=IDLE_HEARTBEAT_SECONDS),
    batch=True,
)


def open_watch_call(channel: grpc.aio.Channel) -> Any:
    """Start one WatchEvents stream that begins with the jobs' snapshot and batches events."""
    method = channel.unary_stream(
        WATCH_METHOD,
        request_serializer=watch_pb2.WatchEventsRequest.SerializeToString,
        response_deserializer=watch_pb2.WatchEventsResponse.FromString,
    )
    return method(_REQUEST)


def classify(message: watch_pb2.WatchEventsResponse) -> Sequence[Message]:
    """OPENED at the end of the snapshot; EVENT with its sequence and emission time, per event."""
    item = message.WhichOneof("item")
    if item == "event":
        return (_event(message.event),)
    if item == "batch":
        return [_event(record) for record in message.batch.events]
    if item == "snapshot_end":
        return ((OPENED, 0, 0.0),)
    return ((OTHER, 0, 0.0),)


def _event(record: watch_pb2.EventRecord) -> Message:
    stamp = record.event.timestamp
    return EVENT, record.sequence, stamp.seconds + stamp.nanos / 1e9
