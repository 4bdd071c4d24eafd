"""A server that leaves its daemon running, and the next one that takes it over."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from qapi_jobs.server.engines.builtin.paths import DataDir
from qapi_jobs.server.engines.qemu.jobs import QemuJobs
from qapi_jobs.server.engines.qemu.process import StorageDaemon, remove_run_dir, run_dir_for

from .conftest import until
from .images import MIB, create, same, write


@pytest.fixture
def run_dir(qsd: str, data_dir: Path) -> Iterator[Path]:
    path = run_dir_for(data_dir)
    yield path
    # Only when the test failed before the last server stopped: no daemon outlives it.
    pid = StorageDaemon(path, qsd).live_pid()
    if pid is not None:
        os.kill(pid, signal.SIGKILL)
    remove_run_dir(path)


@pytest.fixture
def backend(qsd: str, run_dir: Path, data_dir: Path) -> Callable[..., QemuJobs]:
    """Makes the servers of a test, on one data directory and daemon binary."""

    def make(*, keep: bool) -> QemuJobs:
        daemon = StorageDaemon(run_dir, qsd)
        return QemuJobs(daemon, DataDir(data_dir), poll_interval=0.05, keep_daemon=keep)

    return make


async def test_next_server_takes_over_running_and_concluded_jobs(
    backend: Callable[..., QemuJobs], data_dir: Path
) -> None:
    source = create(data_dir / "src.qcow2")
    write(source, 3, 0, 2 * MIB)
    first = backend(keep=True)
    await first.open()
    events = first.subscribe()
    await first.start_job(
        "drive-mirror", {"job-id": "m", "device": "src.qcow2", "target": "m.qcow2", "sync": "full"}
    )
    await until(events, "m", "ready")
    options = {"driver": "raw", "filename": "new.raw", "size": MIB}
    await first.start_job("blockdev-create", {"job-id": "c", "options": options})
    await until(events, "c", "concluded")
    await first.start_job(
        "drive-backup",
        {"job-id": "b", "device": "src.qcow2", "target": "b.qcow2", "sync": "full",
         "speed": 65536},
    )  # fmt: skip
    await until(events, "b", "running")
    assert first.daemon.process is not None
    pid = first.daemon.process.pid
    await first.shutdown()
    os.kill(pid, 0)  # still running, in its run directory
    assert first.daemon.socket_path.exists()

    second = backend(keep=False)
    await second.open()
    try:
        assert second.daemon.adopted and second.restarts == 0
        statuses = {info.id: info.status.value for info in second.query_jobs()}
        assert statuses == {"m": "ready", "c": "concluded", "b": "running"}
        assert [info.device for info in second.query_block_jobs()] == ["b", "m"]
        events = second.subscribe()
        # The engine still knows what the first server created and promised.
        await second.job_cancel("b")
        await until(events, "b", "null")
        assert not (data_dir / "b.qcow2").exists()
        await second.job_complete("m")
        await until(events, "m", "null")
        await second.job_dismiss("c")
        await until(events, "c", "null")
        assert second.query_jobs() == []
    finally:
        await second.shutdown()
    assert same(source, data_dir / "m.qcow2")
    assert (data_dir / "new.raw").stat().st_size == MIB
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert not first.daemon.run_dir.exists()  # stopped for good: nothing left for a next server


async def test_a_job_that_concluded_unwatched_settles_on_takeover(
    backend: Callable[..., QemuJobs], run_dir: Path, data_dir: Path
) -> None:
    create(data_dir / "src.qcow2")
    first = backend(keep=True)
    await first.open()
    events = first.subscribe()
    await first.start_job(
        "drive-mirror", {"job-id": "m", "device": "src.qcow2", "target": "m.qcow2", "sync": "full"}
    )
    await until(events, "m", "ready")
    await first.shutdown()
    # While no server listens, someone cancels the job hard: QEMU keeps its outcome.
    kept = StorageDaemon(run_dir, first.daemon.binary)
    qmp = await kept.adopt(kept.live_pid() or 0)
    await qmp.execute("job-cancel", {"id": "m"})
    await qmp.close()

    second = backend(keep=False)
    events = second.events.subscribe()
    await second.open()
    try:
        seen = await until(events, "m", "null")
        # The server made up 'concluded' (QEMU sent it to nobody); 'null' is QEMU's own.
        changes = [(r.data["status"], r.synthetic) for r in seen if r.name == "JOB_STATUS_CHANGE"]
        assert changes == [("concluded", True), ("null", False)]
        # Cancelled: the target the first server created is gone, as it would have been.
        assert not (data_dir / "m.qcow2").exists()
    finally:
        await second.shutdown()
