"""Fixtures for the qemu engine's tests: a real qemu-storage-daemon, owned per test."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from qapi_jobs.server.engines.builtin.paths import DataDir
from qapi_jobs.server.engines.qemu.jobs import QemuJobs
from qapi_jobs.server.engines.qemu.process import StorageDaemon, make_run_dir
from qapi_jobs.server.jobs.events import EventRecord, Subscription

if shutil.which("qemu-storage-daemon") is None:  # pragma: no cover
    pytest.skip("qemu-storage-daemon is not installed", allow_module_level=True)

WAIT = 30.0
"""Upper bound for one wait on QEMU; never reached when things work."""


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    return path


@pytest.fixture
async def daemon() -> AsyncIterator[StorageDaemon]:
    run_dir = make_run_dir()
    daemon = StorageDaemon(run_dir)
    yield daemon
    await daemon.stop(grace=2.0)
    shutil.rmtree(run_dir, ignore_errors=True)


@pytest.fixture
async def jobs(daemon: StorageDaemon, data_dir: Path) -> AsyncIterator[QemuJobs]:
    backend = QemuJobs(daemon, DataDir(data_dir), poll_interval=0.05)
    await backend.open()
    yield backend
    await backend.shutdown(grace=5.0)


async def until(
    events: Subscription, job_id: str, status: str, seen: list[EventRecord] | None = None
) -> list[EventRecord]:
    """Collect events until ``job_id`` reaches ``status`` (also into ``seen``); return them."""
    collected: list[EventRecord] = [] if seen is None else seen
    async with asyncio.timeout(WAIT):
        async for record in events:
            collected.append(record)
            data = record.data
            if (
                record.name == "JOB_STATUS_CHANGE"
                and data["id"] == job_id
                and data["status"] == status
            ):
                return collected
    raise AssertionError(f"events ended before {job_id} reached {status}")


async def until_all(
    events: Subscription, goals: dict[str, str], seen: list[EventRecord] | None = None
) -> list[EventRecord]:
    """Collect events until every job of ``goals`` has reached its status, in any order."""
    collected: list[EventRecord] = [] if seen is None else seen
    left = dict(goals)
    async with asyncio.timeout(WAIT):
        async for record in events:
            collected.append(record)
            if record.name == "JOB_STATUS_CHANGE":
                if left.get(str(record.data["id"])) == record.data["status"]:
                    del left[str(record.data["id"])]
                if not left:
                    return collected
    raise AssertionError(f"events ended before {left} were reached")


_DRAIN_PAIRS = {("paused", "running"), ("standby", "ready")}


def statuses(records: list[EventRecord], job_id: str) -> list[str]:
    """The job's statuses in event order, drain pairs removed (their number varies by version)."""
    result: list[str] = []
    for record in records:
        if record.name == "JOB_STATUS_CHANGE" and record.data["id"] == job_id:
            status = str(record.data["status"])
            if result and (result[-1], status) in _DRAIN_PAIRS:
                result.pop()
                continue
            result.append(status)
    return result


def names(records: list[EventRecord]) -> list[str]:
    """Event names in order."""
    return [record.name for record in records]
