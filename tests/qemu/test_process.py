"""Starting, watching and stopping qemu-storage-daemon."""

from __future__ import annotations

import os
import shutil
import signal
import stat
from pathlib import Path

import pytest

from qapi_jobs.server.engines.builtin.paths import DataDir
from qapi_jobs.server.engines.qemu.jobs import QemuJobs
from qapi_jobs.server.engines.qemu.process import (
    DaemonError,
    StorageDaemon,
    find_daemon,
    make_run_dir,
    run_dir_for,
)


def test_run_dir_is_private_and_short() -> None:
    run_dir = make_run_dir()
    try:
        assert stat.S_IMODE(run_dir.stat().st_mode) == 0o700
        assert len(os.fsencode(run_dir / "qmp.sock")) <= 107
    finally:
        run_dir.rmdir()


def test_missing_daemon_is_reported() -> None:
    with pytest.raises(DaemonError, match="no-such-qsd not found"):
        find_daemon("no-such-qsd")


async def test_start_and_graceful_stop(daemon: StorageDaemon) -> None:
    await daemon.start()
    assert daemon.running
    assert stat.S_ISSOCK(daemon.socket_path.stat().st_mode)
    assert await daemon.stop() == 0
    assert not daemon.running
    assert not daemon.socket_path.exists()


async def test_second_daemon_on_the_same_run_dir_is_refused(daemon: StorageDaemon) -> None:
    first = await daemon.start()
    second = StorageDaemon(daemon.run_dir)
    with pytest.raises(
        DaemonError, match=r"another qemu-storage-daemon \(pid \d+\) holds the run directory"
    ):
        await second.start()
    # The first daemon still owns its socket and answers.
    assert await first.execute("query-jobs") == []


async def test_daemon_that_cannot_start_reports_its_output() -> None:
    run_dir = make_run_dir()
    fake = shutil.which("false")
    assert fake is not None
    daemon = StorageDaemon(run_dir, fake)
    try:
        with pytest.raises(DaemonError, match="exited with status 1"):
            await daemon.start()
    finally:
        shutil.rmtree(run_dir)


async def test_exit_status_of_a_killed_daemon(daemon: StorageDaemon) -> None:
    await daemon.start()
    assert daemon.process is not None
    daemon.process.send_signal(signal.SIGKILL)
    assert await daemon.wait() == -signal.SIGKILL
    # A killed daemon leaves its socket and pidfile behind; a new start reuses them.
    assert daemon.socket_path.exists()
    qmp = await daemon.start()
    assert await qmp.execute("query-jobs") == []


async def test_one_server_per_data_directory(tmp_path: Path) -> None:
    data = tmp_path / "d"
    data.mkdir()
    first = QemuJobs(StorageDaemon(run_dir_for(data, tmp_path)), DataDir(data))
    await first.open()
    try:
        second = QemuJobs(StorageDaemon(run_dir_for(data, tmp_path)), DataDir(data))
        with pytest.raises(DaemonError, match="another qapi-jobs server runs the qemu engine"):
            await second.open()
    finally:
        await first.shutdown()
    # Once the first server is gone the data directory is free again.
    await second.open()
    assert second.healthy
    await second.shutdown()


def test_run_dir_must_be_private(tmp_path: Path) -> None:
    data = tmp_path / "d"
    data.mkdir()
    run_dir = run_dir_for(data, tmp_path)
    assert run_dir_for(data, tmp_path) == run_dir
    assert stat.S_IMODE(run_dir.stat().st_mode) == 0o700
    run_dir.chmod(0o755)
    with pytest.raises(DaemonError, match="is not a private directory"):
        run_dir_for(data, tmp_path)
