"""Fixtures of the attack tests: engines both ways of opening files, a manager, a real server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from qapi_jobs.server.engines.builtin import BuiltinEngine, beneath
from qapi_jobs.server.engines.builtin.paths import DataDir
from qapi_jobs.server.grpc.app import JobsServer, build_server
from qapi_jobs.server.grpc.config import ServerConfig
from qapi_jobs.server.jobs.manager import JobManager


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


@pytest.fixture
def config(data_dir: Path) -> ServerConfig:
    return ServerConfig(data_dir=data_dir, listen=("127.0.0.1:0",), shutdown_grace=2.0)


@pytest.fixture
async def server(config: ServerConfig) -> AsyncIterator[JobsServer]:
    jobs_server = await build_server(config)
    await jobs_server.start()
    try:
        yield jobs_server
    finally:
        await jobs_server.stop()
