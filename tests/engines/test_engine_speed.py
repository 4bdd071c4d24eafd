"""The speed limit as QEMU applies it: every byte of progress charged, in steps of one slice.

A job runs against a context whose rate limiter reads a simulated clock,
which moves forward by exactly the delays the limiter asks for; so the
time a copy would take, and when its progress would advance, are read off
that clock instead of being measured.
"""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path
from typing import Any

from qapi_jobs.server.engines.builtin import BuiltinEngine
from qapi_jobs.server.jobs.ratelimit import SLICE_SECONDS, RateLimiter
from tests.support.clock import ManualClock
from tests.support.fake_context import FakeContext, run_job
from tests.support.images import KIB, MIB, make_dense, make_image


class ThrottledContext(FakeContext):
    """A FakeContext whose rate_limit() sleeps on a simulated clock, as the manager's does."""

    def __init__(self, speed: int) -> None:
        super().__init__("job0", speed=speed)
        self.clock = ManualClock()
        self.limiter = RateLimiter(speed, clock=self.clock)
        self.timeline: list[tuple[float, int]] = [(0.0, 0)]
        """(simulated time, progress) after each progress step."""

    async def rate_limit(self, nbytes: int) -> None:
        await super().rate_limit(nbytes)
        self.clock.now += self.limiter.delay()
        self.limiter.account(nbytes)

    def add_progress(self, done: int) -> None:
        super().add_progress(done)
        self.timeline.append((self.clock.now, self.current))

    def longest_wait_for_progress(self) -> float:
        """The longest simulated time between two progress steps."""
        times = [time for time, _ in self.timeline]
        return max(later - earlier for earlier, later in pairwise(times))


async def run(engine: BuiltinEngine, command: str, ctx: FakeContext, **members: Any) -> None:
    arguments = {"device": "disk.img", "target": "copy.img", "sync": "full", **members}
    spec = await engine.prepare(command, arguments)
    ctx.complete()  # a mirror finishes as soon as it is READY
    assert (await run_job(spec.driver, ctx)).status == "completed"


async def test_a_sparse_image_takes_as_long_as_its_size_says(data_dir: Path) -> None:
    size = 64 * MIB
    make_image(data_dir / "disk.img", size, [(0, MIB)])
    ctx = ThrottledContext(8 * MIB)
    await run(BuiltinEngine(data_dir), "drive-backup", ctx)
    assert sum(ctx.rate_limited) == ctx.current == size
    # 64 MiB at 8 MiB/s is 8 s; the last step may start one slice early.
    assert abs(ctx.clock.now - (8.0 - SLICE_SECONDS)) < 0.05


async def test_slow_backup_progress_advances_every_slice(data_dir: Path) -> None:
    make_dense(data_dir / "disk.img", 4 * MIB)
    ctx = ThrottledContext(MIB)
    await run(BuiltinEngine(data_dir), "drive-backup", ctx)
    assert ctx.current == 4 * MIB
    # The first step is one slice too, not a whole 4 MiB chunk.
    assert ctx.timeline[1][1] <= MIB * SLICE_SECONDS
    assert ctx.longest_wait_for_progress() <= 1.0
    assert abs(ctx.clock.now - (4.0 - SLICE_SECONDS)) < 0.05


async def test_a_very_slow_backup_still_moves_every_second(data_dir: Path) -> None:
    make_dense(data_dir / "disk.img", 64 * KIB)
    ctx = ThrottledContext(16 * KIB)
    await run(BuiltinEngine(data_dir), "drive-backup", ctx)
    assert ctx.longest_wait_for_progress() <= 1.0
    assert all(step % 512 == 0 for step in ctx.rate_limited)


async def test_mirror_steps_are_whole_granules(data_dir: Path) -> None:
    make_dense(data_dir / "disk.img", MIB)
    ctx = ThrottledContext(MIB)
    await run(BuiltinEngine(data_dir), "drive-mirror", ctx, granularity=64 * KIB)
    # One slice of 1 MiB/s is 102.4 KiB: one 64 KiB granule per step.
    assert ctx.rate_limited == [64 * KIB] * 16
    assert ctx.longest_wait_for_progress() <= 1.0


async def test_mirror_never_moves_more_than_buf_size(data_dir: Path) -> None:
    make_dense(data_dir / "disk.img", MIB)
    ctx = ThrottledContext(MIB)
    await run(
        BuiltinEngine(data_dir), "drive-mirror", ctx, granularity=4 * KIB, **{"buf-size": 32 * KIB}
    )
    assert ctx.rate_limited == [32 * KIB] * 32


async def test_unlimited_copies_keep_whole_chunks(data_dir: Path) -> None:
    make_dense(data_dir / "disk.img", 2 * MIB)
    ctx = ThrottledContext(0)
    await run(BuiltinEngine(data_dir, chunk_size=MIB), "drive-backup", ctx)
    assert ctx.rate_limited == [MIB, MIB]
    assert ctx.clock.now == 0.0
