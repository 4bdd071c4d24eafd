"""The copy rate: bytes copied by running block jobs per second between two scrapes."""

from __future__ import annotations

import asyncio
from pathlib import Path

from prometheus_client import CollectorRegistry

from qapi_jobs.server.grpc.metrics_jobs import RATE_WINDOW, JobMetrics
from qapi_jobs.server.jobs.manager import JobManager
from tests.support.images import KIB, MIB, make_dense
from tests.support.servers import make_engine
from tests.support.timeouts import GUARD_TIMEOUT


def rate(metrics: JobMetrics) -> float | None:
    for family in metrics.collect():
        if family.name == "qapi_jobs_copy_rate_bytes_per_second":
            return next((s.value for s in family.samples if s.labels == {"type": "backup"}), None)
    raise AssertionError("no copy rate family")


async def test_the_copy_rate_is_the_change_of_bytes_copied_over_the_window(
    data_dir: Path,
) -> None:
    now = [100.0]
    manager, engine = JobManager(), make_engine(data_dir)
    metrics = JobMetrics(manager, engine, CollectorRegistry(), clock=lambda: now[0])
    await asyncio.to_thread(make_dense, data_dir / "src.raw", MIB)
    arguments = {"job-id": "b1", "device": "src.raw", "target": "b1.raw", "sync": "full"}
    spec = await engine.prepare("drive-backup", arguments | {"speed": 256 * KIB})
    await manager.start(spec)
    assert rate(metrics) is None  # the first scrape only takes a sample
    before = metrics.copied_bytes()["backup"]
    async with asyncio.timeout(GUARD_TIMEOUT):
        version = manager.change_version
        while metrics.copied_bytes()["backup"] == before:
            version = await manager.wait_for_change(version)
    now[0] += RATE_WINDOW / 2
    assert rate(metrics) is None  # too soon: no rate yet
    now[0] += RATE_WINDOW * 1.5
    after = metrics.copied_bytes()["backup"]
    assert rate(metrics) == (after - before) / (2 * RATE_WINDOW)
    await manager.job_cancel("b1")
    await manager.shutdown(grace=GUARD_TIMEOUT)
