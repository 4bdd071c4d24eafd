"""The synchronous client against a real server: commands, helpers, watches."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

from qapi_jobs.client import (
    EventItem,
    JobEndedError,
    JobFailed,
    JobsClient,
    JobsSnapshot,
    Resync,
    status_name,
)
from qapi_jobs.v1 import job_pb2, service_pb2
from tests.support.images import MIB, dense_file
from tests.support.requests import FULL, SLOW, raw_image
from tests.support.servers import ThreadedServer


def _statuses(items: list[EventItem], job_id: str) -> list[str]:
    return [
        str(i.data["status"]) for i in items if i.name == "JOB_STATUS_CHANGE" and i.job_id == job_id
    ]


def test_run_job_creates_an_image_and_dismisses_it(
    client: JobsClient, threaded_server: ThreadedServer, job_id: str
) -> None:
    seen: list[str] = []
    outcome = client.run_job(
        job_id,
        lambda: client.blockdev_create(job_id=job_id, options=raw_image(f"{job_id}.raw", MIB)),
        on_progress=lambda info: seen.append(status_name(info.status)),
        timeout=20,
    )
    assert outcome.ok
    assert outcome.info is not None
    assert outcome.info.status == job_pb2.JOB_STATUS_CONCLUDED
    assert outcome.info.type == job_pb2.JOB_TYPE_CREATE
    assert outcome.info.current_progress == outcome.info.total_progress
    assert seen[-1] == "concluded"
    assert (threaded_server.data_dir / f"{job_id}.raw").stat().st_size == MIB
    assert client.find_job(job_id) is None


def test_run_job_finalizes_and_dismisses_a_held_backup(
    client: JobsClient, threaded_server: ThreadedServer, job_id: str
) -> None:
    source = dense_file(threaded_server.data_dir, f"{job_id}-src.raw", MIB)
    outcome = client.run_job(
        job_id,
        lambda: client.drive_backup(
            job_id=job_id,
            device=source,
            target=f"{job_id}-copy.raw",
            sync=FULL,
            auto_finalize=False,
            auto_dismiss=False,
        ),
        timeout=20,
    )
    assert outcome.ok and not outcome.cancelled
    assert client.find_job(job_id) is None
    data = threaded_server.data_dir
    assert (data / f"{job_id}-copy.raw").read_bytes() == (data / source).read_bytes()


def test_run_job_reports_a_cancelled_job(
    client: JobsClient, threaded_server: ThreadedServer, job_id: str
) -> None:
    source = dense_file(threaded_server.data_dir, f"{job_id}-src.raw")

    def cancel_once_running(info: job_pb2.JobInfo) -> None:
        if info.status == job_pb2.JOB_STATUS_RUNNING:
            client.job_cancel(id=job_id)

    def start() -> None:
        client.drive_backup(
            job_id=job_id, device=source, target=f"{job_id}-copy.raw", sync=FULL, speed=SLOW
        )

    with pytest.raises(JobFailed) as caught:
        client.run_job(job_id, start, on_progress=cancel_once_running, timeout=20)
    outcome = caught.value.outcome
    assert outcome.cancelled and not outcome.ok
    assert client.find_job(job_id) is None


def test_wait_for_status_follows_pause_resume_and_cancel(
    client: JobsClient, threaded_server: ThreadedServer, job_id: str
) -> None:
    source = dense_file(threaded_server.data_dir, f"{job_id}-src.raw")
    client.drive_backup(
        job_id=job_id,
        device=source,
        target=f"{job_id}-copy.raw",
        sync=FULL,
        speed=SLOW,
        auto_dismiss=False,
    )
    try:
        running = client.wait_for_status(job_id, "running", timeout=10)
        assert running.id == job_id and running.type == job_pb2.JOB_TYPE_BACKUP
        client.job_pause(id=job_id)
        paused = client.wait_for_status(job_id, [job_pb2.JOB_STATUS_PAUSED], timeout=10)
        assert paused.status == job_pb2.JOB_STATUS_PAUSED
        with pytest.raises(TimeoutError):
            client.wait_for_status(job_id, "concluded", timeout=0.3)
        client.job_resume(id=job_id)
        client.job_cancel(id=job_id)
        with pytest.raises(JobFailed) as caught:
            client.wait_for_status(job_id, "ready", timeout=10)
        assert caught.value.outcome.error == "Operation canceled"
        with pytest.raises(JobFailed):
            client.wait_for_status(job_id, "concluded", timeout=10)
        concluded = client.wait_for_status(job_id, "concluded", check=False, timeout=10)
        assert concluded.error == "Operation canceled"
    finally:
        with contextlib.suppress(Exception):
            client.job_cancel(id=job_id)
        client.wait_for_status(job_id, "concluded", check=False, timeout=10)
        client.job_dismiss(id=job_id)


def test_wait_for_status_of_a_missing_job(client: JobsClient) -> None:
    with pytest.raises(JobEndedError, match="does not exist"):
        client.wait_for_status("no-such-job", "running", timeout=10)


def test_query_commands_return_typed_results(
    client: JobsClient, threaded_server: ThreadedServer, job_id: str
) -> None:
    source = dense_file(threaded_server.data_dir, f"{job_id}-src.raw")
    client.drive_backup(
        job_id=job_id, device=source, target=f"{job_id}-copy.raw", sync=FULL, speed=SLOW
    )
    try:
        jobs = client.query_jobs()
        assert isinstance(jobs, list)
        assert [j.id for j in jobs if j.id == job_id] == [job_id]
        block_jobs = client.query_block_jobs()
        mine = [b for b in block_jobs if b.device == job_id]
        assert len(mine) == 1 and mine[0].speed == SLOW and mine[0].auto_finalize
        client.block_job_set_speed(device=job_id, speed=0)
        response = client.call("QueryJobs", service_pb2.QueryJobsRequest())
        assert isinstance(response, service_pb2.QueryJobsResponse)
        assert job_id in {j.id for j in response.result}
    finally:
        client.job_cancel(id=job_id)
    gone = client.wait_for_status(job_id, "null", check=False, timeout=10)
    assert gone.id == job_id and gone.status == job_pb2.JOB_STATUS_NULL
    assert client.find_job(job_id) is None


def test_watch_events_starts_with_a_snapshot_and_streams_in_order(
    client: JobsClient, job_id: str
) -> None:
    watch = client.watch_events(snapshot=True, job_ids=[job_id])
    with contextlib.closing(watch):
        first = next(watch)
        assert isinstance(first, Resync) and first.reason == "INITIAL"
        assert first.job(job_id) is None
        client.blockdev_create(job_id=job_id, options=raw_image(f"{job_id}.raw"))
        events: list[EventItem] = []
        for item in watch:
            assert isinstance(item, EventItem)
            events.append(item)
            if item.data.get("status") == "concluded":
                break
    assert _statuses(events, job_id) == ["created", "running", "waiting", "pending", "concluded"]
    assert all(e.instance_id == first.instance_id for e in events)
    sequences = [e.sequence for e in events]
    assert sequences == sorted(set(sequences)) and sequences[0] > first.sequence
    client.job_dismiss(id=job_id)


def test_watch_jobs_follows_one_job_until_it_is_gone(client: JobsClient, job_id: str) -> None:
    client.blockdev_create(job_id=job_id, options=raw_image(f"{job_id}.raw"))
    snapshots: list[JobsSnapshot] = []
    for snapshot in client.watch_jobs(job_id, min_interval=0.01):
        snapshots.append(snapshot)
        if snapshot.jobs and snapshot.jobs[0].status == job_pb2.JOB_STATUS_CONCLUDED:
            client.job_dismiss(id=job_id)
    assert snapshots, "the watch ended without a snapshot"
    assert all(len(s.jobs) == 1 and s.jobs[0].id == job_id for s in snapshots)
    assert snapshots[-1].jobs[0].status == job_pb2.JOB_STATUS_CONCLUDED
    assert not any(s.resync for s in snapshots)


def test_watch_from_a_foreign_instance_resyncs(client: JobsClient, job_id: str) -> None:
    client.blockdev_create(job_id=job_id, options=raw_image(f"{job_id}.raw"))
    client.wait_for_status(job_id, "concluded", timeout=10)
    watch = client.watch_events(after_sequence=1, instance_id="another-instance", job_ids=[job_id])
    with contextlib.closing(watch):
        item = next(watch)
    assert isinstance(item, Resync) and item.reason == "INSTANCE_CHANGED"
    info = item.job(job_id)
    assert info is not None and info.status == job_pb2.JOB_STATUS_CONCLUDED
    client.job_dismiss(id=job_id)


def test_watch_after_expired_events_resyncs(tmp_path: Path) -> None:
    server = ThreadedServer(tmp_path, event_retention=3).start()
    try:
        with JobsClient(server.address, timeout=10) as client:
            client.run_job("j", lambda: client.blockdev_create(job_id="j", options=raw_image("j")))
            first = next(iter(client.watch_events(snapshot=True)))
            assert isinstance(first, Resync) and first.sequence >= 5
            watch = client.watch_events(after_sequence=1, instance_id=first.instance_id)
            with contextlib.closing(watch):
                item = next(watch)
                assert isinstance(item, Resync) and item.reason == "EVENTS_EXPIRED"
                assert item.instance_id == first.instance_id
                assert item.jobs == ()
                client.blockdev_create(job_id="k", options=raw_image("k"))
                event = next(watch)
                assert isinstance(event, EventItem) and event.sequence == item.sequence + 1
            client.wait_for_status("k", "concluded", timeout=10)
            client.job_dismiss(id="k")
    finally:
        server.stop()
