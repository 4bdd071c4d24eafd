"""Fixtures for the builtin engine's tests (``data_dir`` and ``engine`` are the root's)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from qapi_jobs.server.jobs.manager import JobManager


@pytest.fixture
async def manager() -> AsyncIterator[JobManager]:
    """A real job manager, shut down after the test."""
    jobs = JobManager()
    yield jobs
    await jobs.shutdown(grace=5.0)
