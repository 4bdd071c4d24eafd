"""The store's tables, how a file is recognised as ours, and its schema version.

A file is ours when it is an SQLite database whose ``application_id`` is
:data:`APPLICATION_ID`; its ``user_version`` is the schema version.  A file
that is not SQLite, belongs to another program, was written by a newer
server, or fails SQLite's quick check is refused: :func:`check` raises
StoreError with what to do, and the file is left as it is.
"""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path

from qapi_jobs.server.store.errors import StoreError

APPLICATION_ID = 0x71617069
"""``qapi`` in ASCII: marks the file as a qapi-jobs store."""
SCHEMA_VERSION = 1
SQLITE_HEADER = b"SQLite format 3\x00"

_TABLES = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE events (
    seq INTEGER PRIMARY KEY,
    timestamp REAL NOT NULL,
    name TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE TABLE jobs (id TEXT PRIMARY KEY, record TEXT NOT NULL);
"""


def _move_away(path: Path) -> str:
    return (
        f"move {path} away (the server then starts with an empty store and watchers "
        "relist) or put back a good copy"
    )


def check_header(path: Path) -> None:
    """Refuse a non-empty file that is not an SQLite database (blocking)."""
    try:
        with path.open("rb") as file:
            header = file.read(len(SQLITE_HEADER))
    except FileNotFoundError:
        return
    if header and header != SQLITE_HEADER:
        raise StoreError(
            f"the state store {path} is damaged or not a qapi-jobs store (it is not an SQLite "
            f"database); {_move_away(path)}"
        )


def check(connection: sqlite3.Connection, path: Path) -> None:
    """Create the tables in a new file, or check that an existing one is ours and sound."""
    try:
        application_id = connection.execute("PRAGMA application_id").fetchone()[0]
        version = connection.execute("PRAGMA user_version").fetchone()[0]
        tables = connection.execute("SELECT count(*) FROM sqlite_schema").fetchone()[0]
        if application_id == 0 and version == 0 and tables == 0:
            _create(connection)
            return
        if application_id != APPLICATION_ID:
            raise StoreError(
                f"the state store {path} belongs to another program (SQLite application_id "
                f"{application_id:#x}, not qapi-jobs); {_move_away(path)}"
            )
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"the state store {path} was written by a newer qapi-jobs server (schema "
                f"version {version}; this server knows up to {SCHEMA_VERSION}); run the newer "
                "server, or move the store away"
            )
        if version < 1:
            raise StoreError(f"the state store {path} has no schema version; {_move_away(path)}")
        problems = [row[0] for row in connection.execute("PRAGMA quick_check(3)")]
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"the state store {path} is damaged ({exc}); {_move_away(path)}") from exc
    if problems != ["ok"]:
        raise StoreError(
            f"the state store {path} is damaged ({'; '.join(problems)}); {_move_away(path)}"
        )


def _create(connection: sqlite3.Connection) -> None:
    # One transaction: a crash while creating leaves an empty file, not half a schema.
    connection.executescript(
        "BEGIN;"
        + _TABLES
        + f"PRAGMA application_id = {APPLICATION_ID};"
        + f"PRAGMA user_version = {SCHEMA_VERSION};"
        + f"INSERT INTO meta VALUES ('log_id', '{uuid.uuid4().hex}');"
        + "COMMIT;"
    )
