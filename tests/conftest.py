"""Fixtures every test folder may use; the helpers behind them are in ``tests/support``."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import grpc
import pytest

from qapi_jobs.codegen.frontend import load_schema
from qapi_jobs.codegen.model import Schema
from qapi_jobs.server.engines.builtin import BuiltinEngine
from qapi_jobs.server.grpc.app import JobsServer
from qapi_jobs.v1 import service_pb2_grpc, watch_pb2_grpc
from tests.support.images import MIB, make_dense
from tests.support.paths import QEMU_SCHEMA
from tests.support.pki import Pki, make_pki
from tests.support.servers import ThreadedServer, make_engine

_ids = itertools.count(1)


@pytest.fixture
def job_id() -> str:
    """A job id no other test of the session uses."""
    return f"job{next(_ids)}"


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """An empty data directory of the test's own."""
    path = tmp_path / "data"
    path.mkdir()
    return path


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A directory next to the data directory, holding a file a client must never reach."""
    path = tmp_path / "outside"
    path.mkdir()
    make_dense(path / "secret.img", MIB)
    return path


@pytest.fixture
def engine(data_dir: Path) -> BuiltinEngine:
    """The builtin engine on the test's data directory."""
    return make_engine(data_dir)


@pytest.fixture(scope="module")
def threaded_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedServer]:
    """A real server (in a thread) shared by a test module, for synchronous callers."""
    server = ThreadedServer(tmp_path_factory.mktemp("data")).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A throwaway CA with a server and a client certificate."""
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="session")
def qemu_schema() -> Schema:
    """QEMU's whole schema, through the translator's front end, once per session."""
    if not QEMU_SCHEMA.exists():
        pytest.fail(f"{QEMU_SCHEMA} is missing; it is vendored test data (tests/data/README.md)")
    return load_schema(QEMU_SCHEMA)


@pytest.fixture
async def channel(server: JobsServer) -> AsyncIterator[grpc.aio.Channel]:
    """A plaintext channel to the folder's ``server`` fixture."""
    async with grpc.aio.insecure_channel(server.address) as open_channel:
        yield open_channel


@pytest.fixture
def stub(channel: grpc.aio.Channel) -> service_pb2_grpc.JobsServiceAsyncStub:
    """A JobsService stub on ``channel``."""
    return service_pb2_grpc.JobsServiceStub(channel)


@pytest.fixture
def watch_stub(channel: grpc.aio.Channel) -> watch_pb2_grpc.WatchServiceAsyncStub:
    """A WatchService stub on ``channel``."""
    return watch_pb2_grpc.WatchServiceStub(channel)
