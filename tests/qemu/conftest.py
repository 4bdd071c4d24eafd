"""Fixtures for the qemu engine's tests: a real qemu-storage-daemon, owned per test.

Every test that needs a daemon runs once per daemon available: the system's
(Debian 12: QEMU 7.2) and QEMU 10.0's from ``make qemu-next``
(``.cache/qemu-next/``, or the binary ``QJ_QEMU_NEXT`` names).  Without the
latter those cases skip, except under CI (``CI=true``), where they fail.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from _pytest.mark import ParameterSet

from qapi_jobs.server.engines.builtin.paths import DataDir
from qapi_jobs.server.engines.qemu.jobs import QemuJobs
from qapi_jobs.server.engines.qemu.process import (
    DAEMON,
    StorageDaemon,
    make_private,
    remove_run_dir,
    run_dir_for,
)
from qapi_jobs.server.jobs.events import EventRecord, Subscription
from tests.support.paths import REPO

INSTALLED = shutil.which(DAEMON)
if INSTALLED is None:  # pragma: no cover
    pytest.skip("qemu-storage-daemon is not installed", allow_module_level=True)

NEXT = Path(os.environ.get("QJ_QEMU_NEXT") or REPO / ".cache" / "qemu-next" / DAEMON)
"""QEMU 10.0's daemon, which ``make qemu-next`` fetches."""
_NEXT_MISSING = f"QEMU 10.0's qemu-storage-daemon is not at {NEXT}; `make qemu-next` fetches it"

WAIT = 30.0
"""Upper bound for one wait on QEMU; never reached when things work."""


def _label(binary: str) -> str:
    """``qsd<major>.<minor>`` from the daemon's ``--version``."""
    done = subprocess.run([binary, "--version"], capture_output=True, text=True, check=True)
    found = re.search(r"version (\d+)\.(\d+)", done.stdout)
    assert found is not None, done.stdout
    return f"qsd{found[1]}.{found[2]}"


def _daemons() -> list[ParameterSet]:
    params = [pytest.param(INSTALLED, id=_label(str(INSTALLED)))]
    if NEXT.is_file():
        params.append(pytest.param(str(NEXT), id=_label(str(NEXT))))
    elif os.environ.get("CI") == "true":
        params.append(pytest.param(None, id="qsd10.0"))  # the daemon fixture fails
    else:
        params.append(pytest.param(None, id="qsd10.0", marks=pytest.mark.skip(_NEXT_MISSING)))
    return params


DAEMONS = _daemons()
"""One parameter per daemon binary the tests run against."""
ENGINES = [pytest.param("builtin", id="builtin"), *DAEMONS]
"""The builtin engine, then the qemu engine on each daemon, for tests comparing engines."""


def binary_of(param: str | None) -> str:
    """The daemon a parameter of DAEMONS names; fails the test when it is missing (CI)."""
    if param is None:
        pytest.fail(_NEXT_MISSING)
    return param


@pytest.fixture(params=DAEMONS)
def qsd(request: pytest.FixtureRequest) -> str:
    """The qemu-storage-daemon executable this test runs against."""
    return binary_of(request.param)


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "data"
    path.mkdir()
    yield path
    # Whatever ran on it stopped its daemon, and that removed the run directory.
    assert not run_dir_for(path).exists(), "a test left its run directory behind"


@pytest.fixture
async def daemon(qsd: str, data_dir: Path) -> AsyncIterator[StorageDaemon]:
    run_dir = run_dir_for(data_dir)
    await asyncio.to_thread(make_private, run_dir)
    daemon = StorageDaemon(run_dir, qsd)
    yield daemon
    await daemon.stop(grace=2.0)
    await asyncio.to_thread(remove_run_dir, run_dir)


@asynccontextmanager
async def opened(daemon: StorageDaemon, data_dir: Path) -> AsyncIterator[QemuJobs]:
    """The qemu engine's backend on ``daemon``, open, shut down on exit."""
    backend = QemuJobs(daemon, DataDir(data_dir), poll_interval=0.05)
    await backend.open()
    try:
        yield backend
    finally:
        await backend.shutdown(grace=5.0)


@pytest.fixture
async def jobs(daemon: StorageDaemon, data_dir: Path) -> AsyncIterator[QemuJobs]:
    async with opened(daemon, data_dir) as backend:
        yield backend


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
