"""The store: one SQLite database (WAL) holding the event log and the job records.

Writes run in the store's writer thread (:attr:`Store.writer`), one
transaction per batch the event log hands over (see
:class:`~qapi_jobs.server.jobs.events.EventLog`): in WAL mode with
``synchronous=NORMAL`` a commit is a write into the OS page cache, which
survives a crash of the process; ``power_loss=True`` switches to
``synchronous=FULL`` (an fsync per commit).  Reads go through a connection
of their own, so that a read never sees a transaction half done nor waits
for one.  WAL checkpoints, which do fsync, run in a third thread on a third
connection.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from pathlib import Path
from types import MappingProxyType

from qapi_jobs.server.jobs.events import EventRecord
from qapi_jobs.server.store import layout, schema
from qapi_jobs.server.store.errors import StoreError
from qapi_jobs.server.store.lock import DataDirLock, claim_data_dir

logger = logging.getLogger(__name__)

CHECKPOINT_INTERVAL = 1.0
"""Seconds between background WAL checkpoints (only when something was written)."""
COMPACT_CHUNK = 2_000
"""Most expired events one commit deletes, so compaction never holds a commit up for long."""

_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
_decode = json.JSONDecoder().decode


class Store:
    """An open store; implements the event log's journal."""

    def __init__(
        self,
        path: Path,
        connection: sqlite3.Connection,
        reader: sqlite3.Connection,
        lock: DataDirLock,
        *,
        power_loss: bool,
    ) -> None:
        self.path = path
        self.power_loss = power_loss
        self._db = connection
        """The writer's connection: only ever used in the writer thread (or before it starts)."""
        self._reader = reader
        self._reading = threading.Lock()
        """Reads come from the loop and from other threads; one at a time on the reader."""
        self._lock = lock
        meta = dict(connection.execute("SELECT key, value FROM meta").fetchall())
        self.log_id: str = meta["log_id"]
        """The stable identity of the event log; a new store gets a new one."""
        oldest, newest = connection.execute("SELECT min(seq), max(seq) FROM events").fetchone()
        self.last_seq: int = newest or 0
        """The newest sequence number written (compaction always keeps that event)."""
        self._oldest: int = oldest or 1
        level = connection.execute("PRAGMA synchronous").fetchone()[0]
        self.synchronous: str = {1: "NORMAL", 2: "FULL"}.get(level, str(level))
        """SQLite's flush level for commits: ``FULL`` (power-loss safe) or ``NORMAL``."""
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store-writer")
        self._checkpointer = _Checkpointer(path)

    @property
    def writer(self) -> Executor:
        """The one thread :meth:`append` runs in, so that commits never block the event loop."""
        return self._writer

    @property
    def stored_events(self) -> int:
        """How many events the store holds now (compaction lags retention a little)."""
        with self._reading:
            count: int = self._reader.execute("SELECT count(*) FROM events").fetchone()[0]
        return count

    @property
    def oldest_seq(self) -> int:
        """The oldest event still stored (``last_seq + 1`` when there is none)."""
        return self._oldest

    def read_events(self, first: int, last: int) -> list[EventRecord]:
        """The stored events from ``first`` to ``last``, oldest first (blocking)."""
        with self._reading:
            rows = self._reader.execute(
                "SELECT seq, timestamp, name, data FROM events WHERE seq BETWEEN ? AND ? "
                "ORDER BY seq",
                (first, last),
            ).fetchall()
        # One decode of one JSON array: decoding row by row costs several times more.
        payloads = _decode("[" + ",".join(row[3] for row in rows) + "]")
        return [
            EventRecord(seq, timestamp, name, MappingProxyType(data))
            for (seq, timestamp, name, _), data in zip(rows, payloads, strict=True)
        ]

    def timestamps(self, first: int) -> list[float]:
        """The timestamps of the stored events from ``first`` on, oldest first (blocking)."""
        with self._reading:
            rows = self._reader.execute(
                "SELECT timestamp FROM events WHERE seq >= ? ORDER BY seq", (first,)
            ).fetchall()
        return [timestamp for (timestamp,) in rows]

    def load_jobs(self) -> list[dict[str, object]]:
        """Every stored job record, in the order the jobs were first stored."""
        with self._reading:
            rows = self._reader.execute("SELECT record FROM jobs ORDER BY rowid").fetchall()
        return [_decode(record) for (record,) in rows]

    def append(
        self,
        events: Sequence[EventRecord],
        jobs: Mapping[str, Mapping[str, object] | None],
        keep_from: int,
    ) -> None:
        """Write ``events`` and the job records (None: delete) in one transaction.

        Runs in :attr:`writer`, one call at a time.  Also deletes up to
        :data:`COMPACT_CHUNK` events older than ``keep_from``.  Raises
        StoreError (the transaction rolled back) when the disk refuses the
        write.
        """
        db = self._db
        try:
            db.execute("BEGIN")
            try:
                if events:
                    db.executemany(
                        "INSERT INTO events VALUES (?, ?, ?, ?)",
                        [(e.seq, e.timestamp, e.name, _encode(dict(e.data))) for e in events],
                    )
                for job_id, record in jobs.items():
                    if record is None:
                        db.execute("DELETE FROM jobs WHERE id = ?", (job_id,))
                    else:
                        db.execute(
                            "INSERT INTO jobs VALUES (?, ?) ON CONFLICT(id) DO UPDATE SET "
                            "record = excluded.record",
                            (job_id, _encode(record)),
                        )
                # The newest event always stays: it is where numbering goes on.
                newest = events[-1].seq if events else self.last_seq
                drop_below = min(keep_from, self._oldest + COMPACT_CHUNK, newest)
                if drop_below > self._oldest:
                    db.execute("DELETE FROM events WHERE seq < ?", (drop_below,))
                db.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    db.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise StoreError(f"cannot write the state store {self.path}: {exc}") from exc
        if events:
            self.last_seq = events[-1].seq
        self._oldest = max(self._oldest, drop_below)
        self._checkpointer.wrote()

    def close(self) -> None:
        """Finish the write in progress, checkpoint, close the database and release
        the data directory (blocking)."""
        self._writer.shutdown(wait=True)
        self._checkpointer.stop()
        with contextlib.suppress(sqlite3.Error):
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self._reader.close()
        self._db.close()
        self._lock.release()


def open_store(data_dir: Path, *, power_loss: bool = False) -> Store:
    """Lock ``data_dir`` and open (or create) its store (blocking).

    Raises StoreError when another server holds the data directory, when
    the directory is not writable, or when the store file cannot be
    trusted; nothing is ever deleted or rewritten to get past a problem.
    """
    lock = claim_data_dir(data_dir)
    try:
        path = layout.database_path(data_dir)
        schema.check_header(path)
        connection = _connect(path, power_loss)
        try:
            schema.check(connection, path)
            reader = _connect(path, power_loss)
            try:
                return Store(path, connection, reader, lock, power_loss=power_loss)
            except BaseException:
                reader.close()
                raise
        except BaseException:
            connection.close()
            raise
    except BaseException:
        lock.release()
        raise


def _connect(path: Path, power_loss: bool) -> sqlite3.Connection:
    try:
        connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open the state store {path}: {exc}") from exc
    try:
        mode = connection.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if mode != "wal":
            raise StoreError(f"the state store {path} cannot use WAL mode (got {mode!r})")
        connection.execute(f"PRAGMA synchronous = {'FULL' if power_loss else 'NORMAL'}")
        # Checkpoints run in the checkpointer's thread, never inside a commit.
        connection.execute("PRAGMA wal_autocheckpoint = 0")
        connection.execute("PRAGMA busy_timeout = 5000")
    except sqlite3.DatabaseError as exc:
        connection.close()
        if "readonly" in str(exc) or "read-only" in str(exc):
            raise StoreError(
                f"cannot write the state store {path}: {exc}; make the data directory writable"
            ) from exc
        raise StoreError(
            f"the state store {path} is damaged ({exc}); move it away (the server then starts "
            "with an empty store and watchers relist) or put back a good copy"
        ) from exc
    except BaseException:
        connection.close()
        raise
    return connection


class _Checkpointer:
    """Copies the WAL back into the database from a thread, without blocking writers."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._dirty = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="store-checkpoint", daemon=True)
        self._thread.start()

    def wrote(self) -> None:
        """Something was committed: checkpoint at the next interval."""
        if not self._dirty.is_set():
            self._dirty.set()

    def stop(self) -> None:
        """End the thread (a final checkpoint is the closer's business)."""
        self._stopping.set()
        self._dirty.set()
        self._thread.join()

    def _run(self) -> None:
        connection = sqlite3.connect(self._path, isolation_level=None)
        try:
            while True:
                self._dirty.wait()
                if self._stopping.is_set():
                    return
                self._dirty.clear()
                try:
                    connection.execute("PRAGMA wal_checkpoint(PASSIVE)")
                except sqlite3.Error as exc:
                    logger.warning("WAL checkpoint of %s failed: %s", self._path, exc)
                if self._stopping.wait(CHECKPOINT_INTERVAL):
                    return
        finally:
            connection.close()
