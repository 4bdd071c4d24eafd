"""Watches survive broken connections and server restarts without losing or repeating events.

The server runs as a subprocess on a fixed port so that it can be stopped
(SIGTERM, or killed outright) and started again at the same address; a
TCP proxy cuts connections to the same server instance.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from qapi_jobs.client import (
    AsyncJobsClient,
    EventItem,
    JobsClient,
    JobsSnapshot,
    ReconnectPolicy,
    Resync,
    WatchItem,
)
from tests.support.proxy import CuttableProxy
from tests.support.requests import raw_image
from tests.support.servers import ServerProcess, ThreadedServer, free_port

QUICK = ReconnectPolicy(initial=0.05, maximum=0.5, give_up_after=30)
WAIT = 30.0


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    # In memory, so that a restart loses the history (tests/durable: the durable store).
    process = ServerProcess(tmp_path, free_port(), ["--no-store"]).start()
    try:
        yield process
    finally:
        process.stop()


class Collector:
    """Runs a sync watch in a thread; the test waits for items it expects."""

    def __init__(self, items: Iterator[WatchItem]) -> None:
        self._queue: queue.Queue[WatchItem | BaseException] = queue.Queue()
        self.seen: list[WatchItem] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(items,), daemon=True)
        self._thread.start()

    def _run(self, items: Iterator[WatchItem]) -> None:
        try:
            for item in items:
                self._queue.put(item)
                if self._stop.is_set():
                    return
        except BaseException as err:
            self._queue.put(err)

    def next(self) -> WatchItem:
        got = self._queue.get(timeout=WAIT)
        if isinstance(got, BaseException):
            raise got
        self.seen.append(got)
        return got

    def until_status(self, job_id: str, status: str) -> None:
        while True:
            item = self.next()
            if (
                isinstance(item, EventItem)
                and item.job_id == job_id
                and item.data.get("status") == status
            ):
                return

    def stop(self) -> None:
        self._stop.set()


def _create(address: str, job_id: str) -> None:
    with JobsClient(address, timeout=10) as client:
        client.blockdev_create(job_id=job_id, options=raw_image(f"{job_id}.raw"))
        client.wait_for_status(job_id, "concluded", timeout=WAIT)


def _check_contiguous(items: list[WatchItem]) -> None:
    """Per instance, events follow each other without gap or repeat, and
    always after the last resync point."""
    last: dict[str, int] = {}
    for item in items:
        if isinstance(item, Resync):
            last[item.instance_id] = item.sequence
        elif isinstance(item, EventItem):
            assert item.sequence == last[item.instance_id] + 1, items
            last[item.instance_id] = item.sequence


def test_sync_watch_resyncs_after_a_restart(server: ServerProcess) -> None:
    with JobsClient(server.address, timeout=10, reconnect=QUICK) as client:
        watch = Collector(client.watch_events(snapshot=True))
        first = watch.next()
        assert isinstance(first, Resync) and first.reason == "INITIAL"
        _create(server.address, "before")
        watch.until_status("before", "concluded")
        server.stop()
        server.start()
        # The old instance's last events (its shutdown dismissed the job) come first.
        resync = watch.next()
        while isinstance(resync, EventItem) and resync.instance_id == first.instance_id:
            resync = watch.next()
        assert isinstance(resync, Resync) and resync.reason == "INSTANCE_CHANGED"
        assert resync.instance_id != first.instance_id
        assert resync.jobs == ()  # the jobs of the old instance are gone with it
        _create(server.address, "after")
        watch.until_status("after", "concluded")
        watch.stop()
    _check_contiguous(watch.seen)
    names = [(i.job_id, i.data["status"]) for i in watch.seen if isinstance(i, EventItem)]
    assert names.count(("before", "concluded")) == 1
    assert names.count(("after", "created")) == 1


def test_sync_watch_resumes_on_the_same_server_without_loss(tmp_path: Path) -> None:
    server = ThreadedServer(tmp_path).start()
    proxy = CuttableProxy(server.address)
    try:
        with JobsClient(proxy.address, timeout=10, reconnect=QUICK) as client:
            watch = Collector(client.watch_events(snapshot=True))
            assert isinstance(watch.next(), Resync)
            _create(server.address, "one")
            watch.until_status("one", "concluded")
            proxy.blocked.set()
            proxy.cut()
            # These events happen while the watcher is cut off.
            _create(server.address, "two")
            with JobsClient(server.address) as direct:
                direct.job_dismiss(id="one")
            proxy.blocked.clear()
            watch.until_status("one", "null")  # the last of the missed events
            watch.stop()
        _check_contiguous(watch.seen)
        assert sum(isinstance(i, Resync) for i in watch.seen) == 1
        statuses = [
            i.data["status"] for i in watch.seen if isinstance(i, EventItem) and i.job_id == "two"
        ]
        assert statuses == ["created", "running", "waiting", "pending", "concluded"]
    finally:
        proxy.close()
        server.stop()


async def test_async_watches_survive_a_crash(server: ServerProcess) -> None:
    async with AsyncJobsClient(server.address, timeout=10, reconnect=QUICK) as client:
        events = client.watch_events(snapshot=True)
        async with contextlib.aclosing(events):
            first = await anext(events)
            assert isinstance(first, Resync)
            await asyncio.to_thread(server.kill)
            await asyncio.to_thread(server.start)
            resync = await asyncio.wait_for(anext(events), WAIT)
            assert isinstance(resync, Resync) and resync.reason == "INSTANCE_CHANGED"
            await client.blockdev_create(job_id="x", options=raw_image("x.raw"))
            item = await asyncio.wait_for(anext(events), WAIT)
            assert isinstance(item, EventItem) and item.sequence == resync.sequence + 1
        snapshots: list[JobsSnapshot] = []
        async with contextlib.aclosing(client.watch_jobs(min_interval=0.01)) as jobs:
            snapshots.append(await asyncio.wait_for(anext(jobs), WAIT))
            await asyncio.to_thread(server.stop)
            await asyncio.to_thread(server.start)
            # The old instance may still show its shutdown dismissing the job.
            snapshot = await asyncio.wait_for(anext(jobs), WAIT)
            while not snapshot.resync:
                snapshot = await asyncio.wait_for(anext(jobs), WAIT)
            snapshots.append(snapshot)
        assert [s.resync for s in snapshots] == [False, True]
        assert [len(s.jobs) for s in snapshots] == [1, 0]
