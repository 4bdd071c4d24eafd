"""Fixtures: an in-process server on an ephemeral localhost port, a channel and stubs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

from qapi_jobs.server.grpc.app import JobsServer
from qapi_jobs.server.grpc.config import ServerConfig, StateConfig
from qapi_jobs.v1 import service_pb2_grpc, watch_pb2_grpc
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
async def channel(server: JobsServer) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(server.address) as open_channel:
        yield open_channel


@pytest.fixture
def stub(channel: grpc.aio.Channel) -> service_pb2_grpc.JobsServiceAsyncStub:
    return service_pb2_grpc.JobsServiceStub(channel)


@pytest.fixture
def watch_stub(channel: grpc.aio.Channel) -> watch_pb2_grpc.WatchServiceAsyncStub:
    return watch_pb2_grpc.WatchServiceStub(channel)


@pytest.fixture
def events(server: JobsServer) -> Events:
    """Every job event of the server from its start."""
    return Events(server.manager.subscribe(0))
