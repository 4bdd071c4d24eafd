"""Compile the hand-written test protos once per session and import them."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import grpc_tools  # type: ignore[import-untyped]
import pytest
from grpc_tools import protoc

from tests.support.paths import REPO

HERE = Path(__file__).parent
PROTO_ROOT = REPO / "proto"
OPTIONS_PROTO = "qapi_jobs/qapi/v1/options.proto"
TEST_PROTOS = ("transcodetest/v1/transcode.proto", "transcodetest/v1/bad.proto")


def _options_module_missing() -> bool:
    try:
        return importlib.util.find_spec("qapi_jobs.qapi.v1.options_pb2") is None
    except ModuleNotFoundError:
        return True


@pytest.fixture(scope="session")
def compiled_protos(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A directory on sys.path holding the generated ``*_pb2`` modules."""
    out = tmp_path_factory.mktemp("transcoder_pb2")
    sources = [str(HERE / "protos" / name) for name in TEST_PROTOS]
    if _options_module_missing():
        # The project's generated options module is not there yet: build it too.
        sources.append(str(PROTO_ROOT / OPTIONS_PROTO))
    well_known = Path(grpc_tools.__file__).parent / "_proto"
    args = [
        "protoc",
        f"-I{HERE / 'protos'}",
        f"-I{PROTO_ROOT}",
        f"-I{well_known}",
        f"--python_out={out}",
        *sources,
    ]
    if protoc.main(args) != 0:
        pytest.fail(f"protoc failed: {' '.join(args)}")
    sys.path.insert(0, str(out))
    importlib.invalidate_caches()
    yield out
    sys.path.remove(str(out))


@pytest.fixture(scope="session")
def pb(compiled_protos: Path) -> ModuleType:
    """The module generated from transcode.proto."""
    return importlib.import_module("transcodetest.v1.transcode_pb2")


@pytest.fixture(scope="session")
def bad_pb(compiled_protos: Path) -> ModuleType:
    """The module generated from bad.proto."""
    return importlib.import_module("transcodetest.v1.bad_pb2")
