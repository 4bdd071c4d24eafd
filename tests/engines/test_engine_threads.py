"""Worker threads are never abandoned by a cancelled job task."""

from __future__ import annotations

import asyncio
import threading

import pytest

from qapi_jobs.server.engines.builtin.threads import run_to_completion
from tests.support.fake_context import FakeContext


async def test_cancelled_wait_lets_the_thread_finish_first() -> None:
    release = threading.Event()
    started = threading.Event()
    finished: list[str] = []

    def blocking_work() -> str:
        started.set()
        release.wait(timeout=30)
        finished.append("done")
        return "result"

    task = asyncio.create_task(run_to_completion(FakeContext(), blocking_work))
    await asyncio.to_thread(started.wait, 30)
    task.cancel()
    for _ in range(20):
        await asyncio.sleep(0)
    assert not task.done(), "the cancellation must wait for the thread"
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert finished == ["done"]


async def test_result_and_errors_pass_through() -> None:
    ctx = FakeContext()
    assert await run_to_completion(ctx, divmod, 7, 2) == (3, 1)
    with pytest.raises(ZeroDivisionError):
        await run_to_completion(ctx, divmod, 1, 0)
