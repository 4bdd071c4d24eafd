"""The store through the server: a second server, a full disk, the reserved state directory."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from qapi_jobs.server.cli import EXIT_STORE, build_parser, config_from_args
from qapi_jobs.server.engines.builtin import BuiltinEngine
from qapi_jobs.server.jobs.errors import JobError
from qapi_jobs.server.jobs.manager import JobManager
from qapi_jobs.server.store import STATE_DIR_NAME, open_store
from tests.durable.filesystems import Tmpfs
from tests.support.servers import ServerProcess, free_port

MIB = 1 << 20


def test_a_second_server_process_is_refused(data_dir: Path) -> None:
    first = ServerProcess(data_dir, free_port()).start()
    try:
        second = subprocess.run(
            [sys.executable, "-m", "qapi_jobs.server", "--listen", "127.0.0.1:0", "--data-dir",
             str(data_dir)],
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
        assert second.returncode == EXIT_STORE
        assert f"another qapi-jobs server (pid {first.process.pid})" in second.stderr  # type: ignore[union-attr]
    finally:
        first.stop()


def test_the_options_of_the_store() -> None:
    parser = build_parser()
    base = ["--data-dir", "d"]
    default = config_from_args(parser.parse_args(base)).state
    assert (default.durable, default.power_loss, default.event_max_age) == (True, False, None)
    chosen = config_from_args(
        parser.parse_args([*base, "--power-loss-safe", "--event-max-age", "3600"])
    ).state
    assert (chosen.power_loss, chosen.event_max_age) == (True, 3600.0)
    assert not config_from_args(parser.parse_args([*base, "--no-store"])).state.durable


async def test_the_state_directory_is_not_an_image(data_dir: Path) -> None:
    open_store(data_dir).close()
    engine = BuiltinEngine(data_dir)
    with pytest.raises(JobError, match="server's own state directory") as refused:
        await engine.prepare(
            "drive-backup",
            {"device": f"{STATE_DIR_NAME}/state.sqlite3", "target": "copy.raw", "sync": "full"},
        )
    assert refused.value.reason == "STATE_DIR_RESERVED"


async def test_a_full_disk_fails_the_command_and_loses_nothing(
    small_fs: Tmpfs, tmp_path: Path
) -> None:
    images = tmp_path / "images"
    images.mkdir()
    engine = BuiltinEngine(images)
    store = open_store(small_fs.path)
    try:
        manager = JobManager(journal=store)
        subscription = manager.subscribe()
        filler = small_fs.fill()
        plan = await engine.prepare(
            "blockdev-create",
            {"job-id": "c", "options": {"driver": "raw", "filename": "c.raw", "size": MIB}},
        )
        with pytest.raises(JobError, match="could not record this change durably") as refused:
            await manager.start(plan)
        assert refused.value.reason == "STATE_NOT_WRITABLE"
        assert refused.value.hint is not None and "Free space" in refused.value.hint
        assert subscription.get_nowait() == []  # not written, so not seen
        filler.unlink()
        seen: list[str] = []
        while "concluded" not in seen:  # the retry writes them, then they are seen
            seen += [str(r.data["status"]) for r in await subscription.next_batch()]
        assert seen == ["created", "running", "waiting", "pending", "concluded"]
        await manager.shutdown()
    finally:
        store.close()
    reopened = open_store(small_fs.path)
    try:
        assert [r.data["status"] for r in reopened.read_events(1, 100)] == seen
    finally:
        reopened.close()
