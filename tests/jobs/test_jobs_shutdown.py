"""Shutdown: every job cancelled and dismissed as QEMU does on quit, within a bound."""

from __future__ import annotations

import asyncio
from typing import ClassVar

import pytest

from qapi_jobs.server.jobs import manager as manager_module
from qapi_jobs.server.jobs.driver import JobContext, JobDriver
from qapi_jobs.server.jobs.errors import JobError
from qapi_jobs.server.jobs.job import JobSpec
from qapi_jobs.server.jobs.manager import JobManager
from tests.support.harness import Finish, Harness, Ready


async def test_shutdown_dismisses_concluded_and_cancels_the_rest(harness: Harness) -> None:
    m = harness.manager
    await harness.start("b1", auto_dismiss=False)
    driver = await harness.start("b2", auto_dismiss=False)
    driver.feed(Finish())
    await harness.settle()
    mark = harness.mark()
    await harness.run(m.shutdown())
    assert harness.log(mark) == [
        "b2:null",
        "b1:aborting",
        "[b1:CANCELLED]",
        "b1:concluded",
        "b1:null",
    ]
    with pytest.raises(JobError) as caught:
        await m.start(harness.spec("late"))
    assert caught.value.reason == "SHUTTING_DOWN"
    assert m.events.closed


async def test_shutdown_handles_every_kind_of_state(harness: Harness) -> None:
    m = harness.manager
    await harness.start("paused")
    await m.job_pause("paused")
    mirror = await harness.start("standby", "mirror", auto_dismiss=False)
    mirror.feed(Ready())
    await harness.settle()
    await m.job_pause("standby")
    pending = await harness.start("pending", auto_finalize=False)
    pending.feed(Finish())
    await m.start_group([harness.spec("g1"), harness.spec("g2")], grouped=True)
    harness.drivers["g1"].feed(Finish())
    await harness.settle()
    assert [info.status.value for info in m.query_jobs()] == [
        "running",
        "waiting",
        "pending",
        "standby",
        "paused",
    ]
    mark = harness.mark()
    await harness.run(m.shutdown())
    assert harness.log(mark) == [
        "g2:aborting",
        "[g2:CANCELLED]",
        "g2:concluded",
        "g2:null",
        "g1:aborting",
        "[g1:CANCELLED]",
        "g1:concluded",
        "g1:null",
        "pending:aborting",
        "[pending:CANCELLED]",
        "pending:concluded",
        "pending:null",
        "standby:ready",
        "standby:aborting",
        "[standby:CANCELLED]",
        "standby:concluded",
        "standby:null",
        "paused:running",
        "paused:aborting",
        "[paused:CANCELLED]",
        "paused:concluded",
        "paused:null",
    ]


class Oblivious(JobDriver):
    """Never reaches a pause point; with ``stubborn`` it even swallows task cancellation."""

    job_type: ClassVar[str] = "stream"
    block_job: ClassVar[bool] = True

    def __init__(self, *, stubborn: bool) -> None:
        self.stubborn = stubborn
        self.release = asyncio.Event()
        self.interrupted = 0

    async def run(self, ctx: JobContext) -> None:
        while True:
            try:
                await self.release.wait()
                return
            except asyncio.CancelledError:
                self.interrupted += 1
                if not self.stubborn:
                    raise


async def test_shutdown_cancels_the_task_of_a_driver_that_ignores_the_cancel() -> None:
    manager = JobManager()
    driver = Oblivious(stubborn=False)
    await manager.start(JobSpec("s", driver, auto_dismiss=False))
    await manager.shutdown(grace=0)
    assert driver.interrupted == 1
    assert manager.query_jobs() == []
    names = [(r.name, r.data.get("status")) for r in manager.events.events_after(0)]
    assert names[-4:] == [
        ("JOB_STATUS_CHANGE", "aborting"),
        ("BLOCK_JOB_CANCELLED", None),
        ("JOB_STATUS_CHANGE", "concluded"),
        ("JOB_STATUS_CHANGE", "null"),
    ]


async def test_shutdown_abandons_a_run_that_swallows_cancellation(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(manager_module, "_CANCEL_GRACE", 0.0)
    manager = JobManager()
    driver = Oblivious(stubborn=True)
    await manager.start(JobSpec("s", driver))
    await manager.shutdown(grace=0)
    assert manager.query_jobs() == []
    assert "abandoning its run" in caplog.text
    last = manager.events.last_seq
    driver.release.set()  # the run ends late: nothing more may happen to the job
    for _ in range(5):
        await asyncio.sleep(0)
    assert manager.events.last_seq == last
