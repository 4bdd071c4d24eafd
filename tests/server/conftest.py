"""Fixtures: an in-process server on an ephemeral localhost port and its events."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from qapi_jobs.server.grpc.app import JobsServer
from qapi_jobs.server.grpc.config import ServerConfig, StateConfig
from tests.support.events import Events
from tests.support.servers import server_config, start_server


@pytest.fixture
def config(data_dir: Path) -> ServerConfig:
    # In memory: these tests check the job semantics; tests/durable checks the store.
    return server_config(data_dir, shutdown_grace=2.0, state=StateConfig(durable=False))


@pytest.fixture
async def server(config: ServerConfig) -> AsyncIterator[JobsServer]:
    jobs_server = await start_server(config)
    try:
        yield jobs_server
    finally:
        await jobs_server.stop()
    assert jobs_server.manager.query_jobs() == []


@pytest.fixture
def events(server: JobsServer) -> Events:
    """Every job event of the server from its start."""
    return Events(server.manager.subscribe(0))
