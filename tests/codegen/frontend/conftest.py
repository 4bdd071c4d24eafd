"""Shared fixtures for the front-end tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from qapi_jobs.codegen.frontend import load_schema
from qapi_jobs.codegen.model import Schema

DATA = Path(__file__).resolve().parents[2] / "data"
QEMU_ROOT = DATA / "qemu-10.2.50" / "qapi" / "qapi-schema.json"


@pytest.fixture(scope="session")
def qemu_schema() -> Schema:
    """QEMU's whole current schema, parsed once per session."""
    if not QEMU_ROOT.exists():
        pytest.fail(f"{QEMU_ROOT} is missing; it is vendored test data (tests/data/README.md)")
    return load_schema(QEMU_ROOT)


@pytest.fixture
def write(tmp_path: Path) -> Callable[..., Path]:
    """Write schema files under tmp_path; returns the path of the first one."""

    def _write(text: str, name: str = "schema.json", files: dict[str, str] | None = None) -> Path:
        for rel, content in {name: text, **(files or {})}.items():
            path = tmp_path / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content, encoding="utf-8")
        return tmp_path / name

    return _write
