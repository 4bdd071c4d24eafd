"""drive-backup and drive-mirror on the qemu engine, checked with qemu-img compare."""

from __future__ import annotations

from pathlib import Path

import pytest

from qapi_jobs.server.engines.qemu.jobs import QemuJobs
from qapi_jobs.server.jobs.errors import ErrorKind, JobError

from .conftest import names, statuses, until
from .images import MIB, SIZE, chain, create, info, reads, same, write


@pytest.mark.parametrize("fmt", ["raw", "qcow2"])
async def test_full_backup_to_a_new_target(jobs: QemuJobs, data_dir: Path, fmt: str) -> None:
    source = create(data_dir / "src.qcow2")
    write(source, 7, 0, 2 * MIB)
    events = jobs.subscribe()
    arguments = {"job-id": "b1", "device": "src.qcow2", "target": f"copy.{fmt}", "format": fmt}
    await jobs.start_job("drive-backup", {**arguments, "sync": "full"})
    seen = await until(events, "b1", "null")
    assert statuses(seen, "b1") == [
        "created", "running", "waiting", "pending", "concluded", "null",
    ]  # fmt: skip
    assert "BLOCK_JOB_COMPLETED" in names(seen)
    assert info(data_dir / f"copy.{fmt}")["format"] == fmt
    assert same(source, data_dir / f"copy.{fmt}")


async def test_top_backup_shares_the_sources_backing(jobs: QemuJobs, data_dir: Path) -> None:
    _, _, top = chain(data_dir)
    events = jobs.subscribe()
    await jobs.start_job(
        "drive-backup", {"job-id": "b2", "device": "top.qcow2", "target": "t.qcow2", "sync": "top"}
    )
    await until(events, "b2", "null")
    copy = info(data_dir / "t.qcow2")
    assert copy["backing-filename"] == "mid.qcow2"
    assert same(top, data_dir / "t.qcow2")


async def test_backup_into_an_existing_target(jobs: QemuJobs, data_dir: Path) -> None:
    source = create(data_dir / "src.raw", "raw")
    write(source, 5, MIB, MIB, "raw")
    target = create(data_dir / "old.qcow2")
    write(target, 9, 3 * MIB, MIB)
    events = jobs.subscribe()
    await jobs.start_job(
        "drive-backup",
        {"job-id": "b3", "device": "src.raw", "target": "old.qcow2", "sync": "full",
         "mode": "existing", "format": "qcow2"},
    )  # fmt: skip
    await until(events, "b3", "null")
    assert reads(target, 5, MIB, MIB)
    # sync full writes what the source has, zeros included.
    assert same(source, target)


async def test_cancelled_backup_removes_the_target_it_created(
    jobs: QemuJobs, data_dir: Path
) -> None:
    source = create(data_dir / "src.qcow2", size=SIZE)
    write(source, 7, 0, SIZE)
    events = jobs.subscribe()
    # 64 KiB/s: the copy of 4 MiB is still running when the cancel arrives.
    await jobs.start_job(
        "drive-backup",
        {"job-id": "b4", "device": "src.qcow2", "target": "c.qcow2", "sync": "full",
         "speed": 65536, "auto-dismiss": False},
    )  # fmt: skip
    await until(events, "b4", "running")
    await jobs.job_cancel("b4")
    seen = await until(events, "b4", "concluded")
    assert "BLOCK_JOB_CANCELLED" in names(seen)
    assert "aborting" in statuses(seen, "b4")
    assert not (data_dir / "c.qcow2").exists()
    assert source.exists()
    await jobs.job_dismiss("b4")
    await until(events, "b4", "null")


async def test_missing_source_is_refused_before_any_file(jobs: QemuJobs, data_dir: Path) -> None:
    with pytest.raises(JobError) as refused:
        await jobs.start_job(
            "drive-backup", {"device": "nope.qcow2", "target": "t.qcow2", "sync": "full"}
        )
    assert refused.value.kind is ErrorKind.NOT_FOUND
    assert not (data_dir / "t.qcow2").exists()


async def test_bitmap_sync_is_unsupported(jobs: QemuJobs, data_dir: Path) -> None:
    create(data_dir / "src.qcow2")
    with pytest.raises(JobError) as refused:
        await jobs.start_job(
            "drive-backup", {"device": "src.qcow2", "target": "t.qcow2", "sync": "incremental"}
        )
    assert refused.value.kind is ErrorKind.UNSUPPORTED


async def test_mirror_goes_ready_and_completes(jobs: QemuJobs, data_dir: Path) -> None:
    source = create(data_dir / "src.qcow2")
    write(source, 4, 0, 3 * MIB)
    events = jobs.subscribe()
    await jobs.start_job(
        "drive-mirror", {"job-id": "m1", "device": "src.qcow2", "target": "m.raw",
                         "format": "raw", "sync": "full"},
    )  # fmt: skip
    seen = await until(events, "m1", "ready")
    (block,) = jobs.query_block_jobs()
    assert block.ready and block.type.value == "mirror"
    await jobs.job_complete("m1")
    await until(events, "m1", "null", seen)
    assert statuses(seen, "m1") == [
        "created", "running", "ready", "waiting", "pending", "concluded", "null",
    ]  # fmt: skip
    assert names(seen).index("BLOCK_JOB_READY") < names(seen).index("BLOCK_JOB_COMPLETED")
    assert same(source, data_dir / "m.raw")


async def test_mirror_soft_cancel_in_ready_completes(jobs: QemuJobs, data_dir: Path) -> None:
    source = create(data_dir / "src.qcow2")
    write(source, 4, 0, MIB)
    events = jobs.subscribe()
    await jobs.start_job(
        "drive-mirror", {"job-id": "m2", "device": "src.qcow2", "target": "m.qcow2", "sync": "full"}
    )
    await until(events, "m2", "ready")
    await jobs.block_job_cancel("m2")
    seen = await until(events, "m2", "null")
    # A soft cancel of a READY mirror is a success: the target stays and matches.
    assert "BLOCK_JOB_COMPLETED" in names(seen)
    assert "BLOCK_JOB_CANCELLED" not in names(seen)
    assert same(source, data_dir / "m.qcow2")


async def test_mirror_hard_cancel_removes_its_target(jobs: QemuJobs, data_dir: Path) -> None:
    source = create(data_dir / "src.qcow2")
    write(source, 4, 0, MIB)
    events = jobs.subscribe()
    await jobs.start_job(
        "drive-mirror", {"job-id": "m3", "device": "src.qcow2", "target": "m.qcow2", "sync": "full"}
    )
    await until(events, "m3", "ready")
    await jobs.block_job_pause("m3")
    await until(events, "m3", "standby")
    await jobs.block_job_cancel("m3", force=True)
    seen = await until(events, "m3", "null")
    assert "BLOCK_JOB_CANCELLED" in names(seen)
    assert not (data_dir / "m.qcow2").exists()


async def test_verb_refusals_are_qemus(jobs: QemuJobs, data_dir: Path) -> None:
    source = create(data_dir / "src.qcow2")
    write(source, 4, 0, MIB)
    events = jobs.subscribe()
    await jobs.start_job(
        "drive-mirror", {"job-id": "m4", "device": "src.qcow2", "target": "m.qcow2", "sync": "full"}
    )
    await until(events, "m4", "ready")
    with pytest.raises(JobError) as refused:
        await jobs.job_finalize("m4")
    assert (
        refused.value.message == "Job 'm4' in state 'ready' cannot accept command verb 'finalize'"
    )
    assert (refused.value.kind, refused.value.verb) == (ErrorKind.WRONG_STATE, "finalize")
    with pytest.raises(JobError, match=r"^Can't resume a job that was not paused$"):
        await jobs.job_resume("m4")
    with pytest.raises(JobError, match=r"^Job not found$"):
        await jobs.job_pause("other")
    await jobs.job_cancel("m4")
    await until(events, "m4", "null")


async def test_mirror_completes_from_standby_on_resume(jobs: QemuJobs, data_dir: Path) -> None:
    source = create(data_dir / "src.qcow2")
    write(source, 4, 0, MIB)
    events = jobs.subscribe()
    await jobs.start_job(
        "drive-mirror", {"job-id": "m5", "device": "src.qcow2", "target": "m.raw",
                         "format": "raw", "sync": "full"},
    )  # fmt: skip
    await until(events, "m5", "ready")
    await jobs.job_pause("m5")
    await until(events, "m5", "standby")
    # QEMU accepts complete in STANDBY; it takes effect once the job runs again.
    await jobs.job_complete("m5")
    await jobs.job_resume("m5")
    seen = await until(events, "m5", "null")
    assert statuses(seen, "m5")[:3] == ["ready", "waiting", "pending"]
    assert same(source, data_dir / "m.raw")
