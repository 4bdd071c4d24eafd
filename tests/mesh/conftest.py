"""Fixtures: a server process and nginx in front of it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.servers import ServerProcess, free_port

from .proxy import Nginx

PROXY_READ_TIMEOUT = "1s"
"""nginx's grpc_read_timeout in the tests: far below the default heartbeat interval."""
HEARTBEAT = "0.3"
"""The server's --heartbeat-interval behind the proxy: well under the read timeout."""


@pytest.fixture
async def backend(data_dir: Path) -> AsyncIterator[ServerProcess]:
    server = ServerProcess(data_dir, free_port(), ["--heartbeat-interval", HEARTBEAT])
    await asyncio.to_thread(server.start)
    try:
        yield server
    finally:
        await asyncio.to_thread(server.stop)


@pytest.fixture
async def nginx(tmp_path: Path, backend: ServerProcess) -> AsyncIterator[Nginx]:
    directory = tmp_path / "nginx"
    directory.mkdir()
    proxy = Nginx(directory, backend.address, PROXY_READ_TIMEOUT)
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.stop()
