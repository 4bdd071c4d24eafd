"""Fixtures: a real server (in a thread) and clients for it."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from qapi_jobs.client import AsyncJobsClient, JobsClient
from qapi_jobs.server.engines.builtin import BuiltinEngine
from qapi_jobs.server.grpc.app import build_server
from qapi_jobs.server.grpc.config import ServerConfig

from .servers import TEST_CHUNK, ThreadedServer

_ids = itertools.count(1)


@pytest.fixture
def job_id() -> str:
    """A job id no other test of the session uses."""
    return f"job{next(_ids)}"


@pytest.fixture(scope="module")
def threaded_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedServer]:
    """One server per test module, shared by its synchronous tests."""
    data = tmp_path_factory.mktemp("data")
    server = ThreadedServer(data).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def client(threaded_server: ThreadedServer) -> Iterator[JobsClient]:
    """A synchronous client of the module's server."""
    with JobsClient(threaded_server.address, timeout=10) as jobs_client:
        yield jobs_client


@pytest.fixture
def aio_data(tmp_path: Path) -> Path:
    """The data directory of the test's in-process server."""
    data = tmp_path / "data"
    data.mkdir()
    return data


@pytest.fixture
async def aio_address(aio_data: Path) -> AsyncIterator[str]:
    """An in-process server on the test's own event loop."""
    data = aio_data
    config = ServerConfig(data_dir=data, listen=("127.0.0.1:0",), shutdown_grace=1.0)
    server = await build_server(config, engine=BuiltinEngine(data, chunk_size=TEST_CHUNK))
    await server.start()
    try:
        yield server.address
    finally:
        await server.stop()


@pytest.fixture
async def aio_client(aio_address: str) -> AsyncIterator[AsyncJobsClient]:
    """An asyncio client of the test's server."""
    async with AsyncJobsClient(aio_address, timeout=10) as jobs_client:
        yield jobs_client
