"""Fixtures for the builtin engine's tests: a data directory and an engine on it."""

from __future__ import annotations

from pathlib import Path

import pytest

from qapi_jobs.server.engines.builtin import BuiltinEngine

from .images import KIB

TEST_CHUNK = 64 * KIB
"""Small chunks, so that files of a few MiB take many steps."""


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    return path


@pytest.fixture
def engine(data_dir: Path) -> BuiltinEngine:
    return BuiltinEngine(data_dir, chunk_size=TEST_CHUNK)
