"""Benchmark 5: what the durable store costs, against the in-memory log in the same run.

Two servers run side by side, one with the store in its data directory
(the default) and one started with ``--no-store``; their calls and phases
are interleaved so that noise from elsewhere hits both alike:

* control latency: ``QueryJobs``, ``JobPause`` / ``JobResume`` of a
  throttled running backup (each pause and resume makes the job publish a
  status change, which the store writes);
* fan-out: watchers on ``WatchEvents`` (batch mode), a steady phase at a
  fixed rate and a burst of create jobs, reporting server CPU time per
  delivery;
* restart to serving: a store holding 100,000 retained events, from the
  start of the process to the first answered ``QueryJobs``, against an
  empty store and against no store.

Ratios are store / memory (above 1 = the store costs that much more).
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import grpc

from bench import service
from bench.fanout import (
    FanoutTarget,
    PhaseOutcome,
    ServiceTarget,
    Step,
    run_phase,
    steady_publisher,
)
from bench.harness import BenchResult, Config, Distribution, Table, finite, log, ratio
from bench.latency import Alternating, single, time_interleaved
from bench.processes import PYTHON, python_env, running
from bench.watcher_pool import WatcherPool

NAME = "durability"
MODES: dict[str, tuple[str, ...]] = {"store": (), "memory": ("--no-store",)}


@dataclass(frozen=True)
class Sizes:
    """How much of everything."""

    rounds: int
    per_round: int
    warmup: int
    watchers: int
    steady_rate: float
    steady_seconds: float
    burst_events: int
    retained_events: int
    restarts: int


FULL = Sizes(
    rounds=10,
    per_round=300,
    warmup=200,
    watchers=100,
    steady_rate=20.0,
    steady_seconds=10.0,
    # Larger than fanout's burst: a short burst's CPU time is too noisy for a ratio.
    burst_events=1000,
    retained_events=100_000,
    restarts=5,
)
SMOKE = Sizes(
    rounds=2,
    per_round=15,
    warmup=5,
    watchers=5,
    steady_rate=20.0,
    steady_seconds=0.5,
    burst_events=20,
    retained_events=1_000,
    restarts=1,
)


async def run(config: Config) -> BenchResult:
    """Measure both modes and compute the ratios."""
    sizes = SMOKE if config.smoke else FULL
    result = BenchResult(NAME, config.smoke)
    result.parameters = {
        "rounds": sizes.rounds,
        "calls_per_round": sizes.per_round,
        "watchers": sizes.watchers,
        "steady_rate_per_s": sizes.steady_rate,
        "steady_seconds": sizes.steady_seconds,
        "burst_events": sizes.burst_events,
        "retained_events": sizes.retained_events,
        "restarts": sizes.restarts,
        "synchronous": "NORMAL (the default; --power-loss-safe is FULL)",
    }
    unavailable = service.missing()
    if unavailable is not None:
        result.skip("service", unavailable)
        return result
    await control(result, sizes, config.workdir / "control")
    await fanout(result, sizes, config.workdir / "fanout")
    await restart(result, sizes, config.workdir / "restart")
    return result


async def control(result: BenchResult, sizes: Sizes, workdir: Path) -> None:
    """Control verbs, both modes interleaved."""
    probes: list[Alternating] = []
    async with AsyncExitStack() as stack:
        for mode, extra in MODES.items():
            svc = await stack.enter_async_context(
                service.running_service(workdir / mode, extra_args=extra)
            )
            job_id = await svc.start_throttled_backup("throttled")
            probes.append(single(f"{mode} query-jobs", svc.query_jobs, svc.pid))
            probes.append(
                Alternating(
                    [
                        (f"{mode} job-pause", _bind(svc.job_pause, job_id)),
                        (f"{mode} job-resume", _bind(svc.job_resume, job_id)),
                    ],
                    svc.pid,
                )
            )
        log(f"{NAME}: control verbs, {sizes.rounds} x {sizes.per_round} calls per probe")
        timings = await time_interleaved(probes, sizes.rounds, sizes.per_round, sizes.warmup)
    table = Table(
        "control latency (sequential unary calls; server CPU per call)",
        ["operation", "log", "calls", "p50 us", "p99 us", "CPU us"],
    )
    for operation in ("query-jobs", "job-pause", "job-resume"):
        summary: dict[str, Distribution] = {}
        for mode in MODES:
            name = f"{mode} {operation}"
            dist = Distribution.of(timings.samples[name])
            cpu = timings.cpu_per_call(name)
            summary[mode] = dist
            result.measure(
                kind="control",
                operation=operation,
                log=mode,
                server_cpu_us_per_call=finite(cpu * 1e6) if cpu is not None else None,
                **dist.to_json("us"),
            )
            table.add(
                operation,
                mode,
                dist.count,
                dist.p50 * 1e6,
                dist.p99 * 1e6,
                cpu * 1e6 if cpu is not None else None,
            )
        result.ratios[f"{operation} p50 store/memory"] = ratio(
            summary["store"].p50, summary["memory"].p50
        )
    result.tables.append(table)


def _bind(call: Callable[[str], Awaitable[None]], job_id: str) -> Callable[[], Awaitable[None]]:
    return lambda: call(job_id)


@asynccontextmanager
async def _target(workdir: Path, extra: Sequence[str]) -> AsyncIterator[FanoutTarget]:
    async with service.running_service(workdir, extra_args=extra) as svc:
        yield ServiceTarget(svc, await svc.start_throttled_backup("throttled"))


async def fanout(result: BenchResult, sizes: Sizes, workdir: Path) -> None:
    """The same fan-out phases against both modes, one after the other, twice (ABBA)."""
    table = Table(
        "fan-out (server CPU per delivery)",
        ["log", "phase", "events", "deliveries", "missing", "p50 ms", "p99 ms", "CPU us/deliv"],
    )
    outcomes: dict[tuple[str, str], list[PhaseOutcome]] = {}
    step = Step(sizes.watchers, sizes.steady_rate, sizes.steady_seconds, sizes.burst_events)
    pool = WatcherPool(2)
    try:
        for run_no, mode in enumerate(("store", "memory", "memory", "store")):
            log(f"{NAME}: fan-out, {mode}, {sizes.watchers} watchers")
            target_dir = workdir / f"{mode}-{run_no}"
            target_dir.mkdir(parents=True, exist_ok=True)
            factory: AbstractAsyncContextManager[FanoutTarget] = _target(target_dir, MODES[mode])
            async with factory as target:
                steady, burst = await _phases(pool, target, step)
            outcomes.setdefault((mode, "steady"), []).append(steady)
            outcomes.setdefault((mode, "burst"), []).append(burst)
    finally:
        pool.shutdown()
    per_delivery: dict[tuple[str, str], float] = {}
    for (mode, phase), runs in outcomes.items():
        deliveries = sum(o.deliveries for o in runs)
        cpu = sum(o.server_cpu_seconds for o in runs)
        per_delivery[(mode, phase)] = cpu / deliveries if deliveries else float("nan")
        delays = Distribution.of([])
        for outcome in runs:
            delays = outcome.delays if outcome.delays.count > delays.count else delays
        result.measure(
            kind="fanout",
            log=mode,
            phase=phase,
            watchers=sizes.watchers,
            events=sum(o.events for o in runs),
            deliveries=deliveries,
            missing_deliveries=sum(o.missing for o in runs),
            server_cpu_s=finite(cpu),
            server_cpu_us_per_delivery=finite(per_delivery[(mode, phase)] * 1e6),
            delay=delays.to_json("ms"),
        )
        table.add(
            mode,
            phase,
            sum(o.events for o in runs),
            deliveries,
            sum(o.missing for o in runs),
            delays.p50 * 1e3,
            delays.p99 * 1e3,
            per_delivery[(mode, phase)] * 1e6,
        )
    for phase in ("steady", "burst"):
        result.ratios[f"fan-out {phase} CPU per delivery store/memory"] = ratio(
            per_delivery[("store", phase)], per_delivery[("memory", phase)]
        )
    result.tables.append(table)


async def _phases(
    pool: WatcherPool, target: FanoutTarget, step: Step
) -> tuple[PhaseOutcome, PhaseOutcome]:
    """Open the streams, run the steady and the burst phase, close the streams."""
    await pool.open(target.kind, target.address, step.watchers)
    try:
        steady = await run_phase(pool, target, lambda: steady_publisher(target, step))
        burst = await run_phase(pool, target, lambda: target.burst(step.burst_events))
        await target.after_burst()
    finally:
        await pool.close_streams()
    return steady, burst


async def restart(result: BenchResult, sizes: Sizes, workdir: Path) -> None:
    """Time from process start to the first answered call, with a full store."""
    retention = str(max(sizes.retained_events, 1))
    full = workdir / "full" / "data"
    await asyncio.to_thread(_fill_store, full, sizes.retained_events)
    cases = {
        f"store, {sizes.retained_events:,} events": (full, ("--event-retention", retention)),
        "store, empty": (workdir / "empty" / "data", ("--event-retention", retention)),
        "no store": (workdir / "none" / "data", ("--no-store",)),
    }
    table = Table(
        "restart to serving (process start to first answered QueryJobs)",
        ["case", "median ms", "max ms"],
    )
    medians: dict[str, float] = {}
    for case, (data_dir, extra) in cases.items():
        data_dir.mkdir(parents=True, exist_ok=True)
        times = [await _time_to_serving(data_dir, extra) for _ in range(sizes.restarts)]
        medians[case] = statistics.median(times)
        result.measure(
            kind="restart",
            case=case,
            restarts=len(times),
            median_ms=finite(medians[case] * 1e3),
            max_ms=finite(max(times) * 1e3),
        )
        table.add(case, medians[case] * 1e3, max(times) * 1e3)
    opened = [await asyncio.to_thread(_time_open, full, sizes.retained_events) for _ in range(3)]
    result.measure(
        kind="restart",
        case="open the store and load its events (in process)",
        restarts=len(opened),
        median_ms=finite(statistics.median(opened) * 1e3),
        max_ms=finite(max(opened) * 1e3),
    )
    table.add("open + load only (in process)", statistics.median(opened) * 1e3, max(opened) * 1e3)
    full_case = next(iter(cases))
    result.ratios["restart to serving with retained events / empty store"] = ratio(
        medians[full_case], medians["store, empty"]
    )
    result.tables.append(table)


def _fill_store(data_dir: Path, count: int) -> None:
    """A store holding ``count`` events shaped like a job's status changes."""
    from qapi_jobs.server.jobs.events import EventRecord
    from qapi_jobs.server.store import open_store

    data_dir.mkdir(parents=True, exist_ok=True)
    store = open_store(data_dir)
    try:
        now = time.time()
        statuses = ("created", "running", "waiting", "pending", "concluded", "null")
        batch: list[EventRecord] = []
        for seq in range(store.last_seq + 1, store.last_seq + count + 1):
            data = {"id": f"job{seq // 6}", "status": statuses[seq % 6]}
            batch.append(EventRecord(seq, now, "JOB_STATUS_CHANGE", MappingProxyType(data)))
            if len(batch) == 10_000:
                store.append(batch, {}, 1)
                batch = []
        if batch:
            store.append(batch, {}, 1)
    finally:
        store.close()


def _time_open(data_dir: Path, retention: int) -> float:
    """Seconds to open the store and load its retained events into an event log."""
    from qapi_jobs.server.jobs.events import EventLog
    from qapi_jobs.server.store import open_store

    started = time.perf_counter()
    store = open_store(data_dir)
    try:
        EventLog(journal=store, retention=max(retention, 1))
        return time.perf_counter() - started
    finally:
        store.close()


async def _time_to_serving(data_dir: Path, extra: Sequence[str]) -> float:
    argv = [
        PYTHON, "-m", "qapi_jobs.server", "--listen", "127.0.0.1:0", "--data-dir", str(data_dir),
        "--log-level", "warning", *extra,
    ]  # fmt: skip
    started = time.perf_counter()
    async with running(
        argv, data_dir.parent / "server.log", stdout_pipe=True, env=python_env()
    ) as child:
        line = await child.first_line(wait_seconds=service.START_TIMEOUT)
        address = line.removeprefix(service.LISTENING).strip().split(",")[0]
        from qapi_jobs.v1 import service_pb2, service_pb2_grpc

        async with grpc.aio.insecure_channel(address) as channel:
            stub = service_pb2_grpc.JobsServiceStub(channel)
            await stub.QueryJobs(service_pb2.QueryJobsRequest(), wait_for_ready=True)
            return time.perf_counter() - started
