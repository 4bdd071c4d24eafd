"""The asyncio client against an in-process server on the test's loop."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest

from qapi_jobs.client import (
    AsyncJobsClient,
    EventItem,
    JobFailed,
    JobNotFound,
    JobsSnapshot,
    Resync,
    WrongState,
    status_name,
)
from qapi_jobs.v1 import job_pb2
from tests.support.images import MIB
from tests.support.requests import FULL, raw_image


async def test_run_job_with_a_coroutine_progress_callback(aio_client: AsyncJobsClient) -> None:
    seen: list[str] = []

    async def progress(info: job_pb2.JobInfo) -> None:
        await asyncio.sleep(0)
        seen.append(status_name(info.status))

    outcome = await aio_client.run_job(
        "c1",
        lambda: aio_client.blockdev_create(job_id="c1", options=raw_image("c1.raw", MIB)),
        on_progress=progress,
        timeout=20,
    )
    assert outcome.ok and outcome.info is not None
    assert outcome.info.total_progress == MIB
    assert seen[-1] == "concluded"
    assert await aio_client.query_jobs() == []


async def test_errors_carry_error_info(aio_client: AsyncJobsClient) -> None:
    with pytest.raises(JobNotFound) as caught:
        await aio_client.job_dismiss(id="nothing")
    assert caught.value.reason == "JOB_NOT_FOUND" and caught.value.job_id == "nothing"
    await aio_client.blockdev_create(job_id="c2", options=raw_image("c2.raw"))
    await aio_client.wait_for_status("c2", "concluded", timeout=10)
    with pytest.raises(WrongState) as wrong:
        await aio_client.job_pause(id="c2")
    assert wrong.value.verb == "pause" and wrong.value.job_status == "concluded"
    await aio_client.job_dismiss(id="c2")


async def test_run_job_raises_for_a_failed_job(aio_client: AsyncJobsClient, data_dir: Path) -> None:
    cancelled = asyncio.Event()

    async def cancel(info: job_pb2.JobInfo) -> None:
        if not cancelled.is_set() and info.status == job_pb2.JOB_STATUS_RUNNING:
            cancelled.set()
            await aio_client.job_cancel(id="b1")

    # A backup of a sparse source would finish at once.
    await asyncio.to_thread((data_dir / "src.raw").write_bytes, b"\x01" * (2 * MIB))

    async def start() -> None:
        await aio_client.drive_backup(
            job_id="b1", device="src.raw", target="b1.raw", sync=FULL, speed=64 << 10
        )

    with pytest.raises(JobFailed) as caught:
        await aio_client.run_job("b1", start, on_progress=cancel, timeout=20)
    assert caught.value.outcome.cancelled


async def test_watch_events_and_watch_jobs(aio_client: AsyncJobsClient) -> None:
    events: list[EventItem] = []
    async with contextlib.aclosing(
        aio_client.watch_events(snapshot=True, event_names=["JOB_STATUS_CHANGE"])
    ) as watch:
        first = await anext(watch)
        assert isinstance(first, Resync) and first.jobs == ()
        await aio_client.blockdev_create(job_id="c3", options=raw_image("c3.raw"))
        async for item in watch:
            assert isinstance(item, EventItem)
            events.append(item)
            if item.data["status"] == "concluded":
                break
    assert [e.data["status"] for e in events] == [
        "created",
        "running",
        "waiting",
        "pending",
        "concluded",
    ]
    snapshots: list[JobsSnapshot] = []
    async with contextlib.aclosing(aio_client.watch_jobs("c3")) as jobs:
        async for snapshot in jobs:
            snapshots.append(snapshot)
            if len(snapshots) == 1:
                await aio_client.job_dismiss(id="c3")
    assert snapshots[0].jobs[0].status == job_pb2.JOB_STATUS_CONCLUDED
    with pytest.raises(JobNotFound):
        async for _ in aio_client.watch_jobs("c3"):
            pass


async def test_wait_for_status_times_out(aio_client: AsyncJobsClient, data_dir: Path) -> None:
    await asyncio.to_thread((data_dir / "src.raw").write_bytes, b"\x02" * (2 * MIB))
    await aio_client.drive_backup(
        job_id="b2", device="src.raw", target="b2.raw", sync=FULL, speed=64 << 10
    )
    with pytest.raises(TimeoutError):
        await aio_client.wait_for_status("b2", "concluded", timeout=0.5)
    await aio_client.job_cancel(id="b2")
    await aio_client.wait_for_status("b2", "null", check=False, timeout=10)


async def test_a_job_that_fails_fails_every_wait(aio_client: AsyncJobsClient) -> None:
    huge = raw_image("huge.raw", 1 << 60)
    await aio_client.blockdev_create(job_id="e1", options=huge)
    for statuses in ("concluded", ["concluded", "null"]):
        with pytest.raises(JobFailed) as caught:
            await aio_client.wait_for_status("e1", statuses, timeout=10)
        assert "File too large" in (caught.value.outcome.error or "")
    info = await aio_client.wait_for_status("e1", "concluded", check=False, timeout=10)
    assert "File too large" in info.error
    await aio_client.job_dismiss(id="e1")
    with pytest.raises(JobFailed):
        await aio_client.run_job(
            "e2", lambda: aio_client.blockdev_create(job_id="e2", options=huge), timeout=10
        )
