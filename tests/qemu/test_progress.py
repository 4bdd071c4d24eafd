"""Progress polling and the service-side auto-dismiss of the qemu engine."""

from __future__ import annotations

import asyncio
from pathlib import Path

from qapi_jobs.server.engines.qemu.jobs import QemuJobs

from .conftest import WAIT, until
from .images import MIB, SIZE, create, write

SPEED = 4 * MIB
"""QEMU copies 1 MiB at a time here: a new chunk every quarter of a second."""


async def test_progress_moves_while_a_job_copies(jobs: QemuJobs, data_dir: Path) -> None:
    source = create(data_dir / "src.qcow2")
    write(source, 8, 0, 2 * MIB)
    events = jobs.subscribe()
    await jobs.start_job(
        "drive-backup",
        {"job-id": "p", "device": "src.qcow2", "target": "p.raw", "format": "raw",
         "sync": "full", "speed": SPEED, "auto-dismiss": False},
    )  # fmt: skip
    await until(events, "p", "running")
    seen: list[int] = []
    version = jobs.change_version
    # The 4 MiB take a second: progress must be seen moving before the end.
    async with asyncio.timeout(WAIT):
        while len(set(seen)) < 2:
            version = await jobs.wait_for_change(version)
            (info,) = jobs.query_jobs()
            (block,) = jobs.query_block_jobs()
            assert block.offset == info.current_progress
            assert info.current_progress < info.total_progress, "finished before progress moved"
            if info.current_progress and info.status.value == "running":
                seen.append(info.current_progress)
    assert seen == sorted(seen)
    assert jobs.query_block_jobs()[0].speed == SPEED
    await jobs.block_job_set_speed("p", 0)
    assert jobs.query_block_jobs()[0].speed == 0
    await until(events, "p", "concluded")
    done = jobs.job_info("p")
    assert done.current_progress == done.total_progress == SIZE


async def test_qemu_jobs_run_without_auto_dismiss(jobs: QemuJobs, data_dir: Path) -> None:
    create(data_dir / "src.qcow2")
    events = jobs.subscribe()
    await jobs.start_job(
        "drive-mirror", {"job-id": "m", "device": "src.qcow2", "target": "m.qcow2", "sync": "full"}
    )
    await until(events, "m", "ready")
    assert jobs.daemon.qmp is not None
    (in_qemu,) = await jobs.daemon.qmp.execute("query-block-jobs")
    assert in_qemu["auto-dismiss"] is False
    (ours,) = jobs.query_block_jobs()
    assert ours.auto_dismiss is True
    await jobs.job_complete("m")
    # The engine dismisses the job itself once QEMU reports it concluded.
    await until(events, "m", "null")
    assert await jobs.daemon.qmp.execute("query-jobs") == []
