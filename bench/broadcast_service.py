"""The floor under the event stream: a bare grpc.aio broadcast.

No job manager and no event log: ``Publish`` stamps events and puts the
same bytes on every watcher's bounded queue; ``Watch`` writes them.  It does
what any broadcast over grpc.aio must do (one task per stream, one queue per
watcher), the cheapest way grpc.aio offers: each event is serialised once
and written as bytes with ``context.write`` (a reader/writer handler, no
per-stream serialisation), and a watcher that wakes up drains its whole
queue.

Wire format, shared with the watcher processes: every message is
``kind (1 byte), sequence (8), publish time (8, float seconds since the
epoch)`` padded with zeroes to the event size.  A watcher's first message is
a HELLO, sent as soon as its stream is open.
"""

from __future__ import annotations

import asyncio
import struct
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import grpc

SERVICE = "bench.Broadcast"
WATCH_METHOD = f"/{SERVICE}/Watch"
PUBLISH_METHOD = f"/{SERVICE}/Publish"

HELLO = 0
EVENT = 1

_HEADER = struct.Struct(">BQd")
_COUNT = struct.Struct(">I")
QUEUE_LIMIT = 1024
"""Events a watcher may fall behind by before it is dropped (the service bounds its queues too)."""


@dataclass(frozen=True)
class Message:
    """One decoded broadcast message."""

    kind: int
    sequence: int
    published_at: float


def encode(kind: int, sequence: int, published_at: float, size: int) -> bytes:
    """A message of ``size`` bytes (at least the header's 17)."""
    header = _HEADER.pack(kind, sequence, published_at)
    return header + bytes(max(0, size - len(header)))


def decode(data: bytes) -> Message:
    """The header of a broadcast message."""
    kind, sequence, published_at = _HEADER.unpack_from(data)
    return Message(kind, sequence, published_at)


def publish_request(count: int) -> bytes:
    """The body of a Publish call that emits ``count`` events back to back."""
    return _COUNT.pack(count)


class Broadcaster:
    """The watchers' queues and the sequence counter."""

    def __init__(self, event_size: int) -> None:
        self.event_size = event_size
        self.sequence = 0
        self.dropped = 0
        self._queues: set[asyncio.Queue[bytes]] = set()

    def publish(self, count: int) -> int:
        """Emit ``count`` events to every watcher; return the last sequence number."""
        for _ in range(count):
            self.sequence += 1
            message = encode(EVENT, self.sequence, time.time(), self.event_size)
            for queue in list(self._queues):
                try:
                    queue.put_nowait(message)
                except asyncio.QueueFull:
                    self._queues.discard(queue)
                    self.dropped += 1
        return self.sequence

    async def watch(self, write: Callable[[bytes], Awaitable[None]]) -> None:
        """Write a HELLO, then every event from now on, until cancelled or dropped."""
        queue: asyncio.Queue[bytes] = asyncio.Queue(QUEUE_LIMIT)
        self._queues.add(queue)
        try:
            await write(encode(HELLO, self.sequence, time.time(), self.event_size))
            while queue in self._queues or not queue.empty():
                await write(await queue.get())
                while not queue.empty():
                    await write(queue.get_nowait())
        finally:
            self._queues.discard(queue)


class BroadcastHandler(grpc.GenericRpcHandler):
    """Serves ``Watch`` (server streaming) and ``Publish`` (unary) of one Broadcaster."""

    def __init__(self, broadcaster: Broadcaster) -> None:
        self._broadcaster = broadcaster

        async def watch(request: bytes, context: grpc.aio.ServicerContext[bytes, bytes]) -> None:
            await broadcaster.watch(context.write)

        async def publish(request: bytes, context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
            (count,) = _COUNT.unpack(request)
            return struct.pack(">Q", broadcaster.publish(count))

        self._watch: grpc.RpcMethodHandler[bytes, bytes] = grpc.unary_stream_rpc_method_handler(
            watch
        )
        self._publish: grpc.RpcMethodHandler[bytes, bytes] = grpc.unary_unary_rpc_method_handler(
            publish
        )

    def service(
        self, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler[bytes, bytes] | None:
        """The handler for ``Watch`` or ``Publish``; None for other methods."""
        if handler_call_details.method == WATCH_METHOD:
            return self._watch
        if handler_call_details.method == PUBLISH_METHOD:
            return self._publish
        return None
