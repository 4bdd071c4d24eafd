"""blockdev-create on the builtin engine: raw files with each preallocation."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from qapi_jobs.server.engines.builtin import BuiltinEngine, sparse
from qapi_jobs.server.engines.builtin.create import CreateDriver
from tests.support.fake_context import FakeContext, Outcome, run_job, wait_job
from tests.support.images import MIB, allocated_bytes, data_ranges


def create_args(filename: str, size: int, preallocation: str | None = None) -> dict[str, object]:
    options: dict[str, object] = {"driver": "raw", "filename": filename, "size": size}
    if preallocation is not None:
        options["preallocation"] = preallocation
    return {"job-id": "c1", "options": options}


async def create(
    engine: BuiltinEngine, filename: str, size: int, preallocation: str | None = None
) -> tuple[FakeContext, str]:
    plan = await engine.prepare("blockdev-create", create_args(filename, size, preallocation))
    ctx = FakeContext("c1")
    outcome = await run_job(plan.driver, ctx)
    assert outcome.error is None
    return ctx, outcome.status


async def test_plan_of_a_create_job(engine: BuiltinEngine) -> None:
    plan = await engine.prepare("blockdev-create", create_args("new.img", MIB))
    assert (plan.job_id, plan.job_type, plan.block_job) == ("c1", "create", False)
    assert (plan.auto_finalize, plan.auto_dismiss) == (True, False)
    assert plan.speed == 0 and not plan.converging
    assert isinstance(plan.driver, CreateDriver)


async def test_preallocation_off_makes_a_sparse_file(engine: BuiltinEngine, data_dir: Path) -> None:
    ctx, status = await create(engine, "off.img", 3 * MIB)
    path = data_dir / "off.img"
    assert status == "completed"
    assert path.stat().st_size == 3 * MIB
    assert allocated_bytes(path) == 0
    assert data_ranges(path) == []
    assert (ctx.current, ctx.total) == (3 * MIB, 3 * MIB)


async def test_preallocation_defaults_to_off(engine: BuiltinEngine, data_dir: Path) -> None:
    await create(engine, "default.img", MIB)
    assert allocated_bytes(data_dir / "default.img") == 0


async def test_preallocation_falloc_reserves_every_block(
    engine: BuiltinEngine, data_dir: Path
) -> None:
    ctx, status = await create(engine, "falloc.img", 2 * MIB, "falloc")
    path = data_dir / "falloc.img"
    assert status == "completed"
    assert path.stat().st_size == 2 * MIB
    assert allocated_bytes(path) >= 2 * MIB
    assert path.read_bytes() == bytes(2 * MIB)
    assert (ctx.current, ctx.total) == (2 * MIB, 2 * MIB)


async def test_preallocation_full_writes_zeros_in_chunks(
    engine: BuiltinEngine, data_dir: Path
) -> None:
    size = 2 * MIB + 4096
    pauses: list[int] = []
    plan = await engine.prepare("blockdev-create", create_args("full.img", size, "full"))
    ctx = FakeContext("c1")
    ctx.at_pause_point = lambda c: pauses.append(c.current)
    outcome = await run_job(plan.driver, ctx)
    path = data_dir / "full.img"
    assert outcome.status == "completed"
    assert path.stat().st_size == size
    assert data_ranges(path) == [(0, size)]
    assert allocated_bytes(path) >= size
    assert path.read_bytes() == bytes(size)
    assert (ctx.current, ctx.total) == (size, size)
    assert len(pauses) > 10 and pauses == sorted(pauses)


async def test_zero_sized_image(engine: BuiltinEngine, data_dir: Path) -> None:
    for mode in ("off", "falloc", "full"):
        ctx, status = await create(engine, f"empty-{mode}.img", 0, mode)
        assert status == "completed"
        assert (data_dir / f"empty-{mode}.img").stat().st_size == 0
        assert (ctx.current, ctx.total) == (0, 0)


async def test_pause_during_full_preallocation(engine: BuiltinEngine, data_dir: Path) -> None:
    size = 2 * MIB
    plan = await engine.prepare("blockdev-create", create_args("p.img", size, "full"))
    ctx = FakeContext("c1")

    def pause_halfway(c: FakeContext) -> None:
        if c.current >= size // 2 and c.at_pause_point is not None:
            c.at_pause_point = None
            c.request_pause()

    ctx.at_pause_point = pause_halfway
    task = asyncio.create_task(run_job(plan.driver, ctx))
    await ctx.wait_until(lambda: ctx.parked)
    held = ctx.current
    assert size // 2 <= held < size
    assert (data_dir / "p.img").stat().st_size == held
    ctx.resume()
    assert (await wait_job(task)).status == "completed"
    assert (data_dir / "p.img").read_bytes() == bytes(size)


async def test_cancel_removes_the_half_made_file(engine: BuiltinEngine, data_dir: Path) -> None:
    plan = await engine.prepare("blockdev-create", create_args("gone.img", 2 * MIB, "full"))
    ctx = FakeContext("c1")
    ctx.at_pause_point = lambda c: c.cancel() if c.current >= MIB else None
    outcome = await run_job(plan.driver, ctx)
    assert outcome.status == "cancelled"
    assert not (data_dir / "gone.img").exists()
    assert ctx.current < ctx.total


async def test_file_appearing_after_prepare_fails_the_job_and_survives(
    engine: BuiltinEngine, data_dir: Path
) -> None:
    plan = await engine.prepare("blockdev-create", create_args("race.img", MIB))
    (data_dir / "race.img").write_bytes(b"precious")
    outcome = await run_job(plan.driver, FakeContext("c1"))
    assert outcome == Outcome("failed", "Could not create 'race.img': File exists")
    assert (data_dir / "race.img").read_bytes() == b"precious"


async def test_failed_full_preallocation_leaves_nothing(
    engine: BuiltinEngine, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def disk_full(fd: int, offset: int, length: int, zeros: memoryview) -> None:
        if offset >= MIB:
            raise OSError(28, "No space left on device")
        original(fd, offset, length, zeros)

    original = sparse.write_zeros
    monkeypatch.setattr(sparse, "write_zeros", disk_full)
    plan = await engine.prepare("blockdev-create", create_args("full.img", 2 * MIB, "full"))
    outcome = await run_job(plan.driver, FakeContext("c1"))
    assert outcome.status == "failed"
    assert outcome.error == "Could not write zeros for preallocation: No space left on device"
    assert not (data_dir / "full.img").exists()


async def test_image_in_a_subdirectory(engine: BuiltinEngine, data_dir: Path) -> None:
    (data_dir / "vm1").mkdir()
    _, status = await create(engine, "vm1/disk.img", MIB)
    assert status == "completed"
    assert (data_dir / "vm1" / "disk.img").stat().st_size == MIB
