"""Small file systems of a test's own, to make a data directory read-only or full."""

from __future__ import annotations

import subprocess
from pathlib import Path


class Tmpfs:
    """A tmpfs of a fixed size mounted for one test (needs root and mount)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def remount(self, options: str) -> None:
        """Change the mount options, e.g. ``ro`` or ``rw``."""
        subprocess.run(["mount", "-o", f"remount,{options}", str(self.path)], check=True)

    def fill(self) -> Path:
        """Write a file until the file system is full; returns it (unlink it to make room)."""
        filler = self.path / "filler"
        with filler.open("wb") as file:
            try:
                while True:
                    file.write(b"\0" * 65536)
                    file.flush()
            except OSError:
                pass
        return filler
