"""Faults on the qemu engine: a killed or stopped daemon, an image locked by another process."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
from pathlib import Path

import pytest

from qapi_jobs.server.engines.builtin.paths import DataDir
from qapi_jobs.server.engines.qemu.jobs import QemuJobs
from qapi_jobs.server.engines.qemu.process import StorageDaemon
from qapi_jobs.server.jobs.errors import ErrorKind, JobError

from .conftest import WAIT, names, statuses, until
from .images import MIB, create, same, write

KILLED = "qemu-storage-daemon exited: signal 9"


async def _healthy(jobs: QemuJobs) -> None:
    async with asyncio.timeout(WAIT):
        version = jobs.change_version
        while not jobs.healthy:
            version = await jobs.wait_for_change(version)


async def test_killed_daemon_concludes_jobs_removes_targets_and_restarts(
    jobs: QemuJobs, data_dir: Path
) -> None:
    source = create(data_dir / "src.qcow2")
    write(source, 6, 0, 2 * MIB)
    events = jobs.subscribe()
    await jobs.start_job(
        "drive-mirror",
        {"job-id": "m", "device": "src.qcow2", "target": "m.qcow2", "sync": "full",
         "auto-dismiss": False},
    )  # fmt: skip
    seen = await until(events, "m", "ready")
    await jobs.start_job(
        "drive-backup",
        {"job-id": "b", "device": "src.qcow2", "target": "b.raw", "format": "raw",
         "sync": "full", "speed": 65536},
    )  # fmt: skip
    await until(events, "b", "running", seen)
    assert not any(record.synthetic for record in seen)
    process = jobs.daemon.process
    assert process is not None
    os.kill(process.pid, signal.SIGKILL)
    before = len(seen)
    await until(events, "b", "null", seen)
    await until(events, "m", "concluded", seen)
    # What the engine made up for the dead daemon is flagged (QEMU's last drain pairs are not).
    made_up = [r for r in seen[before:] if r.data.get("status") in ("aborting", "concluded", None)]
    assert len(made_up) == 6 and all(record.synthetic for record in made_up)
    # Newest first, each through aborting with the daemon's fate as its error.
    assert statuses(seen, "b")[-4:] == ["running", "aborting", "concluded", "null"]
    assert statuses(seen, "m")[-3:] == ["ready", "aborting", "concluded"]
    completed = [r.data for r in seen if r.name == "BLOCK_JOB_COMPLETED"]
    assert [(data["device"], data["error"]) for data in completed] == [("b", KILLED), ("m", KILLED)]
    assert not (data_dir / "m.qcow2").exists()
    assert not (data_dir / "b.raw").exists()
    # The outcome is kept until dismissed; QEMU no longer knows the job, the engine does.
    (kept,) = jobs.query_jobs()
    assert (kept.id, kept.status.value, kept.error) == ("m", "concluded", KILLED)
    with pytest.raises(JobError, match="cannot accept command verb 'pause'"):
        await jobs.job_pause("m")
    await jobs.job_dismiss("m")
    await until(events, "m", "null")
    assert jobs.query_jobs() == []
    # A new daemon takes over and the next job works.
    await _healthy(jobs)
    assert jobs.restarts == 1
    options = {"driver": "raw", "filename": "after.raw", "size": MIB}
    await jobs.start_job("blockdev-create", {"job-id": "next", "options": options})
    seen = await until(events, "next", "concluded")
    assert jobs.job_info("next").error is None
    assert "BLOCK_JOB_COMPLETED" not in names(seen)


async def test_stopped_daemon_makes_verbs_unavailable_until_it_continues(
    jobs: QemuJobs, data_dir: Path
) -> None:
    source = create(data_dir / "src.qcow2")
    events = jobs.subscribe()
    await jobs.start_job(
        "drive-mirror", {"job-id": "m", "device": "src.qcow2", "target": "m.qcow2", "sync": "full"}
    )
    await until(events, "m", "ready")
    process = jobs.daemon.process
    assert process is not None
    jobs.command_timeout = 0.3
    os.kill(process.pid, signal.SIGSTOP)
    try:
        with pytest.raises(JobError) as refused:
            await jobs.job_pause("m")
        assert refused.value.kind is ErrorKind.UNAVAILABLE
        assert "did not answer 'job-pause'" in refused.value.message
    finally:
        os.kill(process.pid, signal.SIGCONT)
    # The pause QEMU received while stopped takes effect late; a resume now matches it.
    await until(events, "m", "standby")
    jobs.command_timeout = WAIT
    await jobs.job_resume("m")
    await until(events, "m", "ready")
    await jobs.job_complete("m")
    await until(events, "m", "null")
    assert source.exists() and (data_dir / "m.qcow2").exists()


async def test_image_locked_by_another_process(jobs: QemuJobs, data_dir: Path) -> None:
    create(data_dir / "src.qcow2")
    held = create(data_dir / "held.qcow2")
    holder = await asyncio.create_subprocess_exec(
        "qemu-io", "-f", "qcow2", str(held),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert holder.stdin is not None and holder.stdout is not None
    try:
        # Once qemu-io answers a command it holds the image open (and locked).
        holder.stdin.write(b"help\n")
        await holder.stdout.readuntil(b"qemu-io>")
        await holder.stdout.readuntil(b"qemu-io>")
        with pytest.raises(JobError) as refused:
            await jobs.start_job(
                "drive-backup",
                {"device": "src.qcow2", "target": "held.qcow2", "sync": "full",
                 "mode": "existing"},
            )  # fmt: skip
    finally:
        holder.stdin.close()
        await holder.wait()
    assert refused.value.reason == "IMAGE_LOCKED"
    assert refused.value.kind is ErrorKind.WRONG_STATE
    assert str(data_dir) not in refused.value.message
    assert "qj" not in refused.value.message
    assert jobs.daemon.qmp is not None
    assert await jobs.daemon.qmp.execute("query-named-block-nodes") == []


async def test_shutdown_cancels_newest_first_and_stops_the_daemon(
    daemon: StorageDaemon, data_dir: Path
) -> None:
    source = create(data_dir / "src.qcow2")
    write(source, 6, 0, 2 * MIB)
    jobs = QemuJobs(daemon, DataDir(data_dir))
    await jobs.open()
    events = jobs.subscribe()
    await jobs.start_job(
        "drive-mirror", {"job-id": "m", "device": "src.qcow2", "target": "m.qcow2", "sync": "full"}
    )
    seen = await until(events, "m", "ready")
    await jobs.start_job(
        "drive-backup",
        {"job-id": "b", "device": "src.qcow2", "target": "b.qcow2", "sync": "full",
         "speed": 65536, "auto-dismiss": False},
    )  # fmt: skip
    await until(events, "b", "running", seen)
    await jobs.shutdown(grace=WAIT)
    seen.extend(events.get_nowait())
    nulls = [
        r.data["id"] for r in seen if r.name == "JOB_STATUS_CHANGE" and r.data["status"] == "null"
    ]
    assert nulls == ["b", "m"]
    assert not (data_dir / "b.qcow2").exists() and not (data_dir / "m.qcow2").exists()
    assert not daemon.running and daemon.process is not None
    assert daemon.process.returncode == 0
    assert source.exists()


async def test_a_broken_connection_is_reestablished_without_losing_outcomes(
    jobs: QemuJobs, data_dir: Path
) -> None:
    source = create(data_dir / "src.qcow2")
    write(source, 6, 0, MIB)
    events = jobs.subscribe()
    await jobs.start_job(
        "drive-mirror", {"job-id": "m", "device": "src.qcow2", "target": "m.qcow2", "sync": "full"}
    )
    await until(events, "m", "ready")
    qmp = jobs.daemon.qmp
    assert qmp is not None
    process = jobs.daemon.process
    # The engine's end of the socket breaks; the daemon itself is fine.
    qmp._writer.get_extra_info("socket").shutdown(socket.SHUT_RDWR)
    version = jobs.change_version
    async with asyncio.timeout(WAIT):
        while jobs.daemon.qmp is qmp or not jobs.healthy:
            version = await jobs.wait_for_change(version)
    assert jobs.daemon.process is process and jobs.restarts == 0
    (info,) = jobs.query_jobs()
    assert (info.id, info.status.value, info.error) == ("m", "ready", None)
    await jobs.job_complete("m")
    seen = await until(events, "m", "null")
    assert "BLOCK_JOB_COMPLETED" in names(seen)
    assert same(source, data_dir / "m.qcow2")


async def test_shutdown_during_a_restart_leaves_no_daemon_behind(
    daemon: StorageDaemon, data_dir: Path
) -> None:
    jobs = QemuJobs(daemon, DataDir(data_dir))
    await jobs.open()
    assert daemon.process is not None
    daemon.process.kill()
    version = jobs.change_version
    async with asyncio.timeout(WAIT):
        while jobs.healthy:
            version = await jobs.wait_for_change(version)
    await jobs.shutdown(grace=WAIT)
    assert daemon.process is not None and daemon.process.returncode is not None
    assert daemon.live_pid() is None
