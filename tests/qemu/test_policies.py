"""Error policies as QEMU applies them, on a source whose first cluster cannot be read."""

from __future__ import annotations

import asyncio
from pathlib import Path

from qapi_jobs.server.engines.qemu.jobs import QemuJobs
from qapi_jobs.server.engines.qemu.qmp import JsonObject

from .conftest import WAIT, names, until
from .images import MIB, corrupt_first_cluster, create, write


def _broken_source(data_dir: Path) -> None:
    source = create(data_dir / "src.qcow2", size=MIB)
    write(source, 1, 0, 65536)
    corrupt_first_cluster(source)


def _backup(policy: str) -> dict[str, object]:
    return {"job-id": "e", "device": "src.qcow2", "target": "t.raw", "format": "raw",
            "sync": "full", "on-source-error": policy}  # fmt: skip


async def test_report_fails_the_job_and_removes_its_target(jobs: QemuJobs, data_dir: Path) -> None:
    _broken_source(data_dir)
    events = jobs.subscribe()
    await jobs.start_job("drive-backup", _backup("report"))
    seen = await until(events, "e", "null")
    (completed,) = [r.data for r in seen if r.name == "BLOCK_JOB_COMPLETED"]
    assert completed["error"] == "Input/output error"
    assert [r.data["action"] for r in seen if r.name == "BLOCK_JOB_ERROR"] == ["report"]
    assert not (data_dir / "t.raw").exists()


async def test_stop_pauses_the_job_with_a_failed_io_status(jobs: QemuJobs, data_dir: Path) -> None:
    _broken_source(data_dir)
    events = jobs.subscribe()
    await jobs.start_job("drive-backup", _backup("stop"))
    seen = await until(events, "e", "paused")
    while "BLOCK_JOB_ERROR" not in names(seen):
        seen.append(await anext(events))
    (error,) = [r.data for r in seen if r.name == "BLOCK_JOB_ERROR"]
    assert (error["operation"], error["action"]) == ("read", "stop")
    version = jobs.change_version
    while jobs.query_block_jobs()[0].io_status.value != "failed":
        version = await jobs.wait_for_change(version)
    assert jobs.query_block_jobs()[0].paused
    await jobs.job_cancel("e")
    await until(events, "e", "null")
    assert not (data_dir / "t.raw").exists()


async def test_persistent_error_under_ignore_is_coalesced_and_cancellable(
    jobs: QemuJobs, data_dir: Path
) -> None:
    """QEMU retries at once and reports every retry as a BLOCK_JOB_ERROR.

    Unthrottled that is tens of thousands a second, and the daemon stops
    answering commands; at 64 MiB/s it is about a thousand a second and
    the job can still be cancelled.  Either way the log holds one error.
    """
    _broken_source(data_dir)
    jobs.error_window = 3600.0
    qmp = jobs.daemon.qmp
    assert qmp is not None
    flooded = asyncio.Event()
    raw_errors = 0
    forward = qmp._on_event
    assert forward is not None

    def count(message: JsonObject) -> None:
        nonlocal raw_errors
        raw_errors += message["event"] == "BLOCK_JOB_ERROR"
        if raw_errors >= 100:
            flooded.set()
        forward(message)

    qmp._on_event = count
    events = jobs.subscribe(max_lag=50)
    await jobs.start_job("drive-backup", {**_backup("ignore"), "speed": 64 * MIB})
    async with asyncio.timeout(WAIT):
        await flooded.wait()
    await jobs.job_cancel("e")
    seen = await until(events, "e", "null")
    assert names(seen).count("BLOCK_JOB_ERROR") == 1
    assert "BLOCK_JOB_CANCELLED" in names(seen)
    assert not (data_dir / "t.raw").exists()
