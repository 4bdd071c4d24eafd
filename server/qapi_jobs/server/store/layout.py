"""Where the server keeps its own state inside the data directory."""

from __future__ import annotations

from pathlib import Path

STATE_DIR_NAME = ".qapi-jobs"
"""The directory below the data directory that holds the store; never an image."""
DATABASE_NAME = "state.sqlite3"
LOCK_NAME = "lock"


def state_dir(data_dir: Path) -> Path:
    """The server's state directory inside ``data_dir``."""
    return data_dir / STATE_DIR_NAME


def database_path(data_dir: Path) -> Path:
    """The SQLite file of the store."""
    return state_dir(data_dir) / DATABASE_NAME


def lock_path(data_dir: Path) -> Path:
    """The file whose lock says which server owns the data directory."""
    return state_dir(data_dir) / LOCK_NAME
