"""A watcher process for the fan-out benchmark: many event streams, timestamps of every receipt.

The fan-out benchmark spawns a few of these (spawned, not forked: gRPC must
not be forked) so that the watchers' CPU is not the server's.  Each one
takes commands over a multiprocessing pipe:

* ``("open", kind, address, streams)``: open that many streams (kind
  ``"bare"`` or ``"service"``) and answer ``("opened", ok, failed)`` once every
  stream has shown it is live (bare: its HELLO; service: its SnapshotEnd);
* ``("mark",)``: start a new phase: forget deliveries so far;
* ``("count",)``: ``("count", deliveries, distinct_events, failed_streams)`` of
  the phase so far;
* ``("collect",)``: ``("delays", delays, sequences, last)`` of the phase:
  the publish-to-receipt delays (array of doubles as bytes, seconds), the
  distinct event sequence numbers received and the time of the last receipt;
* ``("close",)``: end every stream, answer ``("closed",)``;
* ``("exit",)`` or a closed pipe: stop.
"""

from __future__ import annotations

import asyncio
import math
import time
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

import grpc

from bench import broadcast_service

STREAMS_PER_CHANNEL = 1000
OPEN_BATCH = 200
OPEN_TIMEOUT = 60.0
"""Seconds to wait for one batch of streams to become live."""

Message = tuple[int, int, float]
"""(kind, sequence, publish time) with kind OPENED, EVENT or OTHER."""
OPENED, EVENT, OTHER = 0, 1, 2


@dataclass
class StreamKind:
    """How to open one kind of event stream and read its messages."""

    open_call: Callable[[grpc.aio.Channel], Any]
    classify: Callable[[Any], Sequence[Message]]
    """What one response carries: a message may hold several events."""


def bare_kind() -> StreamKind:
    """The baseline broadcast's Watch stream (raw bytes)."""

    def open_call(channel: grpc.aio.Channel) -> Any:
        method: grpc.aio.UnaryStreamMultiCallable[bytes, bytes] = channel.unary_stream(
            broadcast_service.WATCH_METHOD
        )
        return method(b"")

    def classify(data: bytes) -> Sequence[Message]:
        message = broadcast_service.decode(data)
        kind = OPENED if message.kind == broadcast_service.HELLO else EVENT
        return ((kind, message.sequence, message.published_at),)

    return StreamKind(open_call, classify)


def service_kind() -> StreamKind:
    """The service's WatchService.WatchEvents stream, starting with a snapshot."""
    from bench import service_watch

    return StreamKind(service_watch.open_watch_call, service_watch.classify)


KINDS: dict[str, Callable[[], StreamKind]] = {"bare": bare_kind, "service": service_kind}


@dataclass
class Recorder:
    """Receipts of the current phase."""

    delays: array[float] = field(default_factory=lambda: array("d"))
    sequences: set[int] = field(default_factory=set)
    last_received: float = 0.0
    opened: int = 0
    failed: int = 0

    def mark(self) -> None:
        """Start a new phase."""
        self.delays = array("d")
        self.sequences = set()
        self.last_received = 0.0


class Watchers:
    """The streams of this process and what they received."""

    def __init__(self) -> None:
        self.recorder = Recorder()
        self._channels: list[grpc.aio.Channel] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._calls: list[Any] = []
        self._all_open = asyncio.Event()
        self._expected = 0

    async def open(self, kind_name: str, address: str, streams: int) -> tuple[int, int]:
        """Open ``streams`` streams; return (opened, failed) once all are live or failed.

        Streams are opened in batches: a grpc.aio server (1.85) asked for a
        few thousand new streams at once leaves some of them stalled for
        good, whereas one that already holds thousands of open streams takes
        more without trouble.
        """
        kind = KINDS[kind_name]()
        channel_count = max(1, math.ceil(streams / STREAMS_PER_CHANNEL))
        self._channels = [
            grpc.aio.insecure_channel(address, options=[("grpc.use_local_subchannel_pool", 1)])
            for _ in range(channel_count)
        ]
        self.recorder = Recorder()
        for first in range(0, streams, OPEN_BATCH):
            last = min(streams, first + OPEN_BATCH)
            self._expected = last
            self._all_open.clear()
            for index in range(first, last):
                call = kind.open_call(self._channels[index % channel_count])
                self._calls.append(call)
                self._tasks.append(asyncio.create_task(self._consume(call, kind)))
            if self.recorder.opened + self.recorder.failed < last:
                try:
                    await asyncio.wait_for(self._all_open.wait(), OPEN_TIMEOUT)
                except TimeoutError:
                    break
        return self.recorder.opened, self.recorder.failed

    async def _consume(self, call: Any, kind: StreamKind) -> None:
        recorder = self.recorder
        classify = kind.classify
        now = time.time
        try:
            async for message in call:
                received = now()
                for what, sequence, published in classify(message):
                    if what == EVENT:
                        recorder.delays.append(received - published)
                        recorder.sequences.add(sequence)
                        recorder.last_received = received
                    elif what == OPENED:
                        self._count_open(opened=True)
        except grpc.aio.AioRpcError as error:
            if error.code() != grpc.StatusCode.CANCELLED:
                self._count_open(opened=False)

    def _count_open(self, opened: bool) -> None:
        if opened:
            self.recorder.opened += 1
        else:
            self.recorder.failed += 1
        if self.recorder.opened + self.recorder.failed >= self._expected:
            self._all_open.set()

    async def close(self) -> None:
        """End every stream and close the channels."""
        for call in self._calls:
            call.cancel()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for channel in self._channels:
            await channel.close()
        self._calls, self._tasks, self._channels = [], [], []


async def serve_commands(conn: Connection) -> None:
    """Execute the parent's commands until told to exit or the pipe closes."""
    watchers = Watchers()
    try:
        while True:
            try:
                command = await asyncio.to_thread(conn.recv)
            except EOFError:
                return
            verb = command[0]
            if verb == "open":
                _, kind_name, address, streams = command
                opened, failed = await watchers.open(kind_name, address, streams)
                conn.send(("opened", opened, failed))
            elif verb == "mark":
                watchers.recorder.mark()
                conn.send(("marked",))
            elif verb == "count":
                recorder = watchers.recorder
                conn.send(("count", len(recorder.delays), len(recorder.sequences), recorder.failed))
            elif verb == "collect":
                recorder = watchers.recorder
                conn.send(
                    (
                        "delays",
                        recorder.delays.tobytes(),
                        sorted(recorder.sequences),
                        recorder.last_received,
                    )
                )
            elif verb == "close":
                await watchers.close()
                conn.send(("closed",))
            elif verb == "exit":
                return
            else:
                conn.send(("error", f"unknown command {verb!r}"))
    finally:
        await watchers.close()


def worker_main(conn: Connection) -> None:
    """Entry point of a spawned watcher process."""
    try:
        asyncio.run(serve_commands(conn))
    finally:
        conn.close()
