"""WatchJobs: throttled snapshots of one job or of all jobs."""

from __future__ import annotations

import grpc
from google.protobuf.duration_pb2 import Duration

from qapi_jobs.server.grpc.watch import WatchSettings
from qapi_jobs.v1 import job_pb2, watch_pb2
from tests.support.errors import error_info
from tests.support.watch_rig import Rig, failure_of, next_message, open_rig

FAST = Duration(nanos=10_000_000)


def _progress(rig: Rig, job_id: str) -> int:
    return rig.manager.job_info(job_id).current_progress


async def _until_progress(rig: Rig, job_id: str, value: int) -> None:
    await rig.until(lambda: _progress(rig, job_id) == value)


async def test_first_snapshot_at_once_then_changes_until_dismissed(rig: Rig) -> None:
    driver = await rig.start_job("a", auto_dismiss=False)
    call = rig.watch.WatchJobs(watch_pb2.WatchJobsRequest(job_id="a", min_interval=FAST))
    first = await next_message(call)
    (job,) = first.jobs
    assert (job.id, job.status, job.current_progress) == ("a", job_pb2.JOB_STATUS_RUNNING, 0)
    assert first.sequence == rig.manager.events.last_seq
    assert first.instance_id == rig.manager.instance_id

    driver.advance(7)
    await _until_progress(rig, "a", 7)
    changed = await next_message(call)
    assert changed.jobs[0].current_progress == 7

    driver.finish()
    await rig.until(lambda: rig.status("a").value == "concluded")
    while (message := await next_message(call)).jobs[0].status != job_pb2.JOB_STATUS_CONCLUDED:
        pass
    assert message.sequence == rig.manager.events.last_seq

    await rig.manager.job_dismiss("a")
    assert await call.read() is grpc.aio.EOF
    assert await call.code() == grpc.StatusCode.OK


async def test_changes_within_the_interval_are_coalesced(rig: Rig) -> None:
    driver = await rig.start_job("a")
    interval = Duration(nanos=300_000_000)
    call = rig.watch.WatchJobs(watch_pb2.WatchJobsRequest(job_id="a", min_interval=interval))
    await next_message(call)
    for step in range(1, 11):
        driver.advance(1)
        await _until_progress(rig, "a", step)
    snapshots = 0
    while (await next_message(call)).jobs[0].current_progress != 10:
        snapshots += 1
    assert snapshots < 5, "ten changes within the interval should give one snapshot"
    call.cancel()


async def test_all_jobs_newest_first(rig: Rig) -> None:
    call = rig.watch.WatchJobs(watch_pb2.WatchJobsRequest(min_interval=FAST))
    empty = await next_message(call)
    assert list(empty.jobs) == []
    await rig.start_job("old")
    await rig.start_job("new")
    while len((message := await next_message(call)).jobs) < 2:
        pass
    assert [job.id for job in message.jobs] == ["new", "old"]
    assert message.sequence == rig.manager.events.last_seq
    call.cancel()


async def test_unknown_job_is_not_found(rig: Rig) -> None:
    error = await failure_of(rig.watch.WatchJobs(watch_pb2.WatchJobsRequest(job_id="nope")))
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert error.details() == "Job not found"
    assert error_info(error).metadata["job_id"] == "nope"


async def test_negative_interval_is_invalid(rig: Rig) -> None:
    request = watch_pb2.WatchJobsRequest(min_interval=Duration(seconds=-1))
    error = await failure_of(rig.watch.WatchJobs(request))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_unchanged_snapshot_is_repeated_after_a_heartbeat_interval() -> None:
    rig = await open_rig(WatchSettings(heartbeat_interval=0.1))
    try:
        await rig.start_job("a")
        call = rig.watch.WatchJobs(watch_pb2.WatchJobsRequest(job_id="a"))
        first = await next_message(call)
        again = await next_message(call)
        assert again == first
        call.cancel()
    finally:
        await rig.close()
