"""The builtin engine's jobs run by the real job manager: events, verbs, policies."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

import pytest

from qapi_jobs.server.engines.builtin import BuiltinEngine
from qapi_jobs.server.jobs import events as ev
from qapi_jobs.server.jobs.errors import JobError
from qapi_jobs.server.jobs.manager import JobManager
from tests.support.events import Events, assert_in_order
from tests.support.images import KIB, MIB, data_ranges, make_dense, make_image, overwrite
from tests.support.servers import make_engine

DATA = [(0, 128 * KIB), (MIB, 64 * KIB)]


@pytest.fixture
def fast_engine(data_dir: Path) -> BuiltinEngine:
    return make_engine(data_dir, mirror_poll_interval=0.01)


async def start(
    manager: JobManager, engine: BuiltinEngine, command: str, arguments: dict[str, Any]
) -> Events:
    watch = Events(manager.subscribe(0))
    plan = await engine.prepare(command, arguments)
    await manager.start(plan)
    return watch


async def test_backup(manager: JobManager, engine: BuiltinEngine, data_dir: Path) -> None:
    content = make_image(data_dir / "disk.img", 2 * MIB, DATA)
    watch = await start(
        manager,
        engine,
        "drive-backup",
        {"job-id": "b1", "device": "disk.img", "target": "copy.img", "sync": "full"},
    )
    assert_in_order(
        await watch.until("b1:null"),
        [
            "b1:created",
            "b1:running",
            "b1:waiting",
            "b1:pending",
            "[b1:COMPLETED]",
            "b1:concluded",
            "b1:null",
        ],
    )
    completed = watch.data(ev.BLOCK_JOB_COMPLETED)
    assert (completed["len"], completed["offset"]) == (2 * MIB, 2 * MIB)
    assert (data_dir / "copy.img").read_bytes() == content
    assert data_ranges(data_dir / "copy.img") == DATA


async def test_create_waits_for_dismiss(
    manager: JobManager, engine: BuiltinEngine, data_dir: Path
) -> None:
    watch = await start(
        manager,
        engine,
        "blockdev-create",
        {
            "job-id": "c1",
            "options": {"driver": "raw", "filename": "new.img", "size": MIB},
        },
    )
    await watch.until("c1:concluded")
    info = manager.job_info("c1")
    assert (info.current_progress, info.total_progress, info.error) == (MIB, MIB, None)
    await manager.job_dismiss("c1")
    assert_in_order(
        await watch.until("c1:null"),
        [
            "c1:created",
            "c1:running",
            "c1:waiting",
            "c1:pending",
            "c1:concluded",
            "c1:null",
        ],
    )
    assert (data_dir / "new.img").stat().st_size == MIB


async def test_cancel_a_paused_backup_removes_its_target(
    manager: JobManager, engine: BuiltinEngine, data_dir: Path
) -> None:
    make_dense(data_dir / "disk.img", 2 * MIB)
    watch = Events(manager.subscribe(0))
    plan = await engine.prepare(
        "drive-backup",
        {"job-id": "b1", "device": "disk.img", "target": "copy.img", "sync": "full"},
    )
    await manager.start(plan)
    await manager.job_pause("b1")
    await watch.until("b1:paused")
    await manager.job_cancel("b1")
    assert_in_order(
        await watch.until("b1:null"),
        [
            "b1:created",
            "b1:running",
            "b1:paused",
            "b1:running",
            "b1:aborting",
            "[b1:CANCELLED]",
            "b1:concluded",
            "b1:null",
        ],
    )
    assert not (data_dir / "copy.img").exists()


async def test_write_error_with_stop_policy_then_resume(
    manager: JobManager,
    engine: BuiltinEngine,
    data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    content = make_dense(data_dir / "disk.img", MIB)
    calls = 0
    pwrite = os.pwrite

    def kernel_copy_fails(*args: int) -> int:
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    def second_write_fails(fd: int, data: Any, offset: int) -> int:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        return pwrite(fd, data, offset)

    monkeypatch.setattr(os, "copy_file_range", kernel_copy_fails)
    monkeypatch.setattr(os, "pwrite", second_write_fails)
    watch = await start(
        manager,
        engine,
        "drive-backup",
        {
            "job-id": "b1",
            "device": "disk.img",
            "target": "copy.img",
            "sync": "full",
            "on-target-error": "stop",
        },
    )
    await watch.until("b1:paused")
    assert manager.query_block_jobs()[0].to_qmp()["io-status"] == "failed"
    await manager.job_resume("b1")
    assert_in_order(
        await watch.until("b1:null"),
        [
            "b1:created",
            "b1:running",
            "[b1:ERROR write/stop]",
            "b1:paused",
            "b1:running",
            "b1:waiting",
            "b1:pending",
            "[b1:COMPLETED]",
            "b1:concluded",
            "b1:null",
        ],
    )
    assert (data_dir / "copy.img").read_bytes() == content


async def test_read_error_reported(
    manager: JobManager,
    engine: BuiltinEngine,
    data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    make_dense(data_dir / "disk.img", MIB)

    def eio(*args: Any) -> int:
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(os, "copy_file_range", eio)
    monkeypatch.setattr(os, "preadv", eio)
    watch = await start(
        manager,
        engine,
        "drive-backup",
        {"job-id": "b1", "device": "disk.img", "target": "copy.img", "sync": "full"},
    )
    assert_in_order(
        await watch.until("b1:null"),
        [
            "b1:created",
            "b1:running",
            "[b1:ERROR read/report]",
            "b1:aborting",
            "[b1:COMPLETED error=Input/output error]",
            "b1:concluded",
            "b1:null",
        ],
    )
    assert not (data_dir / "copy.img").exists()


async def test_negative_speed_is_refused_after_creation(
    manager: JobManager, engine: BuiltinEngine, data_dir: Path
) -> None:
    make_dense(data_dir / "disk.img", MIB)
    watch = Events(manager.subscribe(0))
    plan = await engine.prepare(
        "drive-backup",
        {"job-id": "b1", "device": "disk.img", "target": "copy.img", "sync": "full", "speed": -1},
    )
    with pytest.raises(JobError, match="Parameter 'speed' expects a non-negative value"):
        await manager.start(plan)
    assert await watch.until("b1:null") == ["b1:created", "b1:null"]
    assert not (data_dir / "copy.img").exists()


async def test_mirror_follows_writes_until_complete(
    manager: JobManager, fast_engine: BuiltinEngine, data_dir: Path
) -> None:
    source = data_dir / "disk.img"
    make_image(source, 2 * MIB, DATA)
    watch = await start(
        manager,
        fast_engine,
        "drive-mirror",
        {"job-id": "m1", "device": "disk.img", "target": "m.img", "sync": "full"},
    )
    await watch.until("[m1:READY]")
    ready = watch.data(ev.BLOCK_JOB_READY)
    assert ready["len"] == ready["offset"] == 2 * MIB
    overwrite(source, 4096, b"after ready")
    overwrite(source, MIB + 512 * KIB, b"in a hole")
    await manager.job_complete("m1")
    assert_in_order(
        await watch.until("m1:null"),
        [
            "m1:created",
            "m1:running",
            "m1:ready",
            "[m1:READY]",
            "m1:waiting",
            "m1:pending",
            "[m1:COMPLETED]",
            "m1:concluded",
            "m1:null",
        ],
    )
    assert (data_dir / "m.img").read_bytes() == source.read_bytes()
    completed = watch.data(ev.BLOCK_JOB_COMPLETED)
    assert completed["len"] == completed["offset"]
    assert isinstance(completed["len"], int) and completed["len"] > 2 * MIB, "dirty data counted"


async def test_mirror_soft_cancel(
    manager: JobManager, fast_engine: BuiltinEngine, data_dir: Path
) -> None:
    make_image(data_dir / "disk.img", 2 * MIB, DATA)
    watch = await start(
        manager,
        fast_engine,
        "drive-mirror",
        {"job-id": "m1", "device": "disk.img", "target": "m.img", "sync": "full"},
    )
    await watch.until("[m1:READY]")
    await manager.block_job_cancel("m1", force=False)
    seen = await watch.until("m1:null")
    assert_in_order(seen, ["[m1:READY]", "m1:waiting", "[m1:COMPLETED]", "m1:null"])
    assert "[m1:CANCELLED]" not in seen
    assert (data_dir / "m.img").read_bytes() == (data_dir / "disk.img").read_bytes()


async def test_shutdown_cancels_a_running_mirror(
    fast_engine: BuiltinEngine, data_dir: Path
) -> None:
    make_image(data_dir / "disk.img", 2 * MIB, DATA)
    jobs = JobManager()
    watch = await start(
        jobs,
        fast_engine,
        "drive-mirror",
        {"job-id": "m1", "device": "disk.img", "target": "m.img", "sync": "full"},
    )
    await watch.until("[m1:READY]")
    await jobs.shutdown(grace=5.0)
    seen = await watch.until("m1:null")
    assert_in_order(seen, ["[m1:READY]", "m1:aborting", "[m1:CANCELLED]", "m1:null"])
    assert not (data_dir / "m.img").exists()
