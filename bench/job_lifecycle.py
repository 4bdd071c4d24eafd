"""Benchmark 3: jobs per second through create -> concluded -> dismissed.

Each job creates a tiny (1 MiB, sparse) raw image: ``BlockdevCreate`` on
the service with its builtin engine and with its qemu engine (which runs
the job in a qemu-storage-daemon it owns), ``blockdev-create`` with the
``file`` driver on qemu-storage-daemon directly.  A job counts once it is concluded and dismissed
(``JobDismiss`` / ``job-dismiss`` answered); the concluded status is learnt
from the event stream in both cases, never by polling.  Run sequentially
and with 32 jobs in flight, the targets taking turns round by round.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from bench import service
from bench.harness import BenchResult, Config, Distribution, Table, finite, log, ratio
from bench.qmp import QmpClient
from bench.qsd import missing_tool, storage_daemon
from bench.status_waiter import StatusWaiter

NAME = "job_lifecycle"
IMAGE_SIZE = 1 << 20
IN_FLIGHT = 32

Lifecycle = Callable[[str], Awaitable[None]]
"""Create job ``id``, wait until it is concluded, dismiss it."""


@dataclass(frozen=True)
class Sizes:
    """How many jobs to run."""

    rounds: int
    sequential_jobs: int
    concurrent_jobs: int
    warmup_jobs: int


FULL = Sizes(rounds=3, sequential_jobs=100, concurrent_jobs=320, warmup_jobs=20)
SMOKE = Sizes(rounds=1, sequential_jobs=5, concurrent_jobs=IN_FLIGHT, warmup_jobs=2)


@dataclass
class Tally:
    """Jobs done and time spent by one target in one mode, over all rounds."""

    jobs: int = 0
    seconds: float = 0.0
    durations: list[float] | None = None

    def add(self, jobs: int, seconds: float, durations: list[float]) -> None:
        """Account one batch."""
        self.jobs += jobs
        self.seconds += seconds
        self.durations = (self.durations or []) + durations

    @property
    def rate(self) -> float:
        """Jobs per second."""
        return self.jobs / self.seconds if self.seconds else float("nan")


async def run_batch(
    lifecycle: Lifecycle, prefix: str, count: int, in_flight: int
) -> tuple[float, list[float]]:
    """Run ``count`` jobs, ``in_flight`` at a time; return the wall time and each job's duration."""
    next_index = 0
    durations: list[float] = []

    async def worker() -> None:
        nonlocal next_index
        while next_index < count:
            index = next_index
            next_index += 1
            start = time.perf_counter()
            await lifecycle(f"{prefix}-{index}")
            durations.append(time.perf_counter() - start)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(min(in_flight, count))))
    return time.perf_counter() - start, durations


@asynccontextmanager
async def qmp_lifecycle(workdir: Path) -> AsyncIterator[Lifecycle]:
    """Jobs on a fresh qemu-storage-daemon; images go to ``workdir/images``."""
    images = workdir / "images"
    images.mkdir(parents=True, exist_ok=True)
    async with storage_daemon(workdir / "qsd") as qsd:
        waiter = StatusWaiter()
        feeder = asyncio.create_task(feed_from_qmp(qsd.qmp, waiter))
        try:

            async def lifecycle(job_id: str) -> None:
                await qsd.qmp.execute(
                    "blockdev-create",
                    {
                        "job-id": job_id,
                        "options": {
                            "driver": "file",
                            "filename": str(images / f"{job_id}.raw"),
                            "size": IMAGE_SIZE,
                        },
                    },
                )
                await waiter.wait(job_id, "concluded")
                await qsd.qmp.execute("job-dismiss", {"id": job_id})
                waiter.forget(job_id)

            yield lifecycle
        finally:
            feeder.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await feeder


@asynccontextmanager
async def service_lifecycle(
    workdir: Path, extra_args: tuple[str, ...] = ()
) -> AsyncIterator[Lifecycle]:
    """Jobs on a fresh qapi-jobs server; statuses come from one watch stream."""
    async with service.running_service(workdir, extra_args) as svc:
        await svc.start_status_feed()

        async def lifecycle(job_id: str) -> None:
            await svc.create_raw(job_id, f"{job_id}.raw", IMAGE_SIZE)
            await svc.wait_status(job_id, "concluded")
            await svc.job_dismiss(job_id)
            svc.waiter.forget(job_id)

        yield lifecycle


async def feed_from_qmp(qmp: QmpClient, waiter: StatusWaiter) -> None:
    """Pass every JOB_STATUS_CHANGE event of ``qmp`` to ``waiter``."""
    events = qmp.subscribe()
    try:
        while True:
            event = await events.get()
            if event.get("event") == "JOB_STATUS_CHANGE":
                data = event["data"]
                waiter.feed(data["id"], data["status"])
    finally:
        qmp.unsubscribe(events)


async def run(config: Config) -> BenchResult:
    """Run the job lifecycles on every available target."""
    sizes = SMOKE if config.smoke else FULL
    result = BenchResult(NAME, config.smoke)
    result.parameters = {
        "image_bytes": IMAGE_SIZE,
        "rounds": sizes.rounds,
        "sequential_jobs_per_round": sizes.sequential_jobs,
        "concurrent_jobs_per_round": sizes.concurrent_jobs,
        "in_flight": IN_FLIGHT,
    }
    targets: dict[str, Lifecycle] = {}
    async with AsyncExitStack() as stack:
        unavailable = service.missing()
        if unavailable is None:
            targets["service"] = await stack.enter_async_context(
                service_lifecycle(config.workdir / "service")
            )
        else:
            result.skip("service", unavailable)
        qemu_missing = missing_tool("qemu-storage-daemon")
        if qemu_missing is None:
            targets["qmp"] = await stack.enter_async_context(qmp_lifecycle(config.workdir / "qmp"))
            if unavailable is None:
                targets["service-qemu"] = await stack.enter_async_context(
                    service_lifecycle(config.workdir / "service-qemu", ("--engine", "qemu"))
                )
        else:
            result.skip("qmp", qemu_missing)
            result.skip("service-qemu", qemu_missing)

        tallies: dict[tuple[str, str], Tally] = {}
        for lifecycle in targets.values():
            await run_batch(lifecycle, "warmup", sizes.warmup_jobs, 1)
        for round_index in range(sizes.rounds):
            for mode, count, in_flight in (
                ("sequential", sizes.sequential_jobs, 1),
                ("concurrent", sizes.concurrent_jobs, IN_FLIGHT),
            ):
                for name, lifecycle in targets.items():
                    log(f"{NAME}: round {round_index + 1}, {name}, {mode}")
                    seconds, durations = await run_batch(
                        lifecycle, f"r{round_index}-{mode}", count, in_flight
                    )
                    tallies.setdefault((name, mode), Tally()).add(count, seconds, durations)
    report(result, tallies)
    return result


def report(result: BenchResult, tallies: dict[tuple[str, str], Tally]) -> None:
    """Fill the result's measurements, ratios and table."""
    table = Table(
        "job lifecycle (create -> concluded -> dismissed, 1 MiB raw)",
        ["target", "mode", "jobs", "jobs/s", "p50 ms/job", "p99 ms/job"],
    )
    for (name, mode), tally in tallies.items():
        dist = Distribution.of(tally.durations or [])
        result.measure(
            target=name,
            mode=mode,
            in_flight=IN_FLIGHT if mode == "concurrent" else 1,
            jobs=tally.jobs,
            seconds=finite(tally.seconds),
            jobs_per_s=finite(tally.rate),
            job_duration=dist.to_json("ms"),
        )
        table.add(name, mode, tally.jobs, tally.rate, dist.p50 * 1e3, dist.p99 * 1e3)
    for mode in ("sequential", "concurrent"):
        theirs = tallies.get(("qmp", mode))
        for name in ("service", "service-qemu"):
            ours = tallies.get((name, mode))
            # Time per job, so that above 1 means slower like every other ratio.
            result.ratios[f"{mode} time per job {name}/qmp"] = ratio(
                theirs.rate if theirs else None, ours.rate if ours else None
            )
    result.tables.append(table)
