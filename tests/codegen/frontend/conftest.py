"""Shared fixtures for the front-end tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest


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
