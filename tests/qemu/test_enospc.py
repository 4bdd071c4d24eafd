"""A target on a full filesystem: QEMU's ENOSPC policies, on a small tmpfs inside the data dir."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from qapi_jobs.server.engines.qemu.jobs import QemuJobs

from .conftest import names, statuses, until
from .images import MIB, create, same, write

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")

SOURCE = 6 * MIB
"""More than the 8 MiB tmpfs holds next to the filler, less than it holds alone."""


@pytest.fixture
def small(data_dir: Path) -> Iterator[Path]:
    """An 8 MiB tmpfs at ``data_dir/small``, 4 MiB of it taken by ``filler``."""
    mount = data_dir / "small"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount)], check=True)
    try:
        (mount / "filler").write_bytes(b"\xff" * (4 * MIB))
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True)


def _source(data_dir: Path) -> Path:
    source = create(data_dir / "src.raw", "raw", SOURCE)
    write(source, 0x5A, 0, SOURCE, "raw")
    return source


def _copy(policy: str) -> dict[str, object]:
    return {"job-id": "j", "device": "src.raw", "target": "small/t.raw", "format": "raw",
            "sync": "full", "on-target-error": policy}  # fmt: skip


@pytest.mark.parametrize("policy", ["enospc", "stop"])
@pytest.mark.parametrize("command", ["drive-backup", "drive-mirror"])
async def test_full_target_pauses_until_space_is_freed(
    jobs: QemuJobs, data_dir: Path, small: Path, command: str, policy: str
) -> None:
    source = _source(data_dir)
    events = jobs.subscribe()
    await jobs.start_job(command, _copy(policy))
    seen = await until(events, "j", "paused")
    while "BLOCK_JOB_ERROR" not in names(seen):
        seen.append(await anext(events))
    error = next(r.data for r in seen if r.name == "BLOCK_JOB_ERROR")
    assert (error["operation"], error["action"]) == ("write", "stop")
    version = jobs.change_version
    while jobs.query_block_jobs()[0].io_status.value != "nospace":
        version = await jobs.wait_for_change(version)
    (block,) = jobs.query_block_jobs()
    assert block.paused
    (small / "filler").unlink()
    await jobs.job_resume("j")
    if command == "drive-mirror":
        await until(events, "j", "ready", seen)
        await jobs.job_complete("j")
    await until(events, "j", "null", seen)
    completed = [r.data for r in seen if r.name == "BLOCK_JOB_COMPLETED"]
    assert [c.get("error") for c in completed] == [None]
    assert statuses(seen, "j")[-3:] == ["pending", "concluded", "null"]
    assert same(source, small / "t.raw")


@pytest.mark.parametrize("command", ["drive-backup", "drive-mirror"])
async def test_report_fails_the_job_and_removes_the_target(
    jobs: QemuJobs, data_dir: Path, small: Path, command: str
) -> None:
    _source(data_dir)
    events = jobs.subscribe()
    await jobs.start_job(command, _copy("report"))
    seen = await until(events, "j", "null")
    (completed,) = [r.data for r in seen if r.name == "BLOCK_JOB_COMPLETED"]
    assert completed["error"] == "No space left on device"
    assert [r.data["action"] for r in seen if r.name == "BLOCK_JOB_ERROR"] == ["report"]
    assert "aborting" in statuses(seen, "j")
    assert not (small / "t.raw").exists()
