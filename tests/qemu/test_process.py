"""Starting, watching and stopping qemu-storage-daemon, and its run directory."""

from __future__ import annotations

import os
import shutil
import signal
import stat
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from qapi_jobs.server.engines.builtin.paths import DataDir
from qapi_jobs.server.engines.qemu.jobs import QemuJobs
from qapi_jobs.server.engines.qemu.process import (
    LOG_NAME,
    DaemonError,
    ServiceLock,
    StorageDaemon,
    find_daemon,
    make_private,
    remove_run_dir,
    run_dir_for,
)

from .conftest import opened


def test_run_dir_is_named_after_the_data_dir(tmp_path: Path) -> None:
    run_dir = run_dir_for(tmp_path / "d", "/tmp")
    assert run_dir == run_dir_for(tmp_path / "d" / ".." / "d", "/tmp")
    assert run_dir.name.startswith("qj-") and run_dir.parent == Path("/tmp")
    assert not run_dir.exists()  # only a path: the service lock makes it


def test_run_dir_too_long_for_a_socket_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DaemonError, match="too long for a UNIX socket path; set XDG_RUNTIME_DIR"):
        run_dir_for(tmp_path, "/" + "x" * 90)


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
    second = StorageDaemon(daemon.run_dir, daemon.binary)
    with pytest.raises(
        DaemonError, match=r"another qemu-storage-daemon \(pid \d+\) holds the run directory"
    ):
        await second.start()
    # The first daemon still owns its socket and answers.
    assert await first.execute("query-jobs") == []


async def test_daemon_that_cannot_start_reports_its_output(tmp_path: Path) -> None:
    fake = shutil.which("false")
    assert fake is not None
    daemon = StorageDaemon(tmp_path, fake)
    with pytest.raises(DaemonError, match="exited with status 1"):
        await daemon.start()


async def test_the_log_is_opened_and_read_off_the_event_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    loop_thread = threading.current_thread()
    on_loop: list[str] = []
    real_open = os.open

    def watched_open(path: str | os.PathLike[str], *args: int, **kwargs: int) -> int:
        if Path(path).name == LOG_NAME and threading.current_thread() is loop_thread:
            on_loop.append("os.open")
        return real_open(path, *args, **kwargs)

    real_path_open: Callable[..., object] = Path.open

    def watched_path_open(self: Path, *args: object, **kwargs: object) -> object:
        if self.name == LOG_NAME and threading.current_thread() is loop_thread:
            on_loop.append("Path.open")
        return real_path_open(self, *args, **kwargs)

    monkeypatch.setattr(os, "open", watched_open)
    monkeypatch.setattr(Path, "open", watched_path_open)
    script = tmp_path / "fails"
    script.write_text("#!/bin/sh\necho 'no such option' >&2\nexit 1\n")
    script.chmod(0o700)
    with pytest.raises(DaemonError, match="exited with status 1: no such option"):
        await StorageDaemon(tmp_path, str(script)).start()
    assert on_loop == []


async def test_exit_status_of_a_killed_daemon(daemon: StorageDaemon) -> None:
    await daemon.start()
    assert daemon.process is not None
    daemon.process.send_signal(signal.SIGKILL)
    assert await daemon.wait() == -signal.SIGKILL
    # A killed daemon leaves its socket and pidfile behind; a new start reuses them.
    assert daemon.socket_path.exists()
    qmp = await daemon.start()
    assert await qmp.execute("query-jobs") == []


async def test_one_server_per_data_directory(qsd: str, tmp_path: Path) -> None:
    data = tmp_path / "d"
    data.mkdir()
    run_dir = run_dir_for(data, tmp_path)
    first = QemuJobs(StorageDaemon(run_dir, qsd), DataDir(data))
    await first.open()
    try:
        second = QemuJobs(StorageDaemon(run_dir, qsd), DataDir(data))
        with pytest.raises(DaemonError, match="another qapi-jobs server runs the qemu engine"):
            await second.open()
    finally:
        await first.shutdown()
    # Once the first server is gone the data directory is free again.
    await second.open()
    assert second.healthy
    await second.shutdown()


async def test_stopping_the_service_removes_its_run_dir(qsd: str, data_dir: Path) -> None:
    run_dir = run_dir_for(data_dir)
    async with opened(StorageDaemon(run_dir, qsd), data_dir) as jobs:
        assert jobs.daemon.socket_path.exists()
        assert stat.S_IMODE(run_dir.stat().st_mode) == 0o700
    assert not run_dir.exists()


def test_a_lock_won_on_a_removed_file_is_taken_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_dir = run_dir_for(tmp_path / "d", tmp_path)
    real_open = os.open
    opens = 0

    def open_then_lose(path: str | os.PathLike[str], *args: int, **kwargs: int) -> int:
        nonlocal opens
        fd = real_open(path, *args, **kwargs)
        opens += 1
        if opens == 1:
            # The server before removes its run directory just after this open.
            remove_run_dir(run_dir)
        return fd

    monkeypatch.setattr(os, "open", open_then_lose)
    lock = ServiceLock(run_dir)
    lock.acquire()
    monkeypatch.undo()
    try:
        with pytest.raises(DaemonError, match="another qapi-jobs server runs the qemu engine"):
            ServiceLock(run_dir).acquire()
    finally:
        lock.release(remove=True)
    assert not run_dir.exists()


def test_run_dir_must_be_private(tmp_path: Path) -> None:
    run_dir = run_dir_for(tmp_path / "d", tmp_path)
    make_private(run_dir)
    make_private(run_dir)
    assert stat.S_IMODE(run_dir.stat().st_mode) == 0o700
    run_dir.chmod(0o755)
    with pytest.raises(DaemonError, match="is not a private directory"):
        make_private(run_dir)
