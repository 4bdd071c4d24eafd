"""Fixtures of the attack tests: a data directory, a directory outside it, an engine."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from qapi_jobs.server.engines.builtin import BuiltinEngine, beneath
from qapi_jobs.server.engines.builtin.paths import DataDir
from qapi_jobs.server.jobs.manager import JobManager


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    return path


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    path = tmp_path / "outside"
    path.mkdir()
    return path


@pytest.fixture(params=[True, False], ids=["openat2", "walk"])
def use_openat2(request: pytest.FixtureRequest) -> bool:
    if request.param and not beneath.OPENAT2_AVAILABLE:
        pytest.skip("this kernel has no openat2")
    return bool(request.param)


@pytest.fixture
def engine(data_dir: Path, use_openat2: bool) -> BuiltinEngine:
    return BuiltinEngine(
        DataDir(data_dir, use_openat2=use_openat2),
        chunk_size=64 << 10,
        mirror_poll_interval=0.001,
    )


@pytest.fixture
async def manager() -> AsyncIterator[JobManager]:
    jobs = JobManager()
    yield jobs
    await jobs.shutdown(grace=5.0)
