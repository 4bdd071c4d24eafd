"""The spawned watcher processes of the fan-out benchmark, driven from the event loop."""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from bench import watchers

REPLY_TIMEOUT = 600.0
_VERBOSITY = "GRPC_VERBOSITY"


@contextlib.contextmanager
def _quiet_grpc() -> Iterator[None]:
    """Children spawned meanwhile log only gRPC errors (not every GOAWAY of a stopped server)."""
    before = os.environ.get(_VERBOSITY)
    os.environ[_VERBOSITY] = "ERROR"
    try:
        yield
    finally:
        if before is None:
            del os.environ[_VERBOSITY]
        else:
            os.environ[_VERBOSITY] = before


@dataclass
class Worker:
    """One watcher process and our end of its pipe."""

    process: BaseProcess
    conn: Connection
    streams: int = 0


@dataclass(frozen=True)
class PhaseCount:
    """How far the watchers of one process are in the current phase."""

    streams: int
    deliveries: int
    distinct_events: int
    failed_streams: int


@dataclass(frozen=True)
class PhaseDeliveries:
    """What the watchers of all processes received in one phase."""

    delays: list[float]
    sequences: set[int]
    last_received: float
    """Wall-clock time of the last receipt (0 when nothing arrived)."""


class WatcherPool:
    """A fixed set of spawned watcher processes (spawn, never fork: gRPC is not fork-safe)."""

    def __init__(self, size: int) -> None:
        context = multiprocessing.get_context("spawn")
        self.workers: list[Worker] = []
        with _quiet_grpc():
            for index in range(size):
                ours, theirs = context.Pipe()
                process = context.Process(
                    target=watchers.worker_main,
                    args=(theirs,),
                    name=f"bench-watchers-{index}",
                    daemon=True,
                )
                process.start()
                theirs.close()
                self.workers.append(Worker(process, ours))

    async def _ask(self, worker: Worker, command: tuple[Any, ...]) -> tuple[Any, ...]:
        def exchange() -> tuple[Any, ...]:
            worker.conn.send(command)
            if not worker.conn.poll(REPLY_TIMEOUT):
                raise TimeoutError(f"watcher process gave no answer to {command[0]!r}")
            reply: tuple[Any, ...] = worker.conn.recv()
            return reply

        return await asyncio.to_thread(exchange)

    async def _ask_busy(self, command: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        busy = [w for w in self.workers if w.streams]
        return list(await asyncio.gather(*(self._ask(w, command) for w in busy)))

    async def open(self, kind: str, address: str, streams: int) -> tuple[int, int]:
        """Spread ``streams`` streams over the processes; return (opened, failed)."""
        share, extra = divmod(streams, len(self.workers))
        for index, worker in enumerate(self.workers):
            worker.streams = share + (1 if index < extra else 0)
        replies = await asyncio.gather(
            *(self._ask(w, ("open", kind, address, w.streams)) for w in self.workers if w.streams)
        )
        return sum(r[1] for r in replies), sum(r[2] for r in replies)

    async def mark(self) -> None:
        """Start a new phase in every process."""
        await self._ask_busy(("mark",))

    async def count(self) -> list[PhaseCount]:
        """Progress of the current phase, per process."""
        busy = [w for w in self.workers if w.streams]
        replies = await asyncio.gather(*(self._ask(w, ("count",)) for w in busy))
        return [PhaseCount(w.streams, r[1], r[2], r[3]) for w, r in zip(busy, replies, strict=True)]

    async def collect(self) -> PhaseDeliveries:
        """Every delay and event of the current phase."""
        delays: list[float] = []
        sequences: set[int] = set()
        last_received = 0.0
        for reply in await self._ask_busy(("collect",)):
            values = array("d")
            values.frombytes(reply[1])
            delays.extend(values)
            sequences.update(reply[2])
            last_received = max(last_received, reply[3])
        return PhaseDeliveries(delays, sequences, last_received)

    async def close_streams(self) -> None:
        """End every stream (the processes stay, for the next step)."""
        await self._ask_busy(("close",))
        for worker in self.workers:
            worker.streams = 0

    def shutdown(self) -> None:
        """Stop the processes."""
        for worker in self.workers:
            with contextlib.suppress(OSError):
                worker.conn.send(("exit",))
            worker.conn.close()
        for worker in self.workers:
            worker.process.join(10)
            if worker.process.is_alive():
                worker.process.terminate()
                worker.process.join(5)
