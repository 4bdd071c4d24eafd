"""Watchers the restart tests run: the typed client's, and raw WatchEvents streams."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Callable

import grpc

from qapi_jobs.client import EventItem, Resync, WatchItem
from qapi_jobs.v1 import watch_pb2, watch_pb2_grpc
from tests.support.servers import ServerProcess
from tests.support.timeouts import GUARD_TIMEOUT


class TypedWatch:
    """Collects what a typed ``watch_events`` iterator yields, in a task."""

    def __init__(self, items: AsyncGenerator[WatchItem, None]) -> None:
        self.items = items
        self.seen: list[WatchItem] = []
        self._changed = asyncio.Event()
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        async for item in self.items:
            self.seen.append(item)
            self._changed.set()

    @property
    def events(self) -> list[EventItem]:
        """The events seen so far."""
        return [item for item in self.seen if isinstance(item, EventItem)]

    @property
    def resyncs(self) -> list[Resync]:
        """The snapshots seen so far."""
        return [item for item in self.seen if isinstance(item, Resync)]

    async def started(self) -> None:
        """Wait for the initial snapshot: from then on every event arrives as one."""
        await self.until(lambda: bool(self.resyncs))

    async def until(self, predicate: Callable[[], bool]) -> None:
        """Wait until ``predicate()`` holds (checked after each item)."""
        async with asyncio.timeout(GUARD_TIMEOUT):
            while not predicate():
                if self._task.done():
                    self._task.result()
                    raise AssertionError("the watch ended")
                self._changed.clear()
                await self._changed.wait()

    def saw(self, job_id: str, status: str) -> bool:
        """Whether a JOB_STATUS_CHANGE of ``job_id`` to ``status`` arrived."""
        return any(
            e.name == "JOB_STATUS_CHANGE" and e.job_id == job_id and e.data["status"] == status
            for e in self.events
        )

    async def close(self) -> None:
        """Stop the task and the iterator."""
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        await self.items.aclose()


async def read_after(
    address: str, after: int, instance_id: str, until: int
) -> list[watch_pb2.WatchEventsResponse]:
    """One raw WatchEvents stream resumed after ``after``, read up to sequence ``until``."""
    got: list[watch_pb2.WatchEventsResponse] = []
    async with grpc.aio.insecure_channel(address) as channel:
        stub = watch_pb2_grpc.WatchServiceStub(channel)
        call = stub.WatchEvents(
            watch_pb2.WatchEventsRequest(after_sequence=after, instance_id=instance_id)
        )
        async with asyncio.timeout(GUARD_TIMEOUT):
            async for response in call:
                if response.HasField("event"):
                    got.append(response)
                    if response.event.sequence >= until:
                        break
        call.cancel()
    return got


def assert_contiguous(events: list[EventItem], instance_id: str) -> None:
    """One log, sequence numbers one after another: no loss, no repeat."""
    assert {e.instance_id for e in events} == {instance_id}
    sequences = [e.sequence for e in events]
    assert sequences == list(range(sequences[0], sequences[0] + len(sequences))), sequences


def end(server: ServerProcess, how: str) -> None:
    """``"term"``: SIGTERM, which must end the server cleanly; ``"kill"``: SIGKILL."""
    if how == "term":
        assert server.stop() == 0
    else:
        server.kill()
