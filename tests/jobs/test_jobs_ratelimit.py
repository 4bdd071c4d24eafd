"""The rate limiter with a fake clock, and rate_limit() inside a running job."""

from __future__ import annotations

import asyncio

import pytest

from qapi_jobs.server.jobs.manager import JobManager
from qapi_jobs.server.jobs.ratelimit import SLICE_SECONDS, RateLimiter
from tests.support.clock import ManualClock
from tests.support.harness import Finish, Harness, RateLimit


def test_unlimited_never_waits() -> None:
    limiter = RateLimiter(clock=ManualClock(1000.0))
    limiter.account(1 << 40)
    assert limiter.delay() == 0.0


def test_one_slice_of_credit_then_the_speed() -> None:
    clock = ManualClock(1000.0)
    limiter = RateLimiter(1000, clock=clock)
    limiter.account(100)  # 0.1 s worth: within the slice of credit
    assert limiter.delay() == 0.0
    limiter.account(100)
    assert limiter.delay() == pytest.approx(0.1)
    clock.now += 0.1
    assert limiter.delay() == 0.0


def test_a_large_first_chunk_is_not_held_back_but_the_next_one_is() -> None:
    clock = ManualClock(1000.0)
    limiter = RateLimiter(1000, clock=clock)
    assert limiter.delay() == 0.0
    limiter.account(5000)
    assert limiter.delay() == pytest.approx(5.0 - SLICE_SECONDS)


def test_long_run_rate_equals_the_speed() -> None:
    clock = ManualClock(1000.0)
    limiter = RateLimiter(2000, clock=clock)
    start = clock.now
    for _ in range(100):
        clock.now += limiter.delay()
        limiter.account(500)
    # the 100th chunk may start once 99 are paid for, one slice early
    assert clock.now - start == pytest.approx(99 * 500 / 2000 - SLICE_SECONDS)


def test_idle_time_is_not_saved_up() -> None:
    clock = ManualClock(1000.0)
    limiter = RateLimiter(1000, clock=clock)
    clock.now += 3600
    limiter.account(300)
    assert limiter.delay() == pytest.approx(0.2)


def test_speed_change_reprices_the_debt() -> None:
    clock = ManualClock(1000.0)
    limiter = RateLimiter(1000, clock=clock)
    limiter.account(1100)
    assert limiter.delay() == pytest.approx(1.0)
    limiter.set_speed(2000)
    assert limiter.delay() == pytest.approx(0.45)
    limiter.set_speed(0)
    assert limiter.delay() == 0.0
    assert limiter.speed == 0
    with pytest.raises(ValueError, match="negative"):
        limiter.set_speed(-1)
    with pytest.raises(ValueError, match="negative"):
        limiter.account(-1)


async def test_set_speed_wakes_a_throttled_job() -> None:
    clock = ManualClock(1000.0)
    h = Harness(JobManager(monotonic=clock))
    driver = await h.start("j", speed=1)
    driver.feed(RateLimit(10_000), RateLimit(10_000), Finish())
    await h.settle()
    assert driver.rate_limited == 10_000  # the second chunk waits ~10000 s
    assert h.manager.query_block_jobs()[0].busy is False
    await h.manager.block_job_set_speed("j", 0)
    await h.settle()
    assert driver.rate_limited == 20_000
    assert h.log()[-1] == "j:null"
    await h.run(h.manager.shutdown())


async def test_raising_the_speed_recomputes_the_wait() -> None:
    clock = ManualClock(1000.0)
    h = Harness(JobManager(monotonic=clock))
    driver = await h.start("j", speed=1000)
    driver.feed(RateLimit(10_000), RateLimit(10))
    await h.settle()
    assert driver.rate_limited == 10_000
    await h.manager.block_job_set_speed("j", 10_000_000)  # debt now ~1 ms, less than a slice
    await h.settle()
    assert driver.rate_limited == 10_010
    await h.run(h.manager.shutdown())


async def test_pause_interrupts_a_throttled_wait() -> None:
    clock = ManualClock(1000.0)
    h = Harness(JobManager(monotonic=clock))
    driver = await h.start("j", speed=1)
    driver.feed(RateLimit(1000), RateLimit(1))
    await h.settle()
    await h.manager.job_pause("j")
    await h.settle()
    assert h.log()[-1] == "j:paused"
    await h.run(h.manager.job_cancel("j"))
    assert h.log()[-4:] == ["j:aborting", "[j:CANCELLED]", "j:concluded", "j:null"]
    await h.run(h.manager.shutdown())
    assert not [t for t in asyncio.all_tasks() if t.get_name().startswith("job:")]
