"""Benchmark 1: latency of unary job RPCs, against a bare gRPC echo and against QMP.

Four targets answer the same questions in one run, their calls interleaved
round by round:

* the service: ``QueryJobs`` with one job, ``JobPause`` / ``JobResume`` of a
  throttled running backup;
* a bare grpc.aio echo with the very same request and response sizes (the
  floor the service's code sits on);
* qemu-storage-daemon over QMP: ``query-jobs``, ``job-pause``, ``job-resume``
  of a throttled running backup (what QEMU users have today);
* the service with its qemu engine, the same calls as the service's, each
  of which the engine forwards to its own qemu-storage-daemon.
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from dataclasses import dataclass

import grpc

from bench import service
from bench.echo_service import reply_method
from bench.harness import BenchResult, Config, Distribution, Table, finite, log, ratio
from bench.latency import (
    Alternating,
    Call,
    MessageSizes,
    Timings,
    single,
    time_interleaved,
)
from bench.processes import PYTHON, python_env, running
from bench.qmp import QmpClient
from bench.qsd import missing_tool, storage_daemon

NAME = "control_latency"
OPERATIONS = ("query-jobs", "job-pause", "job-resume")


@dataclass(frozen=True)
class Sizes:
    """How many calls to time."""

    rounds: int
    per_round: int
    warmup: int


FULL = Sizes(rounds=10, per_round=300, warmup=200)
SMOKE = Sizes(rounds=2, per_round=15, warmup=5)


# Used for the echo when the service cannot be measured: one JobInfo in a
# query-jobs reply, a short job id in pause and resume.
_DEFAULT_SIZES = {
    "query-jobs": MessageSizes(0, 40),
    "job-pause": MessageSizes(12, 0),
    "job-resume": MessageSizes(12, 0),
}


async def run(config: Config) -> BenchResult:
    """Measure every target and compute the ratios."""
    sizes = SMOKE if config.smoke else FULL
    result = BenchResult(NAME, config.smoke)
    result.parameters = {
        "rounds": sizes.rounds,
        "calls_per_round": sizes.per_round,
        "warmup_calls": sizes.warmup,
        "concurrency": 1,
    }
    probes: list[Alternating] = []
    message_sizes = dict(_DEFAULT_SIZES)
    async with AsyncExitStack() as stack:
        unavailable = service.missing()
        if unavailable is None:
            svc = await stack.enter_async_context(service.running_service(config.workdir / "svc"))
            job_id = await svc.start_throttled_backup("throttled")
            probes.append(single("service query-jobs", svc.query_jobs, svc.pid))
            probes.append(
                Alternating(
                    [
                        ("service job-pause", lambda: svc.job_pause(job_id)),
                        ("service job-resume", lambda: svc.job_resume(job_id)),
                    ],
                    svc.pid,
                )
            )
            message_sizes = await svc.control_message_sizes(job_id)
        else:
            result.skip("service", unavailable)

        baseline = await stack.enter_async_context(
            running(
                [PYTHON, "-m", "bench.baseline_server"],
                config.workdir / "baseline-server.log",
                stdout_pipe=True,
                env=python_env(),
            )
        )
        port = int((await baseline.first_line(wait_seconds=30)).split()[1])
        channel = await stack.enter_async_context(grpc.aio.insecure_channel(f"127.0.0.1:{port}"))
        await channel.channel_ready()
        for operation in OPERATIONS:
            call = echo_call(channel, message_sizes[operation])
            probes.append(single(f"echo {operation}", call, baseline.pid))

        qemu_missing = missing_tool("qemu-storage-daemon")
        if qemu_missing is None and unavailable is None:
            qemu_svc = await stack.enter_async_context(
                service.running_service(config.workdir / "svc-qemu", ("--engine", "qemu"))
            )
            qemu_job = await qemu_svc.start_throttled_backup("throttled")
            probes.append(single("service-qemu query-jobs", qemu_svc.query_jobs, qemu_svc.pid))
            probes.append(
                Alternating(
                    [
                        ("service-qemu job-pause", lambda: qemu_svc.job_pause(qemu_job)),
                        ("service-qemu job-resume", lambda: qemu_svc.job_resume(qemu_job)),
                    ],
                    qemu_svc.pid,
                )
            )
        else:
            result.skip("service-qemu", qemu_missing or unavailable or "")
        if qemu_missing is None:
            qsd = await stack.enter_async_context(storage_daemon(config.workdir / "qsd"))
            qmp_job = await start_qmp_throttled_backup(qsd.qmp)
            qsd_pid = qsd.child.pid
            probes.append(single("qmp query-jobs", lambda: qsd.qmp.execute("query-jobs"), qsd_pid))
            probes.append(
                Alternating(
                    [
                        ("qmp job-pause", lambda: qsd.qmp.execute("job-pause", {"id": qmp_job})),
                        ("qmp job-resume", lambda: qsd.qmp.execute("job-resume", {"id": qmp_job})),
                    ],
                    qsd_pid,
                )
            )
        else:
            result.skip("qmp", qemu_missing)

        log(f"{NAME}: timing {len(probes)} probes, {sizes.rounds} x {sizes.per_round} calls each")
        timings = await time_interleaved(probes, sizes.rounds, sizes.per_round, sizes.warmup)
    report(result, timings, message_sizes)
    return result


def echo_call(channel: grpc.aio.Channel, shape: MessageSizes) -> Call:
    """One echo RPC sending and receiving as many bytes as ``shape`` says."""
    method: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(
        reply_method(shape.response)
    )
    request = bytes(shape.request)

    async def call() -> bytes:
        return await method(request)

    return call


async def start_qmp_throttled_backup(qmp: QmpClient) -> str:
    """A backup in qemu-storage-daemon that keeps running (1 GiB at 64 KiB/s)."""
    size = 1 << 30
    await qmp.execute("blockdev-add", {"driver": "null-co", "node-name": "src", "size": size})
    await qmp.execute("blockdev-add", {"driver": "null-co", "node-name": "dst", "size": size})
    await qmp.execute(
        "blockdev-backup",
        {"job-id": "throttled", "device": "src", "target": "dst", "sync": "full", "speed": 65536},
    )
    return "throttled"


def report(result: BenchResult, timings: Timings, sizes: dict[str, MessageSizes]) -> None:
    """Fill the result's measurements, ratios and table."""
    table = Table(
        "control latency (sequential unary calls; server CPU per call)",
        ["operation", "target", "req B", "resp B", "calls", "p50 us", "p99 us", "max us", "CPU us"],
    )
    summaries: dict[tuple[str, str], Distribution] = {}
    cpu: dict[tuple[str, str], float | None] = {}
    for operation in OPERATIONS:
        for target in ("service", "service-qemu", "echo", "qmp"):
            name = f"{target} {operation}"
            values = timings.samples.get(name)
            if not values:
                continue
            dist = Distribution.of(values)
            summaries[(target, operation)] = dist
            cpu[(target, operation)] = timings.cpu_per_call(name)
            cpu_us = cpu[(target, operation)]
            shape = sizes[operation] if target in ("service", "echo") else None
            result.measure(
                target=target,
                operation=operation,
                request_bytes=shape.request if shape else None,
                response_bytes=shape.response if shape else None,
                server_cpu_us_per_call=finite(cpu_us * 1e6) if cpu_us is not None else None,
                **dist.to_json("us"),
            )
            table.add(
                operation,
                target,
                shape.request if shape else None,
                shape.response if shape else None,
                dist.count,
                dist.p50 * 1e6,
                dist.p99 * 1e6,
                dist.max * 1e6,
                cpu_us * 1e6 if cpu_us is not None else None,
            )
    for operation in OPERATIONS:
        ours = summaries.get(("service", operation))
        for baseline in ("echo", "qmp"):
            theirs = summaries.get((baseline, operation))
            for stat in ("p50", "p99"):
                result.ratios[f"{operation} {stat} service/{baseline}"] = ratio(
                    getattr(ours, stat) if ours else None, getattr(theirs, stat) if theirs else None
                )
            result.ratios[f"{operation} server CPU service/{baseline}"] = ratio(
                cpu.get(("service", operation)), cpu.get((baseline, operation))
            )
        # The qemu engine against the daemon it drives (its server CPU leaves QEMU's out).
        ours = summaries.get(("service-qemu", operation))
        theirs = summaries.get(("qmp", operation))
        for stat in ("p50", "p99"):
            result.ratios[f"{operation} {stat} service-qemu/qmp"] = ratio(
                getattr(ours, stat) if ours else None, getattr(theirs, stat) if theirs else None
            )
    result.tables.append(table)
