"""Fifty crashes at random moments under load, with watchers that resume each time.

Every round starts the server on the same data directory, starts jobs
(creates, and a throttled backup that is always mid-copy), lets them run
for a random moment and SIGKILLs the server.  Watchers resume from their
last sequence number after each crash and must never see a gap, a repeat
or a relist; in the end the log in the store has no gap and holds every
event any watcher received, byte for byte.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import sqlite3
from pathlib import Path

import grpc

from qapi_jobs.server.store.layout import database_path
from qapi_jobs.transcoder import encode_event
from qapi_jobs.v1 import (
    block_ops_pb2,
    image_pb2,
    job_pb2,
    service_pb2,
    service_pb2_grpc,
    watch_pb2,
    watch_pb2_grpc,
)
from tests.support.servers import ServerProcess, free_port

ROUNDS = 50
WATCHERS = 100
MIB = 1 << 20
RETRY = 0.05
CHANNEL_OPTIONS = [
    # Own subchannels with short reconnect backoffs: the server comes back within moments.
    ("grpc.use_local_subchannel_pool", 1),
    ("grpc.initial_reconnect_backoff_ms", 50),
    ("grpc.min_reconnect_backoff_ms", 50),
    ("grpc.max_reconnect_backoff_ms", 200),
]


class Watcher:
    """A raw WatchEvents client that resumes from its position after every broken stream."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.position = 0
        self.instance_id = ""
        self.received: dict[int, dict[str, object]] = {}
        self.progress = asyncio.Event()

    async def run(self) -> None:
        async with grpc.aio.insecure_channel(self.address, options=CHANNEL_OPTIONS) as channel:
            stub = watch_pb2_grpc.WatchServiceStub(channel)
            while True:
                request = watch_pb2.WatchEventsRequest(
                    after_sequence=self.position, instance_id=self.instance_id, batch=True
                )
                try:
                    async for response in stub.WatchEvents(request, wait_for_ready=True):
                        self._take(response)
                except grpc.aio.AioRpcError as error:
                    # A crash breaks the stream (UNAVAILABLE); anything else is a failure.
                    assert error.code() == grpc.StatusCode.UNAVAILABLE, error
                await asyncio.sleep(RETRY)

    def _take(self, response: watch_pb2.WatchEventsResponse) -> None:
        if response.HasField("event"):
            events = [response.event]
        elif response.HasField("batch"):
            events = list(response.batch.events)
        else:
            return
        for event in events:
            if self.instance_id:
                assert event.instance_id == self.instance_id, "the log changed its identity"
            self.instance_id = event.instance_id
            assert event.sequence == self.position + 1, (self.position, event.sequence)
            self.position = event.sequence
            self.received[event.sequence] = encode_event(event.event)
        self.progress.set()


async def _jobs_once(stub: service_pb2_grpc.JobsServiceAsyncStub, tag: str) -> None:
    """Dismiss what concluded, start a throttled backup and a few creates."""
    for job in (await stub.QueryJobs(service_pb2.QueryJobsRequest())).result:
        if job.status == job_pb2.JOB_STATUS_CONCLUDED:
            await stub.JobDismiss(service_pb2.JobDismissRequest(id=job.id))
    await stub.DriveBackup(
        service_pb2.DriveBackupRequest(
            job_id=f"copy{tag}",
            device="src.raw",
            target=f"copy{tag}.raw",
            sync=block_ops_pb2.MIRROR_SYNC_MODE_FULL,
            speed=64 << 10,
        )
    )
    await asyncio.gather(
        *(
            stub.BlockdevCreate(
                service_pb2.BlockdevCreateRequest(
                    job_id=f"c{tag}-{i}",
                    options=image_pb2.BlockdevCreateOptions(
                        driver=image_pb2.IMAGE_DRIVER_RAW,
                        raw=image_pb2.ImageCreateOptionsRaw(filename=f"c{tag}-{i}.raw", size=MIB),
                    ),
                )
            )
            for i in range(3)
        )
    )


async def _load(address: str, round_no: int, *, until_killed: bool = True) -> None:
    """Jobs, over and over until the server dies under them (or once)."""
    async with grpc.aio.insecure_channel(address, options=CHANNEL_OPTIONS) as channel:
        stub = service_pb2_grpc.JobsServiceStub(channel)
        await channel.channel_ready()
        step = 0
        with contextlib.suppress(grpc.aio.AioRpcError):
            while True:
                await _jobs_once(stub, f"{round_no}-{step}")
                step += 1
                if not until_killed:
                    return


def _stored(data_dir: Path) -> dict[int, dict[str, object]]:
    """The events in the store, as QMP objects (what the watchers decoded)."""
    with contextlib.closing(sqlite3.connect(database_path(data_dir))) as db:
        rows = db.execute("SELECT seq, timestamp, name, data FROM events ORDER BY seq").fetchall()
    return {
        seq: {
            "event": name,
            "data": json.loads(data),
            "timestamp": {
                "seconds": int(timestamp),
                "microseconds": int((timestamp - int(timestamp)) * 1_000_000),
            },
        }
        for seq, timestamp, name, data in rows
    }


async def test_fifty_crashes_lose_and_repeat_nothing(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "src.raw").write_bytes(os.urandom(8 * MIB))
    server = ServerProcess(data, free_port())
    watchers = [Watcher(server.address) for _ in range(WATCHERS)]
    tasks = [asyncio.create_task(w.run()) for w in watchers]
    rng = random.Random(1234)
    try:
        for round_no in range(ROUNDS):
            await asyncio.to_thread(server.start)
            load = asyncio.create_task(_load(server.address, round_no))
            await asyncio.sleep(rng.uniform(0.0, 0.2))  # the random moment of the crash
            await asyncio.to_thread(server.kill)
            load.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await load
            for task in tasks:
                if task.done():
                    task.result()  # a watcher's assertion failed
        await asyncio.to_thread(server.start)
        await _load(server.address, ROUNDS, until_killed=False)  # events all must reach
        newest = max(await asyncio.to_thread(_stored, data))
        async with asyncio.timeout(30):
            for watcher in watchers:
                while watcher.position < newest:
                    watcher.progress.clear()
                    await watcher.progress.wait()
        assert server.stop() == 0
    finally:
        for task in tasks:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*tasks)
        if server.process is not None and server.process.poll() is None:
            server.kill()
    stored = await asyncio.to_thread(_stored, data)
    assert list(stored) == list(range(1, max(stored) + 1))  # no gap
    # Every backup was stopped mid-copy: none left a half-written target behind.
    assert sorted(path.name for path in data.glob("copy*")) == []
    for watcher in watchers:
        assert watcher.position >= newest
        for seq, event in watcher.received.items():
            assert event == stored[seq], seq
