"""Benchmark 5: what Prometheus metrics cost the control calls.

Two servers run side by side, the same in everything but ``--metrics-listen``;
the one with metrics is scraped every second for the whole run, as a
Prometheus with a 1 s interval would.  Each has a throttled backup
running and a watcher open, so that every kind of metric has something
to count.  The control calls (``QueryJobs``, ``JobPause`` / ``JobResume``)
of both are timed round by round, interleaved, and compared by p50: the
goal is a ratio of at most 1.05.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

from bench import service
from bench.harness import BenchResult, Config, Distribution, Table, log, ratio
from bench.latency import Alternating, Timings, single, time_interleaved

NAME = "metrics_cost"
OPERATIONS = ("query-jobs", "job-pause", "job-resume")
TARGETS = ("metrics off", "metrics on")
SCRAPE_INTERVAL = 1.0
GOAL = 1.05


@dataclass(frozen=True)
class Sizes:
    """How many calls to time."""

    rounds: int
    per_round: int
    warmup: int


FULL = Sizes(rounds=10, per_round=300, warmup=200)
SMOKE = Sizes(rounds=2, per_round=15, warmup=5)


def free_port() -> int:
    """A loopback port nobody listens on now (for the metrics endpoint)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def scrape(address: str) -> int:
    """GET /metrics once; the body's size in bytes."""
    host, _, port = address.rpartition(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(b"GET /metrics HTTP/1.1\r\nHost: bench\r\n\r\n")
        response = await reader.read()
    finally:
        writer.close()
    head, _, body = response.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200 "):
        raise RuntimeError(f"scrape failed: {head[:80]!r}")
    return len(body)


class Scraper:
    """Scrapes an endpoint every SCRAPE_INTERVAL seconds until stopped."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.durations: list[float] = []
        self.body_bytes = 0

    async def run(self) -> None:
        """Scrape on a fixed schedule (a slow scrape delays the next one, never doubles it)."""
        while True:
            started = time.perf_counter()
            self.body_bytes = await scrape(self.address)
            self.durations.append(time.perf_counter() - started)
            await asyncio.sleep(max(0.0, SCRAPE_INTERVAL - (time.perf_counter() - started)))


@asynccontextmanager
async def scraping(address: str) -> AsyncIterator[Scraper]:
    """A Scraper running in the background."""
    scraper = Scraper(address)
    task = asyncio.create_task(scraper.run(), name="metrics-scraper")
    try:
        yield scraper
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def probes_of(svc: service.Service, target: str) -> list[Alternating]:
    """The control-call probes of one server, with a throttled backup and a watcher."""
    job_id = await svc.start_throttled_backup("throttled")
    await svc.start_status_feed()
    return [
        single(f"{target} query-jobs", svc.query_jobs, svc.pid),
        Alternating(
            [
                (f"{target} job-pause", lambda: svc.job_pause(job_id)),
                (f"{target} job-resume", lambda: svc.job_resume(job_id)),
            ],
            svc.pid,
        ),
    ]


async def run(config: Config) -> BenchResult:
    """Time both servers and compute the ratios."""
    sizes = SMOKE if config.smoke else FULL
    result = BenchResult(NAME, config.smoke)
    result.parameters = {
        "rounds": sizes.rounds,
        "calls_per_round": sizes.per_round,
        "warmup_calls": sizes.warmup,
        "scrape_interval_s": SCRAPE_INTERVAL,
        "goal_p50_ratio": GOAL,
    }
    unavailable = service.missing()
    if unavailable is not None:
        result.skip("service", unavailable)
        return result
    metrics_address = f"127.0.0.1:{free_port()}"
    async with AsyncExitStack() as stack:
        plain = await stack.enter_async_context(service.running_service(config.workdir / "off"))
        measured = await stack.enter_async_context(
            service.running_service(config.workdir / "on", ["--metrics-listen", metrics_address])
        )
        probes = [
            *await probes_of(plain, TARGETS[0]),
            *await probes_of(measured, TARGETS[1]),
        ]
        scraper = await stack.enter_async_context(scraping(metrics_address))
        log(f"{NAME}: timing {len(probes)} probes, {sizes.rounds} x {sizes.per_round} calls each")
        timings = await time_interleaved(probes, sizes.rounds, sizes.per_round, sizes.warmup)
    report(result, timings, scraper)
    return result


def report(result: BenchResult, timings: Timings, scraper: Scraper) -> None:
    """Fill the result's measurements, ratios and table."""
    table = Table(
        "control latency with metrics off and on (scraped every second)",
        ["operation", "target", "calls", "p50 us", "p99 us", "CPU us"],
    )
    p50: dict[tuple[str, str], float] = {}
    for operation in OPERATIONS:
        for target in TARGETS:
            name = f"{target} {operation}"
            dist = Distribution.of(timings.samples[name])
            cpu = timings.cpu_per_call(name)
            p50[(target, operation)] = dist.p50
            result.measure(
                target=target,
                operation=operation,
                server_cpu_us_per_call=cpu * 1e6 if cpu is not None else None,
                **dist.to_json("us"),
            )
            table.add(
                operation,
                target,
                dist.count,
                dist.p50 * 1e6,
                dist.p99 * 1e6,
                cpu * 1e6 if cpu is not None else None,
            )
        result.ratios[f"{operation} p50 metrics on/off"] = ratio(
            p50[(TARGETS[1], operation)], p50[(TARGETS[0], operation)]
        )
    scrapes = Distribution.of(scraper.durations) if scraper.durations else None
    result.measure(
        target="scrape",
        operation="GET /metrics",
        body_bytes=scraper.body_bytes,
        **(scrapes.to_json("us") if scrapes else {"count": 0}),
    )
    result.tables.append(table)
