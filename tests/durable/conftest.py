"""Fixtures for the durable store: small file systems of our own."""

from __future__ import annotations

import contextlib
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.durable.filesystems import Tmpfs


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Tmpfs]:
    """A 2 MiB tmpfs; the test is skipped where mounting is not permitted."""
    mountpoint = tmp_path / f"fs-{uuid.uuid4().hex[:8]}"
    mountpoint.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mountpoint)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {mounted.stderr.strip()}")
    try:
        yield Tmpfs(mountpoint)
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):
            subprocess.run(["umount", "-l", str(mountpoint)], check=True, capture_output=True)
