"""Fixtures for the job manager tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from qapi_jobs.server.jobs.manager import JobManager
from tests.support.harness import Harness


@pytest.fixture
async def harness() -> AsyncIterator[Harness]:
    """A fresh manager; fails the test if any task raised unexpectedly; shuts down after."""
    loop = asyncio.get_running_loop()
    failures: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: failures.append(context))
    h = Harness(JobManager())
    try:
        yield h
        await h.run(h.manager.shutdown(grace=5.0))
        assert h.manager.query_jobs() == []
    finally:
        loop.set_exception_handler(previous)
    assert failures == []
    assert h.task_failures() == []
