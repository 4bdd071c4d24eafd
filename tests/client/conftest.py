"""Fixtures: clients of a real server (in a thread, or on the test's own event loop)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from qapi_jobs.client import AsyncJobsClient, JobsClient
from tests.support.servers import ThreadedServer, server_config, start_server


@pytest.fixture
def client(threaded_server: ThreadedServer) -> Iterator[JobsClient]:
    """A synchronous client of the module's server."""
    with JobsClient(threaded_server.address, timeout=10) as jobs_client:
        yield jobs_client


@pytest.fixture
async def aio_address(data_dir: Path) -> AsyncIterator[str]:
    """An in-process server on the test's own event loop."""
    server = await start_server(server_config(data_dir))
    try:
        yield server.address
    finally:
        await server.stop()


@pytest.fixture
async def aio_client(aio_address: str) -> AsyncIterator[AsyncJobsClient]:
    """An asyncio client of the test's server."""
    async with AsyncJobsClient(aio_address, timeout=10) as jobs_client:
        yield jobs_client
