"""Fixtures: an in-process server on an ephemeral localhost port, a channel and stubs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

from qapi_jobs.server.engines.builtin import BuiltinEngine
from qapi_jobs.server.grpc.app import JobsServer, build_server
from qapi_jobs.server.grpc.config import ServerConfig, StateConfig
from qapi_jobs.v1 import service_pb2_grpc, watch_pb2_grpc

from .support import KIB, Events

TEST_CHUNK = 64 * KIB
"""Small chunks, so that files of a few MiB take many steps (and speed limits bite)."""


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    return path


@pytest.fixture
def config(data_dir: Path) -> ServerConfig:
    # In memory: these tests check the job semantics; tests/durable checks the store.
    return ServerConfig(
        data_dir=data_dir,
        listen=("127.0.0.1:0",),
        shutdown_grace=2.0,
        state=StateConfig(durable=False),
    )


@pytest.fixture
async def server(config: ServerConfig, data_dir: Path) -> AsyncIterator[JobsServer]:
    engine = BuiltinEngine(data_dir, chunk_size=TEST_CHUNK, mirror_poll_interval=0.01)
    jobs_server = await build_server(config, engine=engine)
    await jobs_server.start()
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
