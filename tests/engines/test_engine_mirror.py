"""drive-mirror on the builtin engine: copy, READY, follow writes, complete or cancel."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from qapi_jobs.server.engines.builtin import BuiltinEngine
from qapi_jobs.server.engines.builtin.mirror import MirrorDriver
from tests.support.fake_context import FakeContext, Outcome, run_job, wait_job
from tests.support.images import KIB, MIB, data_ranges, make_dense, make_image, overwrite

SIZE = 2 * MIB
DATA = [(0, 128 * KIB), (MIB, 64 * KIB)]


def mirror_args(**extra: Any) -> dict[str, Any]:
    return {"device": "disk.img", "target": "mirror.img", "sync": "full", **extra}


class MirrorRun:
    """A mirror job running in the background under a FakeContext."""

    def __init__(self, driver: MirrorDriver, ctx: FakeContext) -> None:
        self.driver = driver
        self.ctx = ctx
        self.task = asyncio.create_task(run_job(driver, ctx))

    @classmethod
    async def start(cls, engine: BuiltinEngine, **extra: Any) -> MirrorRun:
        plan = await engine.prepare("drive-mirror", mirror_args(**extra))
        assert isinstance(plan.driver, MirrorDriver)
        return cls(plan.driver, FakeContext(plan.job_id))

    async def ready(self) -> None:
        await self.ctx.wait_until(lambda: self.ctx.is_ready or self.task.done())
        assert not self.task.done(), self.task.result()

    async def outcome(self) -> Outcome:
        return await wait_job(self.task)


async def test_plan_of_a_mirror(engine: BuiltinEngine, data_dir: Path) -> None:
    make_dense(data_dir / "disk.img", 64 * KIB)
    plan = await engine.prepare("drive-mirror", mirror_args(granularity=4096, **{"buf-size": 0}))
    assert (plan.job_id, plan.job_type, plan.block_job, plan.converging) == (
        "disk.img",
        "mirror",
        True,
        True,
    )
    assert isinstance(plan.driver, MirrorDriver)
    assert plan.driver.granularity == 4096
    default = await engine.prepare("drive-mirror", mirror_args(target="m2.img"))
    assert isinstance(default.driver, MirrorDriver)
    assert default.driver.granularity == 64 * KIB
    tiny = await engine.prepare("drive-mirror", mirror_args(target="m3.img", **{"buf-size": 1000}))
    assert isinstance(tiny.driver, MirrorDriver)
    assert tiny.driver.spec.chunk_size == 64 * KIB, "never less than one granule"


async def test_ready_after_the_copy_then_complete(engine: BuiltinEngine, data_dir: Path) -> None:
    content = make_image(data_dir / "disk.img", SIZE, DATA)
    run = await MirrorRun.start(engine)
    await run.ready()
    assert run.ctx.progress_at_ready == (SIZE, SIZE)
    assert (data_dir / "mirror.img").read_bytes() == content
    assert data_ranges(data_dir / "mirror.img") == DATA
    run.ctx.complete()
    assert await run.outcome() == Outcome("completed")
    assert run.ctx.ready_count == 1
    assert (data_dir / "mirror.img").read_bytes() == content


async def test_writes_while_ready_are_carried_over(engine: BuiltinEngine, data_dir: Path) -> None:
    source = data_dir / "disk.img"
    make_image(source, SIZE, DATA)
    run = await MirrorRun.start(engine, granularity=4096)
    await run.ready()
    total = run.ctx.total

    overwrite(source, 1000, b"\xab" * 100)
    run.ctx.poke()
    await run.ctx.wait_until(lambda: run.ctx.current > total)
    assert run.ctx.current == run.ctx.total == total + 4096, "one granule was dirty"
    assert (data_dir / "mirror.img").read_bytes() == source.read_bytes()

    # A write just before job-complete is caught by the final pass.
    overwrite(source, SIZE - 10, b"tail write")
    overwrite(source, MIB + 300 * KIB, b"into a hole")
    run.ctx.complete()
    assert await run.outcome() == Outcome("completed")
    assert (data_dir / "mirror.img").read_bytes() == source.read_bytes()
    assert run.ctx.current == run.ctx.total


async def test_zeroed_source_range_becomes_a_hole(engine: BuiltinEngine, data_dir: Path) -> None:
    source = data_dir / "disk.img"
    make_image(source, SIZE, DATA)
    run = await MirrorRun.start(engine)
    await run.ready()
    overwrite(source, 0, bytes(128 * KIB))
    run.ctx.complete()
    assert (await run.outcome()).status == "completed"
    assert (data_dir / "mirror.img").read_bytes() == source.read_bytes()
    assert data_ranges(data_dir / "mirror.img") == DATA[1:]


async def test_soft_cancel_keeps_the_last_caught_up_copy(
    engine: BuiltinEngine, data_dir: Path
) -> None:
    source = data_dir / "disk.img"
    content = make_image(source, SIZE, DATA)
    run = await MirrorRun.start(engine)
    await run.ready()
    overwrite(source, 0, b"late write")
    run.ctx.cancel(force=False)
    assert await run.outcome() == Outcome("completed")
    assert (data_dir / "mirror.img").read_bytes() == content


async def test_hard_cancel_while_ready_removes_the_created_target(
    engine: BuiltinEngine, data_dir: Path
) -> None:
    make_image(data_dir / "disk.img", SIZE, DATA)
    run = await MirrorRun.start(engine)
    await run.ready()
    run.ctx.cancel(force=True)
    assert (await run.outcome()).status == "cancelled"
    assert not (data_dir / "mirror.img").exists()


async def test_cancel_during_the_initial_copy(engine: BuiltinEngine, data_dir: Path) -> None:
    make_dense(data_dir / "disk.img", SIZE)
    plan = await engine.prepare("drive-mirror", mirror_args())
    ctx = FakeContext("m1")
    # A soft cancel before READY acts as a hard one.
    ctx.at_pause_point = lambda c: c.cancel(force=False) if c.current >= MIB else None
    assert (await run_job(plan.driver, ctx)).status == "cancelled"
    assert ctx.ready_count == 0
    assert not (data_dir / "mirror.img").exists()


async def test_pause_while_ready(engine: BuiltinEngine, data_dir: Path) -> None:
    source = data_dir / "disk.img"
    make_image(source, SIZE, DATA)
    run = await MirrorRun.start(engine)
    await run.ready()
    run.ctx.request_pause()
    await run.ctx.wait_until(lambda: run.ctx.parked)
    overwrite(source, 5, b"written while paused")
    run.ctx.resume()
    run.ctx.complete()
    assert (await run.outcome()).status == "completed"
    assert (data_dir / "mirror.img").read_bytes() == source.read_bytes()


async def test_existing_target_is_made_equal(engine: BuiltinEngine, data_dir: Path) -> None:
    source = data_dir / "disk.img"
    content = make_image(source, SIZE, DATA)
    make_dense(data_dir / "mirror.img", SIZE, seed=9)
    run = await MirrorRun.start(engine, mode="existing")
    await run.ready()
    assert (data_dir / "mirror.img").read_bytes() == content
    assert data_ranges(data_dir / "mirror.img") == DATA
    run.ctx.cancel(force=True)
    assert (await run.outcome()).status == "cancelled"
    assert (data_dir / "mirror.img").exists(), "an existing target is never removed"


async def test_smaller_existing_target_fails_once_running(
    engine: BuiltinEngine, data_dir: Path
) -> None:
    make_dense(data_dir / "disk.img", SIZE)
    make_dense(data_dir / "mirror.img", SIZE - 512)
    plan = await engine.prepare("drive-mirror", mirror_args(mode="existing"))
    outcome = await run_job(plan.driver, FakeContext("m1"))
    assert outcome == Outcome("failed", "Source and target image have different sizes")


async def test_source_resized_while_ready_fails(engine: BuiltinEngine, data_dir: Path) -> None:
    source = data_dir / "disk.img"
    make_image(source, SIZE, DATA)
    run = await MirrorRun.start(engine)
    await run.ready()
    os.truncate(source, SIZE + MIB)
    run.ctx.poke()
    outcome = await run.outcome()
    assert outcome == Outcome(
        "failed",
        "Source and target image have different sizes: 'disk.img' was resized from "
        f"{SIZE} to {SIZE + MIB} bytes while being mirrored",
    )
    assert not (data_dir / "mirror.img").exists()


async def test_source_replaced_while_ready_fails(engine: BuiltinEngine, data_dir: Path) -> None:
    source = data_dir / "disk.img"
    make_image(source, SIZE, DATA)
    run = await MirrorRun.start(engine)
    await run.ready()
    make_dense(data_dir / "new.img", SIZE)
    os.replace(data_dir / "new.img", source)
    run.ctx.poke()
    outcome = await run.outcome()
    assert outcome.status == "failed"
    assert outcome.error == (
        "Source image 'disk.img' was deleted or replaced by another file while being mirrored"
    )


async def test_speed_limit_applies_to_dirty_data(engine: BuiltinEngine, data_dir: Path) -> None:
    source = data_dir / "disk.img"
    make_image(source, SIZE, DATA)
    run = await MirrorRun.start(engine, granularity=4096, **{"buf-size": 16 * KIB})
    await run.ready()
    # The first copy is charged every byte, holes included; later passes the dirty data.
    assert sum(run.ctx.rate_limited) == SIZE
    overwrite(source, 0, b"\x01" * 8192)
    run.ctx.complete()
    assert (await run.outcome()).status == "completed"
    assert sum(run.ctx.rate_limited) == SIZE + 8192
