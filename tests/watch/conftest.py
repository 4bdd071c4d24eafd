"""Fixtures for the watch stream tests: a real gRPC server on an ephemeral port."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from qapi_jobs.server.grpc.watch import WatchSettings
from tests.support.watch_rig import Rig, open_rig


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    """The watch servicer (registered with add_to_server) and a client channel."""
    opened = await open_rig(WatchSettings())
    try:
        yield opened
    finally:
        await opened.close()
