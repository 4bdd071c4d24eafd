"""The QMP client against a real qemu-storage-daemon."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest

from qapi_jobs.server.engines.qemu.process import StorageDaemon
from qapi_jobs.server.engines.qemu.qmp import (
    JsonObject,
    QmpClient,
    QmpDisconnected,
    QmpError,
    QmpTimeout,
)

from .conftest import WAIT


async def test_negotiates_and_reports_version(daemon: StorageDaemon) -> None:
    qmp = await daemon.start()
    assert qmp.version >= (7, 2, 0)
    version = await qmp.execute("query-version")
    assert version["qemu"]["major"] == qmp.version[0]


async def test_refusal_keeps_qemu_class_and_text(daemon: StorageDaemon) -> None:
    qmp = await daemon.start()
    with pytest.raises(QmpError) as refused:
        await qmp.execute("job-pause", {"id": "nope"})
    assert refused.value.error_class == "GenericError"
    assert refused.value.desc == "Job not found"
    with pytest.raises(QmpError) as unknown:
        await qmp.execute("no-such-command")
    assert unknown.value.error_class == "CommandNotFound"


async def test_events_sent_before_the_reply_are_delivered_before_it(
    daemon: StorageDaemon, data_dir: Path
) -> None:
    seen: list[JsonObject] = []
    qmp = await daemon.start(on_event=seen.append)
    target = data_dir / "new.raw"
    target.touch()
    await qmp.execute(
        "blockdev-create",
        {"job-id": "c1", "options": {"driver": "file", "filename": str(target), "size": 65536}},
    )
    # The reply has resolved: the job's first events must already have been handed over.
    first = [(e["event"], e["data"].get("status")) for e in seen if e["data"].get("id") == "c1"]
    assert first[:2] == [("JOB_STATUS_CHANGE", "created"), ("JOB_STATUS_CHANGE", "running")]


async def test_pipelined_commands_get_their_own_replies(daemon: StorageDaemon) -> None:
    qmp = await daemon.start()
    replies = await asyncio.gather(
        *(qmp.execute("query-jobs") for _ in range(10)), qmp.execute("query-version")
    )
    assert replies[:10] == [[]] * 10
    assert "qemu" in replies[10]


async def test_stopped_daemon_times_out_and_late_replies_are_dropped(
    daemon: StorageDaemon,
) -> None:
    qmp = await daemon.start()
    assert daemon.process is not None
    os.kill(daemon.process.pid, signal.SIGSTOP)
    try:
        with pytest.raises(QmpTimeout, match="did not answer 'query-version'"):
            await qmp.execute("query-version", within=0.2)
    finally:
        os.kill(daemon.process.pid, signal.SIGCONT)
    # The late reply to query-version must not be taken for this one.
    assert await qmp.execute("query-jobs", within=WAIT) == []


async def test_killed_daemon_fails_pending_calls(daemon: StorageDaemon) -> None:
    closed: list[Exception] = []
    qmp = await daemon.start(on_close=closed.append)
    assert daemon.process is not None
    os.kill(daemon.process.pid, signal.SIGSTOP)
    pending = asyncio.ensure_future(qmp.execute("query-version", within=WAIT))
    await asyncio.sleep(0)  # let the command be written before the kill
    os.kill(daemon.process.pid, signal.SIGKILL)
    with pytest.raises(QmpDisconnected):
        await pending
    assert await daemon.wait() == -signal.SIGKILL
    assert len(closed) == 1
    assert not qmp.connected
    with pytest.raises(QmpDisconnected):
        await qmp.execute("query-version")


async def test_a_busy_monitor_gives_no_greeting(daemon: StorageDaemon) -> None:
    await daemon.start()
    with pytest.raises(QmpTimeout, match="greeting"):
        await QmpClient.connect(str(daemon.socket_path), within=0.3)
