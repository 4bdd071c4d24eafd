"""Claims as QEMU's permissions have them: readers share, a writer is alone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from qapi_jobs.server.engines.builtin import BuiltinEngine
from qapi_jobs.server.jobs.errors import ErrorKind, JobError
from qapi_jobs.server.jobs.manager import JobManager

from .support import write

SIZE = 256 << 10


def backup(job_id: str, device: str, target: str, **members: Any) -> dict[str, Any]:
    # A job waiting to be finalized still holds its files (and its id).
    arguments = {"job-id": job_id, "device": device, "target": target, "sync": "full"}
    return arguments | {"auto-finalize": False, **members}


async def start(engine: BuiltinEngine, manager: JobManager, command: str, args: Any) -> None:
    await manager.start(await engine.prepare(command, args))


async def refused(engine: BuiltinEngine, manager: JobManager, command: str, args: Any) -> JobError:
    with pytest.raises(JobError) as caught:
        await start(engine, manager, command, args)
    return caught.value


@pytest.fixture
def disks(data_dir: Path) -> None:
    write(data_dir / "src.img", b"s" * SIZE)
    write(data_dir / "other.img", b"o" * SIZE)


@pytest.mark.usefixtures("disks")
async def test_two_backups_of_one_source_run_side_by_side(
    engine: BuiltinEngine, manager: JobManager
) -> None:
    await start(engine, manager, "drive-backup", backup("b1", "src.img", "dst.img"))
    await start(engine, manager, "drive-backup", backup("b2", "src.img", "dst2.img"))
    assert sorted(info.id for info in manager.query_jobs()) == ["b1", "b2"]


@pytest.mark.usefixtures("disks")
async def test_no_job_reads_a_file_another_job_writes(
    engine: BuiltinEngine, manager: JobManager, data_dir: Path
) -> None:
    write(data_dir / "dst.img", b"d" * SIZE)
    await start(
        engine, manager, "drive-backup", backup("b1", "src.img", "dst.img", mode="existing")
    )
    # A mirror of the half-written target, and a backup onto the busy source.
    for command, args, busy in (
        ("drive-mirror", backup("m1", "dst.img", "m.img"), "dst.img"),
        ("drive-backup", backup("b2", "other.img", "src.img", mode="existing"), "src.img"),
    ):
        error = await refused(engine, manager, command, args)
        assert (error.kind, error.reason) == (ErrorKind.WRONG_STATE, "NODE_BUSY")
        assert error.message == (
            f"Node '{busy}' is busy: block device is in use by block job: backup"
        )
    assert [info.id for info in manager.query_jobs()] == ["b1"]


@pytest.mark.usefixtures("disks")
async def test_a_duplicate_job_id_is_reported_before_a_busy_file(
    engine: BuiltinEngine, manager: JobManager
) -> None:
    await start(engine, manager, "drive-backup", backup("b1", "src.img", "dst.img"))
    error = await refused(
        engine, manager, "drive-backup", backup("b1", "other.img", "src.img", mode="existing")
    )
    assert (error.kind, error.message) == (ErrorKind.ALREADY_EXISTS, "Job ID 'b1' already in use")


@pytest.mark.usefixtures("disks")
async def test_a_file_about_to_be_created_is_claimed_by_its_name(
    engine: BuiltinEngine, manager: JobManager, data_dir: Path
) -> None:
    options = {"driver": "raw", "filename": "new.img", "size": SIZE}
    plans = [
        await engine.prepare("drive-backup", backup("b1", "src.img", "new.img")),
        await engine.prepare("blockdev-create", {"job-id": "c1", "options": options}),
    ]
    with pytest.raises(JobError) as caught:
        await manager.start_group(plans)
    assert caught.value.message == (
        "Node 'new.img' is busy: block device is in use by block job: backup"
    )
    assert not (data_dir / "new.img").exists()
