"""Busy files: a job holds its files from its creation until it is cleaned up.

Every test ends by running a later job on the same files, which only
succeeds if nothing was left holding them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from qapi_jobs.server.engines.builtin import BuiltinEngine
from qapi_jobs.server.jobs.errors import ErrorKind, JobError
from qapi_jobs.server.jobs.job import JobSpec
from qapi_jobs.server.jobs.manager import JobManager
from qapi_jobs.server.jobs.status import JobStatus
from tests.support.events import Events
from tests.support.images import KIB, MIB, make_dense


@pytest.fixture
def log(manager: JobManager) -> Events:
    return Events(manager.subscribe(0))


@pytest.fixture
def disk(data_dir: Path) -> bytes:
    return make_dense(data_dir / "disk.img", MIB)


async def backup_plan(
    engine: BuiltinEngine, job_id: str, device: str, target: str, **members: Any
) -> JobSpec:
    arguments = {"job-id": job_id, "device": device, "target": target, "sync": "full"}
    return await engine.prepare("drive-backup", arguments | members)


async def create_plan(engine: BuiltinEngine, job_id: str, filename: str) -> JobSpec:
    options = {"driver": "raw", "filename": filename, "size": 64 * KIB}
    return await engine.prepare("blockdev-create", {"job-id": job_id, "options": options})


async def assert_backup_runs(
    manager: JobManager,
    engine: BuiltinEngine,
    log: Events,
    device: str,
    target: str,
    **members: Any,
) -> None:
    """A later backup of ``device`` onto ``target`` is created and completes."""
    plan = await backup_plan(engine, "later", device, target, **members)
    await manager.start(plan)
    assert "[later:COMPLETED]" in await log.until("later:null")


def assert_busy(error: JobError, name: str, job_type: str = "backup") -> None:
    assert (error.kind, error.reason) == (ErrorKind.WRONG_STATE, "NODE_BUSY")
    assert error.message == (
        f"Node '{name}' is busy: block device is in use by block job: {job_type}"
    )


async def test_a_second_job_on_a_file_is_refused_when_created(
    manager: JobManager, engine: BuiltinEngine, log: Events, data_dir: Path, disk: bytes
) -> None:
    # Both plans are made before either job exists, so both pass prepare;
    # the second would write the file the first reads.
    make_dense(data_dir / "two.img", MIB)
    first = await backup_plan(engine, "b1", "disk.img", "one.img", **{"auto-finalize": False})
    second = await backup_plan(engine, "b2", "two.img", "disk.img", mode="existing")
    await manager.start(first)
    with pytest.raises(JobError) as caught:
        await manager.start(second)
    assert_busy(caught.value, "disk.img")
    assert [info.id for info in manager.query_jobs()] == ["b1"]
    assert not [text for text in log.drain() if text.startswith("b2:")]

    await log.until("b1:pending")
    await manager.job_finalize("b1")
    await log.until("b1:null")
    await assert_backup_runs(manager, engine, log, "disk.img", "two.img", mode="existing")
    assert (data_dir / "one.img").read_bytes() == (data_dir / "two.img").read_bytes() == disk


async def test_a_backup_onto_anothers_source_refuses_the_transaction(
    manager: JobManager, engine: BuiltinEngine, log: Events, data_dir: Path, disk: bytes
) -> None:
    make_dense(data_dir / "b.img", MIB)
    plans = [
        await backup_plan(engine, "a", "disk.img", "a.img"),
        await backup_plan(engine, "b", "b.img", "disk.img", mode="existing"),
    ]
    with pytest.raises(JobError) as caught:
        await manager.start_group(list(plans), grouped=True)
    assert_busy(caught.value, "disk.img")
    assert log.drain() == ["a:created", "a:aborting", "a:concluded", "a:null"]
    assert manager.query_jobs() == []
    assert sorted(os.listdir(data_dir)) == ["b.img", "disk.img"]
    await assert_backup_runs(manager, engine, log, "disk.img", "a.img")


async def test_two_backups_onto_one_new_target_refuse_the_transaction(
    manager: JobManager, engine: BuiltinEngine, log: Events, data_dir: Path, disk: bytes
) -> None:
    make_dense(data_dir / "other.img", MIB)
    plans = [
        await backup_plan(engine, "a", "disk.img", "new.img"),
        await backup_plan(engine, "b", "other.img", "new.img"),
    ]
    with pytest.raises(JobError) as caught:
        await manager.start_group(list(plans))
    assert_busy(caught.value, "new.img")
    assert log.drain() == ["a:created", "a:aborting", "a:concluded", "a:null"]
    assert not (data_dir / "new.img").exists()
    await assert_backup_runs(manager, engine, log, "other.img", "new.img")


async def test_two_creates_of_one_file_refuse_the_transaction(
    manager: JobManager, engine: BuiltinEngine, log: Events, data_dir: Path, disk: bytes
) -> None:
    plans = [await create_plan(engine, "c1", "new.img"), await create_plan(engine, "c2", "new.img")]
    with pytest.raises(JobError) as caught:
        await manager.start_group(list(plans))
    assert_busy(caught.value, "new.img", "create")
    assert log.drain() == ["c1:created", "c1:aborting", "c1:concluded", "c1:null"]
    assert not (data_dir / "new.img").exists()
    await assert_backup_runs(manager, engine, log, "disk.img", "new.img")


@pytest.mark.parametrize(
    ("members", "message", "events"),
    [
        ({"job-id": "9"}, "Invalid job ID '9'", []),
        ({"job-id": "c1"}, "Job ID 'c1' already in use", []),
        (
            {"speed": -1},
            "Parameter 'speed' expects a non-negative value",
            ["b1:created", "b1:null"],
        ),
    ],
)
async def test_a_creation_refused_after_the_claim_releases_it(
    manager: JobManager,
    engine: BuiltinEngine,
    log: Events,
    disk: bytes,
    members: dict[str, Any],
    message: str,
    events: list[str],
) -> None:
    await manager.start(await create_plan(engine, "c1", "c1.img"))
    await log.until("c1:concluded")
    mark = len(log.seen)
    plan = await backup_plan(engine, "b1", "disk.img", "copy.img", **members)
    with pytest.raises(JobError) as caught:
        await manager.start(plan)
    assert caught.value.message == message
    assert log.drain()[mark:] == events
    await assert_backup_runs(manager, engine, log, "disk.img", "copy.img")


async def test_a_failed_job_releases_its_files(
    manager: JobManager, engine: BuiltinEngine, log: Events, data_dir: Path, disk: bytes
) -> None:
    make_dense(data_dir / "copy.img", MIB)
    plan = await backup_plan(engine, "b1", "disk.img", "copy.img", mode="existing")
    os.truncate(data_dir / "copy.img", MIB - 1)
    await manager.start(plan)
    assert "b1:aborting" in await log.until("b1:null")
    os.truncate(data_dir / "copy.img", MIB)
    await assert_backup_runs(manager, engine, log, "disk.img", "copy.img", mode="existing")


async def test_a_cancelled_job_releases_its_files(
    manager: JobManager, engine: BuiltinEngine, log: Events, disk: bytes
) -> None:
    plan = await backup_plan(engine, "b1", "disk.img", "copy.img")
    await manager.start(plan)
    await manager.job_pause("b1")
    await log.until("b1:paused")
    await manager.job_cancel("b1")
    assert "[b1:CANCELLED]" in await log.until("b1:null")
    await assert_backup_runs(manager, engine, log, "disk.img", "copy.img")


async def test_shutdown_releases_the_files(engine: BuiltinEngine, disk: bytes) -> None:
    first = JobManager()
    plan = await backup_plan(engine, "b1", "disk.img", "copy.img")
    await first.start(plan)
    await first.job_pause("b1")
    assert first.job_info("b1").status is JobStatus.RUNNING
    await first.shutdown(grace=5.0)

    second = JobManager()
    try:
        await assert_backup_runs(
            second, engine, Events(second.subscribe(0)), "disk.img", "copy.img"
        )
    finally:
        await second.shutdown(grace=5.0)
