"""Running the real qapi-jobs server as a child process and talking to it.

The server runs as ``python -m qapi_jobs.server`` on an ephemeral
port of 127.0.0.1 with a fresh data directory; the benchmarks call it
through the generated stubs, without the typed client's conveniences, so
that what is measured is the service itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import grpc

from bench.latency import MessageSizes
from bench.processes import PYTHON, Child, ChildFailed, python_env, running
from bench.status_waiter import StatusWaiter

_REQUIRED_MODULES = {
    "qapi_jobs.v1.service_pb2_grpc": "the generated JobsService stubs (make generate)",
    "qapi_jobs.v1.watch_pb2_grpc": "the generated WatchService stubs (make generate)",
    "qapi_jobs.server.cli": "the server's command line (python -m qapi_jobs.server)",
}
LISTENING = "qapi-jobs listening on"
START_TIMEOUT = 60.0
THROTTLED_SOURCE_BYTES = 64 << 20
THROTTLED_SPEED = 64 << 10
"""Bytes per second of the backup that keeps running: 64 MiB take over 15 minutes."""


def missing() -> str | None:
    """None when the service can be started, else what is missing."""
    absent = []
    for module, what in _REQUIRED_MODULES.items():
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:
            found = False
        if not found:
            absent.append(f"{module} ({what})")
    if absent:
        return "not available: " + ", ".join(absent)
    return None


def status_name(value: int) -> str:
    """The QAPI name (``concluded``) of a JobStatus enum value."""
    from qapi_jobs.v1 import job_pb2

    return job_pb2.JobStatus.Name(value).removeprefix("JOB_STATUS_").lower()  # type: ignore[arg-type]


class Service:
    """A running server: its process, data directory and stubs on one channel."""

    def __init__(
        self, child: Child, address: str, data_dir: Path, channel: grpc.aio.Channel
    ) -> None:
        from qapi_jobs.v1 import service_pb2, service_pb2_grpc, watch_pb2_grpc

        self.child = child
        self.address = address
        self.data_dir = data_dir
        self.channel = channel
        self.pb = service_pb2
        self.jobs = service_pb2_grpc.JobsServiceStub(channel)
        self.watch = watch_pb2_grpc.WatchServiceStub(channel)
        self.waiter = StatusWaiter()
        self._feed: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int:
        """The server's process id."""
        return self.child.pid

    async def query_jobs(self) -> object:
        """QueryJobs."""
        return await self.jobs.QueryJobs(self.pb.QueryJobsRequest())

    async def job_pause(self, job_id: str) -> None:
        """JobPause."""
        await self.jobs.JobPause(self.pb.JobPauseRequest(id=job_id))

    async def job_resume(self, job_id: str) -> None:
        """JobResume."""
        await self.jobs.JobResume(self.pb.JobResumeRequest(id=job_id))

    async def job_cancel(self, job_id: str) -> None:
        """JobCancel."""
        await self.jobs.JobCancel(self.pb.JobCancelRequest(id=job_id))

    async def job_dismiss(self, job_id: str) -> None:
        """JobDismiss."""
        await self.jobs.JobDismiss(self.pb.JobDismissRequest(id=job_id))

    async def create_raw(self, job_id: str, filename: str, size: int) -> None:
        """BlockdevCreate of a raw image (``filename`` relative to the data directory)."""
        from qapi_jobs.v1 import image_pb2

        options = image_pb2.BlockdevCreateOptions(
            driver=image_pb2.IMAGE_DRIVER_RAW,
            raw=image_pb2.ImageCreateOptionsRaw(filename=filename, size=size),
        )
        await self.jobs.BlockdevCreate(
            self.pb.BlockdevCreateRequest(job_id=job_id, options=options)
        )

    async def drive_backup(self, job_id: str, device: str, target: str, speed: int = 0) -> None:
        """DriveBackup, sync full, onto a new raw file, left for JobDismiss."""
        from qapi_jobs.v1 import block_ops_pb2, image_pb2

        await self.jobs.DriveBackup(
            self.pb.DriveBackupRequest(
                job_id=job_id,
                device=device,
                target=target,
                format=image_pb2.IMAGE_DRIVER_RAW,
                sync=block_ops_pb2.MIRROR_SYNC_MODE_FULL,
                mode=block_ops_pb2.NEW_IMAGE_MODE_ABSOLUTE_PATHS,
                speed=speed,
                auto_dismiss=False,
            )
        )

    async def job_info(self, job_id: str) -> tuple[str, int, str] | None:
        """(status, current progress, error) of one job from QueryJobs; None if it is gone."""
        reply = await self.jobs.QueryJobs(self.pb.QueryJobsRequest())
        for job in reply.result:
            if job.id == job_id:
                return status_name(job.status), job.current_progress, job.error
        return None

    async def start_status_feed(self) -> None:
        """Follow JOB_STATUS_CHANGE on one watch stream into :attr:`waiter`.

        Returns once the stream's initial snapshot is through, so no later
        status change can be missed.
        """
        if self._feed is not None:
            return
        from qapi_jobs.v1 import watch_pb2

        call = self.watch.WatchEvents(
            watch_pb2.WatchEventsRequest(
                send_initial_snapshot=True, event_names=["JOB_STATUS_CHANGE"]
            )
        )
        ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        async def feed() -> None:
            async for message in call:
                item = message.WhichOneof("item")
                if item == "event":
                    change = message.event.event.job_status_change
                    self.waiter.feed(change.id, status_name(change.status))
                elif item == "snapshot":
                    job = message.snapshot.job
                    self.waiter.feed(job.id, status_name(job.status))
                elif item == "snapshot_end" and not ready.done():
                    ready.set_result(None)

        def ended(_: asyncio.Task[None]) -> None:
            if not ready.done():
                ready.set_exception(RuntimeError("the status feed ended before its snapshot"))

        self._feed = asyncio.create_task(feed(), name="service-status-feed")
        self._feed.add_done_callback(ended)
        await asyncio.wait_for(ready, START_TIMEOUT)

    async def stop_status_feed(self) -> None:
        """End the status feed stream."""
        if self._feed is not None:
            self._feed.cancel()
            with contextlib.suppress(asyncio.CancelledError, grpc.aio.AioRpcError):
                await self._feed
            self._feed = None

    async def wait_status(self, job_id: str, status: str) -> None:
        """Wait (through the status feed) until ``job_id`` reaches ``status``."""
        await self.waiter.wait(job_id, status)

    async def start_throttled_backup(self, job_id: str) -> str:
        """A backup that keeps running for the whole benchmark; returns its id."""
        source = self.data_dir / f"{job_id}-source.raw"
        await asyncio.to_thread(_write_data_file, source, THROTTLED_SOURCE_BYTES)
        await self.drive_backup(job_id, source.name, f"{job_id}-target.raw", THROTTLED_SPEED)
        return job_id

    async def control_message_sizes(self, job_id: str) -> dict[str, MessageSizes]:
        """Serialized sizes of the control RPCs as the benchmark sends them."""
        reply = await self.jobs.QueryJobs(self.pb.QueryJobsRequest())
        pause = self.pb.JobPauseRequest(id=job_id)
        resume = self.pb.JobResumeRequest(id=job_id)
        return {
            "query-jobs": MessageSizes(0, reply.ByteSize()),
            "job-pause": MessageSizes(pause.ByteSize(), self.pb.JobPauseResponse().ByteSize()),
            "job-resume": MessageSizes(resume.ByteSize(), self.pb.JobResumeResponse().ByteSize()),
        }


def _write_data_file(path: Path, size: int) -> None:
    block = b"\xa5" * (1 << 20)
    with path.open("wb") as file:
        for _ in range(size // len(block)):
            file.write(block)


LOAD_LIMITS = (
    "--max-streams-per-connection", "10000",
    "--max-running-jobs", "10000",
    "--max-jobs", "100000",
)  # fmt: skip
"""The benchmarks start bursts of jobs, one call each on one connection: more than the
defaults allow.  They measure speed, not the limits (tests/security checks those)."""


@asynccontextmanager
async def running_service(workdir: Path, extra_args: Sequence[str] = ()) -> AsyncIterator[Service]:
    """A fresh server with its data directory in ``workdir/data``, stopped afterwards."""
    data_dir = workdir / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    argv = [
        PYTHON,
        "-m",
        "qapi_jobs.server",
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        str(data_dir),
        "--log-level",
        "warning",
        "--shutdown-grace",
        "1",
        *LOAD_LIMITS,
        *extra_args,
    ]
    async with running(argv, workdir / "server.log", stdout_pipe=True, env=python_env()) as child:
        line = await child.first_line(wait_seconds=START_TIMEOUT)
        if not line.startswith(LISTENING):
            raise ChildFailed(f"unexpected first line from the server: {line!r}")
        address = line.removeprefix(LISTENING).strip().split(",")[0]
        async with grpc.aio.insecure_channel(address) as channel:
            await asyncio.wait_for(channel.channel_ready(), START_TIMEOUT)
            service = Service(child, address, data_dir, channel)
            try:
                yield service
            finally:
                await service.stop_status_feed()
