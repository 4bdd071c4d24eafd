"""Fixtures of the attack tests: data and outside directories, engines, a real server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

from qapi_jobs.server.engines.builtin import BuiltinEngine, beneath
from qapi_jobs.server.engines.builtin.paths import DataDir
from qapi_jobs.server.grpc.app import JobsServer, build_server
from qapi_jobs.server.grpc.config import ServerConfig
from qapi_jobs.server.jobs.manager import JobManager
from qapi_jobs.v1 import service_pb2_grpc, watch_pb2_grpc


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


@pytest.fixture
async def channel(server: JobsServer) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(server.address) as open_channel:
        yield open_channel


@pytest.fixture
def stub(channel: grpc.aio.Channel) -> service_pb2_grpc.JobsServiceAsyncStub:
    return service_pb2_grpc.JobsServiceStub(channel)


@pytest.fixture
def watch_stub(channel: grpc.aio.Channel) -> watch_pb2_grpc.WatchServiceAsyncStub:
    return watch_pb2_grpc.WatchServiceStub(channel)
