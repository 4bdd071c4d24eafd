"""Benchmark 2: fan-out of events to many watchers, against a bare grpc.aio broadcast.

For each number of watchers, the same steps run against the service
(``WatchService.WatchEvents`` in batch mode: the events a stream finds
ready at a wake-up travel in one message) and against the bare broadcast
of ``bench.broadcast_service`` (one message per event), each in a fresh
server process:

1. open the streams from a few spawned watcher processes and wait until
   every one is live; the server's RSS growth gives the memory per stream;
2. *steady*: publish events at a fixed rate (the service: alternately pause
   and resume a throttled job, one JOB_STATUS_CHANGE each);
3. *burst*: publish about 200 events at once (the service: start 40 tiny
   create jobs, five events each); 20 for 10,000 watchers.

Each phase ends when every watcher has every event (or nothing arrived for
a while).  Reported per phase: deliveries per second, publish-to-receipt
delay percentiles, and server CPU time per delivery.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import grpc

from bench import broadcast_service, service
from bench.harness import BenchResult, Config, Distribution, Json, Table, finite, log, ratio
from bench.processes import PYTHON, python_env, running
from bench.procstat import sample
from bench.watcher_pool import PhaseCount, WatcherPool

NAME = "fanout"

STALL_TIMEOUT = 15.0
"""A phase ends this long after the last delivery even if some are missing."""
POLL_INTERVAL = 0.25
MIN_STREAMS_FOR_RSS = 100
"""Below this many streams, memory per stream is not reported."""


@dataclass(frozen=True)
class Step:
    """One number of watchers and how hard to publish to them."""

    watchers: int
    rate: float
    """Steady events per second."""
    steady_seconds: float
    burst_events: int


@dataclass(frozen=True)
class Sizes:
    """The steps and how many watcher processes share them."""

    steps: tuple[Step, ...]
    processes: int


# Sized for 2 shared cores, where Python gRPC delivers a few thousand
# messages a second to Python watchers: 10,000 watchers get a burst of 20
# (the same 200,000 deliveries as 1,000 watchers get from a burst of 200).
FULL = Sizes(
    steps=(
        Step(1, 20.0, 10.0, 200),
        Step(100, 20.0, 10.0, 200),
        Step(1000, 20.0, 5.0, 200),
        Step(10000, 2.0, 5.0, 20),
    ),
    processes=4,
)
SMOKE = Sizes(steps=(Step(1, 20.0, 0.5, 20), Step(10, 20.0, 0.5, 20)), processes=2)

EVENTS_PER_CREATE_JOB = 5
"""created, running, waiting, pending, concluded."""
BARE_EVENT_SIZE = 70
"""Bytes per bare broadcast event: about a serialized JOB_STATUS_CHANGE record."""


class FanoutTarget(Protocol):
    """A server to watch and a way to make it publish events."""

    @property
    def kind(self) -> str:
        """Which stream the watcher processes open: "bare" or "service"."""

    @property
    def address(self) -> str:
        """Where the server listens."""

    @property
    def pid(self) -> int:
        """The server's process id."""

    @property
    def refused(self) -> int:
        """Publish calls the server refused (the service: a pause or resume out of turn)."""

    async def publish(self) -> None:
        """Make the server emit (about) one event."""

    async def burst(self, events: int) -> None:
        """Make the server emit about ``events`` events at once."""

    async def after_burst(self) -> None:
        """Clean up after a burst (may emit a few more events)."""


TargetFactory = Callable[[Path], AbstractAsyncContextManager[FanoutTarget]]


@dataclass
class BareTarget:
    """The bare broadcast in a baseline server process."""

    address: str
    pid: int
    channel: grpc.aio.Channel
    kind: str = "bare"
    refused: int = 0

    async def publish(self) -> None:
        """One event."""
        await self._publish(1)

    async def burst(self, events: int) -> None:
        """Concurrent calls of five events each, as the service's burst is made of create jobs."""
        count = max(1, round(events / EVENTS_PER_CREATE_JOB))
        await asyncio.gather(*(self._publish(EVENTS_PER_CREATE_JOB) for _ in range(count)))

    async def after_burst(self) -> None:
        """Nothing to clean up."""

    async def _publish(self, count: int) -> None:
        method: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes] = self.channel.unary_unary(
            broadcast_service.PUBLISH_METHOD
        )
        await method(broadcast_service.publish_request(count))


@asynccontextmanager
async def bare_target(workdir: Path) -> AsyncIterator[FanoutTarget]:
    """A fresh baseline server, watched through its broadcast service."""
    argv = [PYTHON, "-m", "bench.baseline_server", "--event-size", str(BARE_EVENT_SIZE)]
    async with running(
        argv, workdir / "baseline-server.log", stdout_pipe=True, env=python_env()
    ) as child:
        port = int((await child.first_line(wait_seconds=30)).split()[1])
        address = f"127.0.0.1:{port}"
        async with grpc.aio.insecure_channel(address) as channel:
            await channel.channel_ready()
            yield BareTarget(address, child.pid, channel)


BURST_TIMEOUT = 120.0


@dataclass
class ServiceTarget:
    """The service, publishing through a throttled backup and tiny create jobs."""

    svc: service.Service
    job_id: str
    kind: str = "service"
    paused: bool = False
    refused: int = 0
    bursts: int = 0
    burst_jobs: tuple[str, ...] = ()

    @property
    def address(self) -> str:
        """Where the server listens."""
        return self.svc.address

    @property
    def pid(self) -> int:
        """The server's process id."""
        return self.svc.pid

    async def publish(self) -> None:
        """Pause or resume the throttled backup: one JOB_STATUS_CHANGE."""
        try:
            if self.paused:
                await self.svc.job_resume(self.job_id)
            else:
                await self.svc.job_pause(self.job_id)
            self.paused = not self.paused
        except grpc.aio.AioRpcError:
            self.refused += 1

    async def burst(self, events: int) -> None:
        """Start create jobs all at once (five events each) and wait until they concluded."""
        self.bursts += 1
        count = max(1, round(events / EVENTS_PER_CREATE_JOB))
        self.burst_jobs = tuple(f"burst{self.bursts}-{i}" for i in range(count))
        await asyncio.gather(
            *(self.svc.create_raw(job, f"{job}.raw", 1 << 20) for job in self.burst_jobs)
        )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + BURST_TIMEOUT
        while loop.time() < deadline:
            reply = await self.svc.jobs.QueryJobs(self.svc.pb.QueryJobsRequest())
            concluded = {
                job.id for job in reply.result if service.status_name(job.status) == "concluded"
            }
            if concluded.issuperset(self.burst_jobs):
                return
            await asyncio.sleep(0.05)

    async def after_burst(self) -> None:
        """Dismiss the burst's jobs."""
        await asyncio.gather(*(self.svc.job_dismiss(job) for job in self.burst_jobs))
        self.burst_jobs = ()


@asynccontextmanager
async def service_target(workdir: Path) -> AsyncIterator[FanoutTarget]:
    """A fresh server with one throttled backup running."""
    async with service.running_service(workdir) as svc:
        yield ServiceTarget(svc, await svc.start_throttled_backup("throttled"))


@dataclass(frozen=True)
class PhaseOutcome:
    """What one phase measured."""

    events: int
    deliveries: int
    missing: int
    failed_streams: int
    seconds: float
    delays: Distribution
    server_cpu_seconds: float

    @property
    def deliveries_per_second(self) -> float:
        """Deliveries over the time from the phase's start to its last delivery."""
        return self.deliveries / self.seconds if self.seconds > 0 else float("nan")

    @property
    def cpu_per_delivery(self) -> float:
        """Server CPU seconds per delivered event."""
        return self.server_cpu_seconds / self.deliveries if self.deliveries else float("nan")


async def run(config: Config) -> BenchResult:
    """Run every step against every target."""
    sizes = SMOKE if config.smoke else FULL
    result = BenchResult(NAME, config.smoke)
    result.parameters = {
        "steps": [
            {
                "watchers": s.watchers,
                "steady_rate_per_s": s.rate,
                "steady_seconds": s.steady_seconds,
                "burst_events": s.burst_events,
            }
            for s in sizes.steps
        ],
        "watcher_processes": sizes.processes,
        "bare_event_bytes": BARE_EVENT_SIZE,
        "service_batch_mode": True,
    }
    targets: list[tuple[str, TargetFactory]] = [("bare", bare_target)]
    unavailable = service.missing()
    if unavailable is None:
        targets.append(("service", service_target))
    else:
        result.skip("service", unavailable)

    table = Table(
        "fan-out (steady: fixed rate; burst: all at once)",
        [
            "target",
            "watchers",
            "phase",
            "events",
            "deliveries",
            "missing",
            "deliv/s",
            "p50 ms",
            "p99 ms",
            "max ms",
            "CPU us/deliv",
            "RSS KiB/1k streams",
        ],
    )
    result.tables.append(table)
    pool = WatcherPool(sizes.processes)
    try:
        for step in sizes.steps:
            for kind, factory in targets:
                log(f"{NAME}: {kind}, {step.watchers} watchers")
                workdir = config.workdir / f"{kind}-{step.watchers}"
                workdir.mkdir(parents=True, exist_ok=True)
                async with factory(workdir) as target:
                    await run_step(result, table, pool, target, step)
    finally:
        pool.shutdown()
    add_ratios(result, sizes.steps)
    return result


async def run_step(
    result: BenchResult, table: Table, pool: WatcherPool, target: FanoutTarget, step: Step
) -> None:
    """Open the streams, run both phases, close the streams."""
    before = sample(target.pid)
    opened, failed = await pool.open(target.kind, target.address, step.watchers)
    after = sample(target.pid)
    # With few streams the growth is the server's one-off allocations, not theirs.
    rss_per_1000 = (
        (after.rss_bytes - before.rss_bytes) / opened * 1000
        if opened >= MIN_STREAMS_FOR_RSS
        else float("nan")
    )
    try:
        steady = await run_phase(pool, target, lambda: steady_publisher(target, step))
        burst = await run_phase(pool, target, lambda: target.burst(step.burst_events))
        await target.after_burst()
        await wait_until_quiet(pool)
    finally:
        await pool.close_streams()
    for phase, outcome in (("steady", steady), ("burst", burst)):
        row: dict[str, Json] = {
            "target": target.kind,
            "watchers": step.watchers,
            "streams_opened": opened,
            "streams_failed_to_open": failed,
            "phase": phase,
            "events": outcome.events,
            "deliveries": outcome.deliveries,
            "missing_deliveries": outcome.missing,
            "failed_streams": outcome.failed_streams,
            "refused_publishes": target.refused,
            "deliveries_per_s": finite(outcome.deliveries_per_second),
            "server_cpu_s": finite(outcome.server_cpu_seconds),
            "server_cpu_us_per_delivery": finite(outcome.cpu_per_delivery * 1e6),
            "server_rss_kib_per_1000_streams": finite(rss_per_1000 / 1024),
            "delay": outcome.delays.to_json("ms"),
        }
        result.measure(**row)
        table.add(
            target.kind,
            step.watchers,
            phase,
            outcome.events,
            outcome.deliveries,
            outcome.missing,
            outcome.deliveries_per_second,
            outcome.delays.p50 * 1e3,
            outcome.delays.p99 * 1e3,
            outcome.delays.max * 1e3,
            outcome.cpu_per_delivery * 1e6,
            rss_per_1000 / 1024,
        )


async def steady_publisher(target: FanoutTarget, step: Step) -> None:
    """Publish at ``step.rate`` per second for ``step.steady_seconds`` (no catching up)."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    ticks = max(1, int(step.rate * step.steady_seconds))
    for tick in range(ticks):
        delay = start + tick / step.rate - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        await target.publish()


async def run_phase(
    pool: WatcherPool, target: FanoutTarget, driver: Callable[[], Awaitable[None]]
) -> PhaseOutcome:
    """Mark a new phase, drive it, wait until delivered, and measure."""
    await pool.mark()
    cpu_before = sample(target.pid).cpu_seconds
    started = time.time()
    await driver()
    counts = await wait_until_quiet(pool)
    cpu = sample(target.pid).cpu_seconds - cpu_before
    collected = await pool.collect()
    events = len(collected.sequences)
    expected = events * sum(c.streams for c in counts)
    return PhaseOutcome(
        events=events,
        deliveries=len(collected.delays),
        missing=max(0, expected - len(collected.delays)),
        failed_streams=sum(c.failed_streams for c in counts),
        seconds=max(0.0, collected.last_received - started),
        delays=Distribution.of(collected.delays),
        server_cpu_seconds=cpu,
    )


async def wait_until_quiet(pool: WatcherPool) -> list[PhaseCount]:
    """Poll until every watcher has every event seen so far, or deliveries stall."""
    loop = asyncio.get_running_loop()
    last_total = -1
    last_progress = loop.time()
    while True:
        counts = await pool.count()
        total = sum(c.deliveries for c in counts)
        events = max((c.distinct_events for c in counts), default=0)
        live = all(c.deliveries >= events * (c.streams - c.failed_streams) for c in counts)
        if live and total == last_total:
            return counts
        if total != last_total:
            last_total = total
            last_progress = loop.time()
        elif loop.time() - last_progress > STALL_TIMEOUT:
            return counts
        await asyncio.sleep(POLL_INTERVAL)


def add_ratios(result: BenchResult, steps: tuple[Step, ...]) -> None:
    """service / bare for delays, CPU per delivery, memory per stream and burst time."""
    rows = {(m["target"], m["watchers"], m["phase"]): m for m in result.measurements}
    for step in steps:
        for phase in ("steady", "burst"):
            ours = rows.get(("service", step.watchers, phase))
            theirs = rows.get(("bare", step.watchers, phase))
            prefix = f"{step.watchers} watchers {phase}"
            result.ratios[f"{prefix} p50 delay service/bare"] = ratio(
                _delay(ours, "p50_ms"), _delay(theirs, "p50_ms")
            )
            result.ratios[f"{prefix} p99 delay service/bare"] = ratio(
                _delay(ours, "p99_ms"), _delay(theirs, "p99_ms")
            )
            result.ratios[f"{prefix} CPU per delivery service/bare"] = ratio(
                _number(ours, "server_cpu_us_per_delivery"),
                _number(theirs, "server_cpu_us_per_delivery"),
            )
            if phase == "burst":
                # Inverted so that, like every other ratio, above 1 means slower.
                result.ratios[f"{prefix} delivery time service/bare"] = ratio(
                    _number(theirs, "deliveries_per_s"), _number(ours, "deliveries_per_s")
                )
        result.ratios[f"{step.watchers} watchers RSS per stream service/bare"] = ratio(
            _number(
                rows.get(("service", step.watchers, "steady")), "server_rss_kib_per_1000_streams"
            ),
            _number(rows.get(("bare", step.watchers, "steady")), "server_rss_kib_per_1000_streams"),
        )


def _number(row: dict[str, Json] | None, key: str) -> float | None:
    if row is None:
        return None
    value = row.get(key)
    return float(value) if isinstance(value, int | float) else None


def _delay(row: dict[str, Json] | None, key: str) -> float | None:
    if row is None:
        return None
    delay = row.get("delay")
    return _number(delay, key) if isinstance(delay, dict) else None
