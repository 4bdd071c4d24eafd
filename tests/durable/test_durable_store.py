"""The store file itself: ownership, identity, refusing what it cannot trust, full disks."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from qapi_jobs.server.jobs.events import EventLog
from qapi_jobs.server.store import Store, StoreError, layout, open_store, schema
from tests.durable.filesystems import Tmpfs


def _publish(store: Store, count: int, size: int = 10) -> EventLog:
    log = EventLog(journal=store, retention=1000)
    for i in range(count):
        log.publish("JOB_STATUS_CHANGE", {"id": f"j{i}", "status": "x" * size})
    log.flush()
    return log


def test_a_second_server_on_the_same_data_dir_is_refused(data_dir: Path) -> None:
    first = open_store(data_dir)
    try:
        with pytest.raises(StoreError, match=r"another qapi-jobs server .*pid") as refused:
            open_store(data_dir)
        assert "give this server a data directory of its own" in str(refused.value)
    finally:
        first.close()
    open_store(data_dir).close()  # released on close


def test_the_log_keeps_its_identity_and_numbers_across_reopening(data_dir: Path) -> None:
    store = open_store(data_dir)
    log = _publish(store, 5)
    log_id = log.instance_id
    store.close()
    store = open_store(data_dir)
    try:
        again = EventLog(journal=store, retention=1000)
        assert again.instance_id == log_id == store.log_id
        assert again.last_seq == 5
        assert [r.data["id"] for r in again.events_after(0)] == [f"j{i}" for i in range(5)]
        assert again.publish("JOB_STATUS_CHANGE", {"id": "next"}).seq == 6
    finally:
        store.close()


def test_a_new_store_is_a_new_log(data_dir: Path, tmp_path: Path) -> None:
    store = open_store(data_dir)
    first_id = store.log_id
    store.close()
    other = tmp_path / "other"
    other.mkdir()
    second = open_store(other)
    try:
        assert second.log_id != first_id
    finally:
        second.close()


def test_a_file_that_is_not_sqlite_is_refused_and_kept(data_dir: Path) -> None:
    path = layout.database_path(data_dir)
    path.parent.mkdir()
    path.write_bytes(b"this is not a database at all, not even close" * 100)
    before = path.read_bytes()
    with pytest.raises(StoreError, match=r"damaged or not a qapi-jobs store.*move .* away"):
        open_store(data_dir)
    assert path.read_bytes() == before


def test_another_programs_database_is_refused_and_kept(data_dir: Path) -> None:
    path = layout.database_path(data_dir)
    path.parent.mkdir()
    with sqlite3.connect(path) as foreign:
        foreign.execute("CREATE TABLE accounts (name TEXT)")
        foreign.execute("INSERT INTO accounts VALUES ('alice')")
    foreign.close()
    with pytest.raises(StoreError, match=r"belongs to another program"):
        open_store(data_dir)
    with sqlite3.connect(path) as still:
        assert still.execute("SELECT name FROM accounts").fetchall() == [("alice",)]
    still.close()


def test_a_store_from_a_newer_server_is_refused(data_dir: Path) -> None:
    open_store(data_dir).close()
    path = layout.database_path(data_dir)
    with sqlite3.connect(path) as newer:
        newer.execute(f"PRAGMA user_version = {schema.SCHEMA_VERSION + 1}")
    newer.close()
    with pytest.raises(StoreError, match=r"written by a newer qapi-jobs server"):
        open_store(data_dir)


def test_damaged_pages_are_refused_and_kept(data_dir: Path) -> None:
    store = open_store(data_dir)
    _publish(store, 2000, size=200)
    store.close()
    path = layout.database_path(data_dir)
    damaged = bytearray(path.read_bytes())
    page = 4096
    for offset in range(2 * page, len(damaged) - page, 3 * page):
        damaged[offset : offset + 64] = b"\xff" * 64
    path.write_bytes(bytes(damaged))
    with pytest.raises(StoreError, match=r"is damaged"):
        open_store(data_dir)
    assert path.read_bytes() == bytes(damaged)


def test_a_read_only_data_dir_is_refused_clearly(small_fs: Tmpfs) -> None:
    small_fs.remount("ro")
    with pytest.raises(StoreError, match=r"Read-only file system.*must be writable"):
        open_store(small_fs.path)


def test_a_read_only_store_is_refused_clearly(small_fs: Tmpfs) -> None:
    open_store(small_fs.path).close()
    small_fs.remount("ro")
    with pytest.raises(StoreError, match=r"Read-only file system|readonly|read-only"):
        open_store(small_fs.path)


def test_a_full_disk_holds_events_back_until_there_is_room(small_fs: Tmpfs) -> None:
    store = open_store(small_fs.path)
    try:
        log = _publish(store, 10)
        acknowledged = log.last_seq
        small_fs.fill()
        big = "y" * 60_000
        with pytest.raises(StoreError, match=r"cannot write the state store.*full"):
            for i in range(100):
                log.publish("JOB_STATUS_CHANGE", {"id": f"big{i}", "status": big})
                log.flush()
        assert log.write_error is not None
        assert log.last_seq == acknowledged  # nobody sees what is not written
        unwritten = log._issued
        (small_fs.path / "filler").unlink()
        log.flush()
        assert log.write_error is None
        assert log.last_seq == unwritten
    finally:
        store.close()
    reopened = open_store(small_fs.path)
    try:
        assert reopened.last_seq == unwritten
        assert len(reopened.read_events(1, 1000)) == unwritten
    finally:
        reopened.close()
