"""Fixtures shared by the backend's tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from qapi_jobs.codegen.backends.proto import generate
from qapi_jobs.codegen.model import Schema
from qapi_jobs.codegen.protoc import compile_python

from .tools import QEMU_PACKAGE


@pytest.fixture(scope="session")
def qemu_tree(qemu_schema: Schema, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """QEMU's schema translated and compiled to Python once per session."""
    root = tmp_path_factory.mktemp("qemu")
    generate(qemu_schema, root, package=QEMU_PACKAGE, service="QmpService")
    compile_python(root)
    return root
