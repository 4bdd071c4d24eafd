"""WatchEvents with send_initial_snapshot: the state, a marker, then every later event."""

from __future__ import annotations

import asyncio
from typing import Any

from qapi_jobs.v1 import job_pb2, watch_pb2
from tests.support.watch_rig import Rig, next_message, read_until_sequence, statuses

SNAPSHOT = watch_pb2.WatchEventsRequest(send_initial_snapshot=True)


async def _read_snapshot(call: Any) -> tuple[dict[str, str], watch_pb2.SnapshotEnd]:
    jobs: dict[str, str] = {}
    while True:
        message = await next_message(call)
        if message.HasField("snapshot_end"):
            return jobs, message.snapshot_end
        assert message.HasField("snapshot"), message
        part = message.snapshot
        assert part.block_job.device == part.job.id  # StepDriver jobs are block jobs
        jobs[part.job.id] = job_pb2.JobStatus.Name(part.job.status)


def _replay(history: list[watch_pb2.WatchEventsResponse], upto: int) -> dict[str, str]:
    jobs: dict[str, str] = {}
    for job_id, status in statuses([m for m in history if m.event.sequence <= upto]):
        if status == "JOB_STATUS_NULL":
            del jobs[job_id]
        else:
            jobs[job_id] = status
    return jobs


async def test_snapshot_of_current_jobs_then_live_events(rig: Rig) -> None:
    await rig.start_job("a", auto_dismiss=False)
    b = await rig.start_job("b", auto_dismiss=False)
    b.finish()
    await rig.until(lambda: rig.status("b").value == "concluded")
    call = rig.watch.WatchEvents(SNAPSHOT)
    jobs, end = await _read_snapshot(call)
    assert jobs == {"a": "JOB_STATUS_RUNNING", "b": "JOB_STATUS_CONCLUDED"}
    assert end.sequence == rig.manager.events.last_seq
    assert end.instance_id == rig.manager.instance_id

    await rig.manager.job_dismiss("b")
    message = await next_message(call)
    assert message.event.sequence == end.sequence + 1
    assert statuses([message]) == [("b", "JOB_STATUS_NULL")]
    call.cancel()


async def test_snapshot_lists_jobs_newest_first(rig: Rig) -> None:
    for job_id in ("first", "second", "third"):
        await rig.start_job(job_id)
    call = rig.watch.WatchEvents(SNAPSHOT)
    jobs, _ = await _read_snapshot(call)
    assert list(jobs) == ["third", "second", "first"]
    call.cancel()


async def test_snapshots_racing_events_have_no_gap_or_overlap(rig: Rig) -> None:
    history = rig.watch.WatchEvents(watch_pb2.WatchEventsRequest(after_sequence=0))
    all_events: list[watch_pb2.WatchEventsResponse] = []

    async def catch_up() -> None:
        # A round trip through the server, so that snapshot requests get
        # served in between the steps of the churn.
        newest = rig.manager.events.last_seq
        while (all_events[-1].event.sequence if all_events else 0) < newest:
            all_events.append(await next_message(history))

    watchers = []
    for i in range(24):
        watchers.append(rig.watch.WatchEvents(SNAPSHOT))
        await rig.start_job(f"j{i}")
        await catch_up()
        if i >= 2:
            rig.drivers[f"j{i - 2}"].finish()
            await asyncio.sleep(0)
    for driver in list(rig.drivers.values())[-2:]:
        driver.finish()
    await rig.until(lambda: not rig.manager.query_jobs())
    await catch_up()
    final = rig.manager.events.last_seq

    ends = set()
    for call in watchers:
        jobs, end = await _read_snapshot(call)
        ends.add(end.sequence)
        assert jobs == _replay(all_events, end.sequence), end.sequence
        sequences = await read_until_sequence(call, final, after=end.sequence)
        assert sequences == list(range(end.sequence + 1, final + 1))
        call.cancel()
    history.cancel()
    assert len(ends) > 5, "the snapshots should land at different points of the churn"
