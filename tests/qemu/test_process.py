"""Starting, watching and stopping qemu-storage-daemon."""

from __future__ import annotations

import os
import shutil
import signal
import stat

import pytest

from qapi_jobs.server.engines.qemu.process import (
    DaemonError,
    StorageDaemon,
    find_daemon,
    make_run_dir,
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
    with pytest.raises(DaemonError, match="another qemu-storage-daemon holds the run directory"):
        await second.start()
    # The first daemon still owns its socket and answers.
    assert await first.execute("query-jobs") == []


async def test_daemon_that_cannot_start_reports_its_output(tmp_path: os.PathLike[str]) -> None:
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
