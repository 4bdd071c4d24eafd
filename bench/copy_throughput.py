"""Benchmark 4: copy throughput and speed-limit accuracy.

Throughput: a full backup (``DriveBackup``, sync full, onto a new raw file)
on the builtin engine, against ``qemu-img convert -O raw`` and
``cp --sparse=always`` of the same files in the same run, rounds taking
turns.  Two images: half data and half holes (every other MiB), and fully
written.  Each copy is timed as the tool runs it, and again including an
fsync of the result, because the tools differ in whether they flush.

Speed limit: backups of the fully written image with ``speed`` set to 8, 64
and 512 MiB/s; the job's progress is sampled every 100 ms and the copy rate
after the first half second compared with the limit.  QEMU's own limiter
(``blockdev-backup`` with the same speed on qemu-storage-daemon) is measured
alongside.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

from bench import service
from bench.harness import BenchResult, Config, Table, finite, log, percentile, ratio
from bench.images import allocated_bytes, fsync_path, write_image
from bench.qmp import QmpClient
from bench.qsd import missing_tool, storage_daemon

NAME = "copy_throughput"
MIB = 1 << 20

Copier = Callable[[Path, Path], Awaitable[None]]
"""Copy the first file (raw) to the second (new raw file)."""


@dataclass(frozen=True)
class Sizes:
    """Image size, repetitions and the speed-limit windows."""

    image_bytes: int
    rounds: int
    limits_mib: tuple[int, ...]
    limit_window: float
    """Seconds of progress sampling per limit (less if the copy ends sooner)."""
    limit_skip: float
    """Seconds of progress ignored at the start (the limiter's first slice)."""


FULL = Sizes(
    image_bytes=1 << 30, rounds=3, limits_mib=(8, 64, 512), limit_window=4.0, limit_skip=0.5
)
SMOKE = Sizes(
    image_bytes=4 * MIB, rounds=1, limits_mib=(8, 64, 512), limit_window=0.4, limit_skip=0.1
)

SAMPLE_INTERVAL = 0.1


class CopyFailed(RuntimeError):
    """A copy tool exited with an error."""


async def run_tool(*argv: str) -> None:
    """Run a command and raise CopyFailed if it fails."""
    process = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )
    _, stderr = await process.communicate()
    if process.returncode != 0:
        raise CopyFailed(f"{argv[0]} exited with {process.returncode}: {stderr.decode().strip()}")


async def qemu_img_copy(source: Path, target: Path) -> None:
    """``qemu-img convert -f raw -O raw``."""
    await run_tool("qemu-img", "convert", "-f", "raw", "-O", "raw", str(source), str(target))


async def cp_copy(source: Path, target: Path) -> None:
    """``cp --sparse=always``."""
    await run_tool("cp", "--sparse=always", str(source), str(target))


@dataclass
class CopyTimes:
    """Durations of one copier on one image, over the rounds."""

    tool: list[float]
    durable: list[float]
    allocated: int = 0


async def time_copy(copier: Copier, source: Path, target: Path) -> tuple[float, float, int]:
    """Copy once; return (tool seconds, seconds including fsync, bytes allocated by the copy)."""
    await asyncio.to_thread(target.unlink, True)
    start = time.perf_counter()
    await copier(source, target)
    tool = time.perf_counter() - start
    await asyncio.to_thread(fsync_path, target)
    durable = time.perf_counter() - start
    allocated = allocated_bytes(target)
    await asyncio.to_thread(target.unlink)
    return tool, durable, allocated


@dataclass(frozen=True)
class LimitRun:
    """Progress of one speed-limited backup."""

    limit: int
    samples: list[tuple[float, int]]
    """(seconds since start, bytes done), while the copy was still running."""
    finished_within: float | None
    """When the copy had ended by (the first sample that found it done), if it did."""

    def rate(self, skip: float) -> float:
        """Bytes per second after ``skip`` seconds.

        Only samples taken while the copy ran count: once it is done the
        clock runs on but the bytes do not.  With too few of them, the rate
        is the whole copy's, up to the sample that found it done.
        """
        late = [s for s in self.samples if s[0] >= skip]
        if len(late) < 2:
            late = [(0.0, 0), *self.samples]
        (t0, b0), (t1, b1) = late[0], late[-1]
        return (b1 - b0) / (t1 - t0) if t1 > t0 else float("nan")


class SpeedTarget:
    """Something that runs a speed-limited copy whose progress can be read."""

    async def start(self, limit: int) -> None:
        """Start a backup of the full image limited to ``limit`` bytes/s."""
        raise NotImplementedError

    async def progress(self) -> tuple[int, bool]:
        """(bytes done, finished) of the current backup."""
        raise NotImplementedError

    async def stop(self) -> None:
        """Cancel the backup if it still runs and clean up after it."""
        raise NotImplementedError


async def sample_limited(target: SpeedTarget, limit: int, window: float) -> LimitRun:
    """Run one limited backup and sample its progress for ``window`` seconds."""
    samples: list[tuple[float, int]] = []
    finished_within = None
    await target.start(limit)
    start = time.perf_counter()
    try:
        while True:
            await asyncio.sleep(SAMPLE_INTERVAL)
            done, finished = await target.progress()
            elapsed = time.perf_counter() - start
            if finished:
                finished_within = elapsed
                if len(samples) < 2:
                    samples.append((elapsed, done))
                break
            samples.append((elapsed, done))
            if elapsed >= window:
                break
    finally:
        await target.stop()
    return LimitRun(limit, samples, finished_within)


class QemuSpeedTarget(SpeedTarget):
    """``blockdev-backup`` between two raw file nodes on qemu-storage-daemon."""

    def __init__(self, qmp: QmpClient, source: Path, workdir: Path, size: int) -> None:
        self._qmp = qmp
        self._source = source
        self._target = workdir / "qemu-limit-target.raw"
        self._size = size
        self._runs = 0
        self._job = ""

    async def start(self, limit: int) -> None:
        """Attach both files and start the backup."""
        self._runs += 1
        self._job = f"limit{self._runs}"
        with self._target.open("wb") as target:
            target.truncate(self._size)
        for node, path in ((f"src{self._runs}", self._source), (f"dst{self._runs}", self._target)):
            await self._qmp.execute(
                "blockdev-add",
                {
                    "driver": "raw",
                    "node-name": node,
                    "file": {"driver": "file", "filename": str(path)},
                },
            )
        await self._qmp.execute(
            "blockdev-backup",
            {
                "job-id": self._job,
                "device": f"src{self._runs}",
                "target": f"dst{self._runs}",
                "sync": "full",
                "speed": limit,
                "auto-dismiss": False,
            },
        )

    async def progress(self) -> tuple[int, bool]:
        """Read current-progress from query-jobs."""
        for job in await self._qmp.execute("query-jobs"):
            if job["id"] == self._job:
                return int(job["current-progress"]), job["status"] == "concluded"
        return 0, True

    async def stop(self) -> None:
        """Cancel, wait for the conclusion, dismiss, detach the nodes."""
        events = self._qmp.subscribe()
        try:
            _, finished = await self.progress()
            if not finished:
                await self._qmp.execute("job-cancel", {"id": self._job})
                while not finished:
                    event = await asyncio.wait_for(events.get(), 30)
                    data = event.get("data", {})
                    finished = data.get("id") == self._job and data.get("status") == "concluded"
            await self._qmp.execute("job-dismiss", {"id": self._job})
        finally:
            self._qmp.unsubscribe(events)
        for node in (f"src{self._runs}", f"dst{self._runs}"):
            await self._qmp.execute("blockdev-del", {"node-name": node})
        self._target.unlink(missing_ok=True)


def service_copier(svc: service.Service) -> Copier:
    """A DriveBackup on the builtin engine, timed until the job concluded."""
    counter = 0

    async def copy(source: Path, target: Path) -> None:
        nonlocal counter
        counter += 1
        job_id = f"copy{counter}"
        await svc.drive_backup(
            job_id, str(source.relative_to(svc.data_dir)), str(target.relative_to(svc.data_dir))
        )
        await svc.wait_status(job_id, "concluded")
        info = await svc.job_info(job_id)
        await svc.job_dismiss(job_id)
        svc.waiter.forget(job_id)
        if info is not None and info[2]:
            raise CopyFailed(f"backup {job_id} failed: {info[2]}")

    return copy


class ServiceSpeedTarget(SpeedTarget):
    """A speed-limited DriveBackup on the builtin engine."""

    def __init__(self, svc: service.Service, source: str) -> None:
        self._svc = svc
        self._source = source
        self._runs = 0
        self._job = ""

    async def start(self, limit: int) -> None:
        """Start the backup onto a new file."""
        self._runs += 1
        self._job = f"limit{self._runs}"
        await self._svc.drive_backup(self._job, self._source, f"{self._job}.raw", limit)

    async def progress(self) -> tuple[int, bool]:
        """current_progress from QueryJobs."""
        info = await self._svc.job_info(self._job)
        if info is None:
            return 0, True
        return info[1], info[0] == "concluded"

    async def stop(self) -> None:
        """Cancel unless concluded, wait for the conclusion, dismiss, remove the copy."""
        _, finished = await self.progress()
        if not finished:
            await self._svc.job_cancel(self._job)
        await self._svc.wait_status(self._job, "concluded")
        await self._svc.job_dismiss(self._job)
        self._svc.waiter.forget(self._job)
        (self._svc.data_dir / f"{self._job}.raw").unlink(missing_ok=True)


async def run(config: Config) -> BenchResult:
    """Create the images, time every copier, then the speed limits."""
    sizes = SMOKE if config.smoke else FULL
    result = BenchResult(NAME, config.smoke)
    result.parameters = {
        "image_bytes": sizes.image_bytes,
        "rounds": sizes.rounds,
        "speed_limits_mib_per_s": list(sizes.limits_mib),
        "limit_window_s": sizes.limit_window,
        "limit_skip_s": sizes.limit_skip,
    }
    copiers: dict[str, Copier] = {}
    speed_targets: dict[str, SpeedTarget] = {}
    async with AsyncExitStack() as stack:
        unavailable = service.missing()
        if unavailable is None:
            svc = await stack.enter_async_context(
                service.running_service(config.workdir / "service")
            )
            await svc.start_status_feed()
            images_dir = svc.data_dir
            copiers["service"] = service_copier(svc)
        else:
            result.skip("service", unavailable)
            images_dir = config.workdir / "images"
            images_dir.mkdir(parents=True, exist_ok=True)
        images = {"half-holes": images_dir / "half-holes.raw", "full": images_dir / "full.raw"}
        log(f"{NAME}: writing two {sizes.image_bytes // MIB} MiB images")
        for label, path in images.items():
            await asyncio.to_thread(
                write_image, path, sizes.image_bytes, holes=label == "half-holes"
            )

        tools: dict[str, Copier] = {"qemu-img": qemu_img_copy, "cp": cp_copy}
        for tool_name, tool_copier in tools.items():
            reason = missing_tool(tool_name)
            if reason is None:
                copiers[tool_name] = tool_copier
            else:
                result.skip(tool_name, reason)

        times: dict[tuple[str, str], CopyTimes] = {}
        for round_index in range(sizes.rounds):
            for label, source in images.items():
                for name, copier in copiers.items():
                    log(f"{NAME}: round {round_index + 1}, {label}, {name}")
                    seconds, durable, allocated = await time_copy(
                        copier, source, images_dir / f"copy-{name}.raw"
                    )
                    entry = times.setdefault((name, label), CopyTimes([], []))
                    entry.tool.append(seconds)
                    entry.durable.append(durable)
                    entry.allocated = allocated
        report_copies(result, times, sizes.image_bytes)

        if unavailable is None:
            speed_targets["service"] = ServiceSpeedTarget(svc, images["full"].name)
        qemu_missing = missing_tool("qemu-storage-daemon")
        if qemu_missing is None:
            qsd = await stack.enter_async_context(storage_daemon(config.workdir / "qsd"))
            speed_targets["qemu"] = QemuSpeedTarget(
                qsd.qmp, images["full"], config.workdir, sizes.image_bytes
            )
        else:
            result.skip("qemu speed limit", qemu_missing)
        runs: dict[tuple[str, int], LimitRun] = {}
        for limit_mib in sizes.limits_mib:
            for name, speed_target in speed_targets.items():
                log(f"{NAME}: speed limit {limit_mib} MiB/s, {name}")
                runs[(name, limit_mib)] = await sample_limited(
                    speed_target, limit_mib * MIB, sizes.limit_window
                )
        report_limits(result, runs, sizes.limit_skip)
        for path in images.values():
            path.unlink(missing_ok=True)
    return result


def report_copies(result: BenchResult, times: dict[tuple[str, str], CopyTimes], size: int) -> None:
    """Throughput rows, table and ratios (median of the rounds)."""
    table = Table(
        f"copy throughput ({size // MIB} MiB image, median of rounds)",
        ["image", "copier", "s", "MiB/s", "s incl. fsync", "MiB/s incl. fsync", "allocated MiB"],
    )
    medians: dict[tuple[str, str], tuple[float, float]] = {}
    for (name, label), entry in sorted(times.items(), key=lambda item: (item[0][1], item[0][0])):
        tool = percentile(entry.tool, 50)
        durable = percentile(entry.durable, 50)
        medians[(name, label)] = (tool, durable)
        result.measure(
            kind="copy",
            image=label,
            copier=name,
            image_bytes=size,
            runs=len(entry.tool),
            seconds=finite(tool),
            mib_per_s=finite(size / MIB / tool),
            seconds_incl_fsync=finite(durable),
            mib_per_s_incl_fsync=finite(size / MIB / durable),
            allocated_bytes=entry.allocated,
        )
        table.add(
            label,
            name,
            tool,
            size / MIB / tool,
            durable,
            size / MIB / durable,
            entry.allocated / MIB,
        )
    result.tables.append(table)
    for label in ("half-holes", "full"):
        ours = medians.get(("service", label))
        for baseline in ("qemu-img", "cp"):
            theirs = medians.get((baseline, label))
            result.ratios[f"{label} copy time service/{baseline}"] = ratio(
                ours[0] if ours else None, theirs[0] if theirs else None
            )
            result.ratios[f"{label} copy time incl. fsync service/{baseline}"] = ratio(
                ours[1] if ours else None, theirs[1] if theirs else None
            )


def report_limits(result: BenchResult, runs: dict[tuple[str, int], LimitRun], skip: float) -> None:
    """Speed-limit rows, table and accuracy (measured rate / limit)."""
    table = Table(
        "speed limit accuracy (measured / limit)",
        ["limit MiB/s", "target", "measured MiB/s", "accuracy", "sampled s", "copy ended"],
    )
    for (name, limit_mib), run_ in sorted(runs.items(), key=lambda item: (item[0][1], item[0][0])):
        rate = run_.rate(skip)
        accuracy = rate / run_.limit if run_.limit else float("nan")
        sampled = run_.samples[-1][0] if run_.samples else 0.0
        result.measure(
            kind="speed_limit",
            target=name,
            limit_mib_per_s=limit_mib,
            measured_mib_per_s=finite(rate / MIB),
            accuracy=finite(accuracy),
            sampled_seconds=finite(sampled),
            samples=len(run_.samples),
            copy_ended=run_.finished_within is not None,
        )
        table.add(limit_mib, name, rate / MIB, accuracy, sampled, run_.finished_within is not None)
        result.ratios[f"speed limit {limit_mib} MiB/s accuracy {name}"] = finite(accuracy)
    result.tables.append(table)
