"""drive-backup on the builtin engine: sparse-aware full copies."""

from __future__ import annotations

import asyncio
import errno
import os
from pathlib import Path
from typing import Any

import pytest

from qapi_jobs.server.engines.builtin import BuiltinEngine
from qapi_jobs.server.engines.builtin.backup import BackupDriver
from qapi_jobs.server.jobs.driver import IoErrorDecision, IoOperation
from qapi_jobs.server.jobs.errors import ErrorKind, JobError
from qapi_jobs.server.jobs.policy import BlockdevOnError
from tests.support.fake_context import FakeContext, Outcome, run_job, wait_job
from tests.support.images import KIB, MIB, allocated_bytes, data_ranges, make_dense, make_image
from tests.support.servers import TEST_CHUNK

SPARSE_DATA = [(0, 256 * KIB), (MIB, 192 * KIB), (3 * MIB - 64 * KIB, 64 * KIB)]
"""Data at the start, in the middle and at the very end of a 3 MiB image."""


def backup_args(**extra: Any) -> dict[str, Any]:
    return {"device": "disk.img", "target": "copy.img", "sync": "full", **extra}


async def backup(engine: BuiltinEngine, ctx: FakeContext | None = None, **extra: Any) -> Outcome:
    plan = await engine.prepare("drive-backup", backup_args(**extra))
    return await run_job(plan.driver, ctx or FakeContext(plan.job_id))


async def test_plan_of_a_backup(engine: BuiltinEngine, data_dir: Path) -> None:
    make_dense(data_dir / "disk.img", 64 * KIB)
    plan = await engine.prepare("drive-backup", backup_args())
    assert (plan.job_id, plan.job_type, plan.block_job, plan.converging) == (
        "disk.img",
        "backup",
        True,
        False,
    )
    assert (plan.auto_finalize, plan.auto_dismiss, plan.speed) == (True, True, 0)
    assert plan.on_source_error is plan.on_target_error is BlockdevOnError.REPORT
    assert isinstance(plan.driver, BackupDriver)
    assert not (data_dir / "copy.img").exists(), "prepare must not touch the disk"

    plan = await engine.prepare(
        "drive-backup",
        backup_args(
            **{
                "job-id": "b1",
                "speed": 1000,
                "on-source-error": "ignore",
                "on-target-error": "stop",
                "auto-finalize": False,
                "auto-dismiss": False,
                "format": "raw",
            }
        ),
    )
    assert (plan.job_id, plan.speed, plan.auto_finalize, plan.auto_dismiss) == (
        "b1",
        1000,
        False,
        False,
    )
    assert plan.on_source_error is BlockdevOnError.IGNORE
    assert plan.on_target_error is BlockdevOnError.STOP
    spec = plan
    assert (spec.job_id, spec.driver, spec.speed) == ("b1", plan.driver, 1000)
    assert (spec.on_source_error, spec.on_target_error) == (
        BlockdevOnError.IGNORE,
        BlockdevOnError.STOP,
    )
    assert (spec.auto_finalize, spec.auto_dismiss) == (False, False)


async def test_sparse_source_keeps_its_holes(engine: BuiltinEngine, data_dir: Path) -> None:
    size = 3 * MIB
    content = make_image(data_dir / "disk.img", size, SPARSE_DATA)
    ctx = FakeContext("b1")
    outcome = await backup(engine, ctx)
    target = data_dir / "copy.img"
    assert outcome.status == "completed"
    assert target.read_bytes() == content
    assert data_ranges(target) == data_ranges(data_dir / "disk.img") == SPARSE_DATA
    assert allocated_bytes(target) == allocated_bytes(data_dir / "disk.img")
    assert (ctx.current, ctx.total) == (size, size)
    # Every byte of progress passes the speed limiter, holes included.
    assert sum(ctx.rate_limited) == size


async def test_dense_source(engine: BuiltinEngine, data_dir: Path) -> None:
    content = make_dense(data_dir / "disk.img", 2 * MIB + 512)
    ctx = FakeContext("b1")
    assert (await backup(engine, ctx)).status == "completed"
    assert (data_dir / "copy.img").read_bytes() == content
    assert ctx.current == ctx.total == len(content)


async def test_empty_source(engine: BuiltinEngine, data_dir: Path) -> None:
    (data_dir / "disk.img").touch()
    ctx = FakeContext("b1")
    assert (await backup(engine, ctx)).status == "completed"
    assert (data_dir / "copy.img").stat().st_size == 0
    assert (ctx.current, ctx.total) == (0, 0)


async def test_copy_without_copy_file_range(
    engine: BuiltinEngine, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_kernel_copy(*args: int) -> int:
        raise OSError(errno.EXDEV, os.strerror(errno.EXDEV))

    monkeypatch.setattr(os, "copy_file_range", no_kernel_copy)
    content = make_image(data_dir / "disk.img", 3 * MIB, SPARSE_DATA)
    assert (await backup(engine)).status == "completed"
    assert (data_dir / "copy.img").read_bytes() == content
    assert data_ranges(data_dir / "copy.img") == SPARSE_DATA


async def test_existing_target_becomes_equal_over_the_source_length(
    engine: BuiltinEngine, data_dir: Path
) -> None:
    size = 3 * MIB
    content = make_image(data_dir / "disk.img", size, SPARSE_DATA)
    old = make_dense(data_dir / "copy.img", size + MIB, seed=7)
    outcome = await backup(engine, mode="existing")
    target = data_dir / "copy.img"
    assert outcome.status == "completed"
    after = target.read_bytes()
    assert after[:size] == content
    assert after[size:] == old[size:], "the part past the source's end is left alone"
    # Where the source has holes, holes were punched into the old data; the
    # source's last extent runs on into the untouched tail.
    last_offset, last_length = SPARSE_DATA[-1]
    assert data_ranges(target) == [*SPARSE_DATA[:-1], (last_offset, last_length + MIB)]


async def test_existing_target_without_hole_punching(
    engine: BuiltinEngine, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from qapi_jobs.server.engines.builtin import sparse

    monkeypatch.setattr(sparse, "punch_hole", lambda fd, offset, length: False)
    content = make_image(data_dir / "disk.img", 3 * MIB, SPARSE_DATA)
    make_dense(data_dir / "copy.img", 3 * MIB, seed=7)
    assert (await backup(engine, mode="existing")).status == "completed"
    assert (data_dir / "copy.img").read_bytes() == content


async def test_existing_target_is_kept_when_the_job_fails(
    engine: BuiltinEngine, data_dir: Path
) -> None:
    make_dense(data_dir / "disk.img", MIB)
    make_dense(data_dir / "copy.img", MIB, seed=5)
    ctx = FakeContext("b1")
    ctx.at_pause_point = lambda c: c.cancel() if c.current >= 256 * KIB else None
    assert (await backup(engine, ctx, mode="existing")).status == "cancelled"
    assert (data_dir / "copy.img").stat().st_size == MIB


async def test_pause_mid_copy(engine: BuiltinEngine, data_dir: Path) -> None:
    content = make_dense(data_dir / "disk.img", 2 * MIB)
    plan = await engine.prepare("drive-backup", backup_args())
    ctx = FakeContext("b1")

    def pause_halfway(c: FakeContext) -> None:
        if c.current >= MIB:
            c.at_pause_point = None
            c.request_pause()

    ctx.at_pause_point = pause_halfway
    task = asyncio.create_task(run_job(plan.driver, ctx))
    await ctx.wait_until(lambda: ctx.parked)
    held = ctx.current
    assert MIB <= held < 2 * MIB
    copied = (data_dir / "copy.img").read_bytes()
    assert copied[:held] == content[:held]
    assert copied[held:] == bytes(2 * MIB - held)
    assert not task.done()
    ctx.resume()
    assert (await wait_job(task)).status == "completed"
    assert (data_dir / "copy.img").read_bytes() == content


async def test_cancel_mid_copy_removes_the_created_target(
    engine: BuiltinEngine, data_dir: Path
) -> None:
    make_image(data_dir / "disk.img", 3 * MIB, SPARSE_DATA)
    ctx = FakeContext("b1")
    ctx.at_pause_point = lambda c: c.cancel() if c.current >= MIB else None
    outcome = await backup(engine, ctx)
    assert outcome.status == "cancelled"
    assert not (data_dir / "copy.img").exists()
    assert MIB <= ctx.current < ctx.total


async def test_abort_never_removes_a_file_that_replaced_the_target(
    engine: BuiltinEngine, data_dir: Path
) -> None:
    make_dense(data_dir / "disk.img", MIB)

    def swap_and_cancel(c: FakeContext) -> None:
        if c.current >= 256 * KIB:
            c.at_pause_point = None
            os.replace(data_dir / "other.img", data_dir / "copy.img")
            c.cancel()

    (data_dir / "other.img").write_bytes(b"someone else's")
    ctx = FakeContext("b1")
    ctx.at_pause_point = swap_and_cancel
    assert (await backup(engine, ctx)).status == "cancelled"
    assert (data_dir / "copy.img").read_bytes() == b"someone else's"


@pytest.mark.parametrize(
    ("decision", "status"),
    [(IoErrorDecision.FAIL, "failed"), (IoErrorDecision.RETRY, "completed")],
)
async def test_write_error_follows_the_policy(
    engine: BuiltinEngine,
    data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    decision: IoErrorDecision,
    status: str,
) -> None:
    content = make_dense(data_dir / "disk.img", MIB)
    failures = fail_nth_call(monkeypatch, "copy_file_range", "pwrite", nth=3)
    ctx = FakeContext("b1", decisions=[decision])
    outcome = await backup(engine, ctx)
    assert failures == [errno.EIO]
    assert [op for op, _ in ctx.io_errors] == [IoOperation.WRITE]
    assert outcome.status == status
    if status == "failed":
        assert outcome.error == "Input/output error"
        assert not (data_dir / "copy.img").exists()
    else:
        assert (data_dir / "copy.img").read_bytes() == content


async def test_ignored_read_error_skips_the_chunk(
    engine: BuiltinEngine, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    content = make_dense(data_dir / "disk.img", MIB)
    fail_nth_call(monkeypatch, "copy_file_range", "preadv", nth=2)
    ctx = FakeContext("b1", decisions=[IoErrorDecision.IGNORE])
    outcome = await backup(engine, ctx)
    assert outcome.status == "completed"
    assert [op for op, _ in ctx.io_errors] == [IoOperation.READ]
    copied = (data_dir / "copy.img").read_bytes()
    skipped = slice(TEST_CHUNK, 2 * TEST_CHUNK)
    assert copied[skipped] == bytes(TEST_CHUNK)
    assert copied[:TEST_CHUNK] + copied[2 * TEST_CHUNK :] == (
        content[:TEST_CHUNK] + content[2 * TEST_CHUNK :]
    )
    assert ctx.current == ctx.total == MIB


def fail_nth_call(
    monkeypatch: pytest.MonkeyPatch, kernel_copy: str, name: str, *, nth: int
) -> list[int]:
    """Make the kernel copy fail with EIO, and ``os.<name>`` fail once, at its nth call.

    A copy_file_range error sends the copier to pread/pwrite, which is
    where the failure's direction shows.
    """
    failures: list[int] = []
    calls = 0
    original = getattr(os, name)

    def kernel_copy_fails(*args: int) -> int:
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    def flaky(*args: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == nth:
            failures.append(errno.EIO)
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        return original(*args)

    monkeypatch.setattr(os, kernel_copy, kernel_copy_fails)
    monkeypatch.setattr(os, name, flaky)
    return failures


async def test_source_shrinking_mid_copy_fails_the_job(
    engine: BuiltinEngine, data_dir: Path
) -> None:
    make_dense(data_dir / "disk.img", 2 * MIB)
    ctx = FakeContext("b1")

    def shrink(c: FakeContext) -> None:
        if c.current >= MIB:
            c.at_pause_point = None
            os.truncate(data_dir / "disk.img", MIB + 1000)

    ctx.at_pause_point = shrink
    outcome = await backup(engine, ctx)
    assert outcome.status == "failed"
    assert outcome.error is not None
    assert outcome.error.startswith("Source and target image have different sizes")
    assert "'disk.img' shrank" in outcome.error
    assert not (data_dir / "copy.img").exists()


async def test_source_unlinked_after_prepare_is_still_copied(
    engine: BuiltinEngine, data_dir: Path
) -> None:
    # The job copies the file it opened when prepared, whatever its name does later.
    content = make_dense(data_dir / "disk.img", MIB)
    plan = await engine.prepare("drive-backup", backup_args())
    (data_dir / "disk.img").unlink()
    outcome = await run_job(plan.driver, FakeContext("b1"))
    assert outcome == Outcome("completed")
    assert (data_dir / "copy.img").read_bytes() == content


async def test_target_appearing_after_prepare_is_not_touched(
    engine: BuiltinEngine, data_dir: Path
) -> None:
    make_dense(data_dir / "disk.img", MIB)
    plan = await engine.prepare("drive-backup", backup_args())
    (data_dir / "copy.img").write_bytes(b"precious")
    outcome = await run_job(plan.driver, FakeContext("b1"))
    assert outcome == Outcome("failed", "Could not create 'copy.img': File exists")
    assert (data_dir / "copy.img").read_bytes() == b"precious"


async def test_target_shrunk_after_prepare(engine: BuiltinEngine, data_dir: Path) -> None:
    make_dense(data_dir / "disk.img", MIB)
    make_dense(data_dir / "copy.img", MIB)
    plan = await engine.prepare("drive-backup", backup_args(mode="existing"))
    os.truncate(data_dir / "copy.img", MIB - 1)
    outcome = await run_job(plan.driver, FakeContext("b1"))
    assert outcome == Outcome("failed", "Source and target image have different sizes")
    assert (data_dir / "copy.img").exists()


async def test_files_of_a_running_job_are_busy(engine: BuiltinEngine, data_dir: Path) -> None:
    make_dense(data_dir / "disk.img", MIB)
    make_dense(data_dir / "other.img", MIB)
    plan = await engine.prepare("drive-backup", backup_args())
    ctx = FakeContext("b1")
    ctx.request_pause()
    task = asyncio.create_task(run_job(plan.driver, ctx))
    await ctx.wait_until(lambda: ctx.parked)

    # Claims are taken when a job is created, after the manager checked its id.
    for args in (
        backup_args(device="other.img", target="disk.img", mode="existing"),
        backup_args(device="other.img", target="copy.img", mode="existing"),
    ):
        precheck = (await engine.prepare("drive-backup", args)).precheck
        assert precheck is not None
        with pytest.raises(JobError) as caught:
            precheck()
        assert caught.value.kind is ErrorKind.WRONG_STATE
        assert caught.value.reason == "NODE_BUSY"
    assert caught.value.message == (
        "Node 'copy.img' is busy: block device is in use by block job: backup"
    )
    ctx.resume()
    assert (await wait_job(task)).status == "completed"
    # Once the job is cleaned up, its files are free again.
    await engine.prepare("drive-backup", backup_args(target="second.img"))


async def test_a_job_started_on_a_busy_file_fails(engine: BuiltinEngine, data_dir: Path) -> None:
    make_dense(data_dir / "disk.img", MIB)
    make_dense(data_dir / "other.img", MIB)
    first = await engine.prepare("drive-backup", backup_args())
    second = await engine.prepare(
        "drive-backup", backup_args(device="other.img", target="disk.img", mode="existing")
    )
    ctx = FakeContext("b1")
    ctx.request_pause()
    task = asyncio.create_task(run_job(first.driver, ctx))
    await ctx.wait_until(lambda: ctx.parked)
    outcome = await run_job(second.driver, FakeContext("b2"))
    assert outcome == Outcome(
        "failed", "Node 'disk.img' is busy: block device is in use by block job: backup"
    )
    ctx.resume()
    assert (await wait_job(task)).status == "completed"
