"""WatchService.WatchJobs: throttled snapshots of one job or of all jobs.

A session waits on the manager's change counter, not on the event log:
progress changes have no events.  After each snapshot it sends, it
ignores changes for ``min_interval`` and then samples the state once, so
a display gets the newest state at a bounded rate however busy the jobs
are.  Snapshots that equal the last one sent are skipped, except that
one is repeated after a heartbeat interval without change, to keep the
stream alive through proxies.

The snapshot is sampled, so states that a job passes through within one
throttle window are not all shown; in particular a job that concludes and
is dismissed at once (auto-dismiss) ends the stream without a
``concluded`` snapshot.  WatchEvents reports every transition.
"""

from __future__ import annotations

import asyncio

import grpc

from qapi_jobs.server.engines.backend import JobView
from qapi_jobs.server.grpc.errors import job_error_status
from qapi_jobs.server.grpc.watch_encoding import Frame, job_info_message
from qapi_jobs.server.grpc.watch_status import StreamEnd, invalid_request, shutting_down
from qapi_jobs.server.grpc.watch_streams import StreamSession
from qapi_jobs.server.jobs.errors import JobError
from qapi_jobs.server.jobs.info import JobInfo
from qapi_jobs.v1 import job_pb2, watch_pb2

MIN_INTERVAL = 0.01
"""Seconds; shorter throttle intervals asked for are raised to this."""

_MESSAGE_CACHE_SIZE = 1024

Jobs = tuple[JobInfo, ...]


class JobSampler:
    """Reads the manager's jobs for WatchJobs streams, sharing what it can.

    The all-jobs snapshot is the same for every stream that samples at the
    same instant, so the last one is kept with its frame; job messages are
    kept per (immutable) JobInfo.
    """

    def __init__(self, manager: JobView) -> None:
        self._manager = manager
        self._messages: dict[JobInfo, job_pb2.JobInfo] = {}
        self._all_key: tuple[int, int] | None = None
        self._all: tuple[Jobs, Frame[watch_pb2.WatchJobsResponse]] | None = None

    def sample(self, job_id: str) -> tuple[Jobs, Frame[watch_pb2.WatchJobsResponse]] | None:
        """The watched jobs now and the frame showing them; None if the one job is gone."""
        manager = self._manager
        if not job_id:
            key = (manager.change_version, manager.events.last_seq)
            if self._all is None or self._all_key != key:
                jobs = tuple(manager.query_jobs())
                self._all_key, self._all = key, (jobs, self.frame(jobs))
            return self._all
        try:
            jobs = (manager.job_info(job_id),)
        except JobError:
            return None
        return jobs, self.frame(jobs)

    def frame(self, jobs: Jobs) -> Frame[watch_pb2.WatchJobsResponse]:
        """A WatchJobsResponse showing ``jobs`` as of the newest event."""
        return Frame(
            watch_pb2.WatchJobsResponse(
                jobs=[self._message(info) for info in jobs],
                sequence=self._manager.events.last_seq,
                instance_id=self._manager.instance_id,
            )
        )

    def _message(self, info: JobInfo) -> job_pb2.JobInfo:
        message = self._messages.get(info)
        if message is None:
            message = job_info_message(info)
            self._messages[info] = message
            if len(self._messages) > _MESSAGE_CACHE_SIZE:
                del self._messages[next(iter(self._messages))]
        return message


class WatchJobsSession(StreamSession[watch_pb2.WatchJobsResponse]):
    """One WatchJobs stream."""

    def __init__(
        self,
        manager: JobView,
        sampler: JobSampler,
        job_id: str,
        *,
        interval: float,
        heartbeat: float,
    ) -> None:
        super().__init__()
        self._manager = manager
        self._sampler = sampler
        self._job_id = job_id
        self._interval = interval
        self._heartbeat = heartbeat
        self._loop = asyncio.get_running_loop()
        self._sent: Jobs | None = None
        self._sent_at = 0.0
        self._version = manager.change_version

    async def next_frame(self) -> Frame[watch_pb2.WatchJobsResponse] | None:
        """The next snapshot worth sending; None once the watched job is gone."""
        self.check_stop()
        first = self._sent is None
        while True:
            changed = False if first else await self._wait_for_change()
            if changed:
                delay = self._sent_at + self._interval - self._loop.time()
                if delay > 0:
                    await self.park(asyncio.sleep(delay))
            self._version = self._manager.change_version
            sampled = self._sampler.sample(self._job_id)
            if sampled is None:
                return None
            jobs, frame = sampled
            if changed and jobs == self._sent:
                continue
            self._sent = jobs
            self._sent_at = self._loop.time()
            return frame

    async def _wait_for_change(self) -> bool:
        """Wait for a change; False when the heartbeat interval ran out first."""
        remaining = self._sent_at + self._heartbeat - self._loop.time()
        if remaining <= 0:
            return False
        try:
            async with asyncio.timeout(remaining):
                await self.park(self._manager.wait_for_change(self._version))
        except TimeoutError:
            return False
        return True

    def stop_status(self) -> grpc.Status:
        """UNAVAILABLE: watch again elsewhere."""
        return shutting_down(None, self._manager.instance_id)


def open_watch_jobs(
    manager: JobView,
    sampler: JobSampler,
    request: watch_pb2.WatchJobsRequest,
    *,
    default_interval: float,
    heartbeat: float,
) -> WatchJobsSession:
    """Check a WatchJobs request and open its session (raises StreamEnd)."""
    interval = default_interval
    if request.HasField("min_interval"):
        asked = request.min_interval.ToNanoseconds() / 1e9
        if asked < 0:
            raise invalid_request("min_interval must not be negative", "min_interval")
        if asked > 0:
            interval = max(asked, MIN_INTERVAL)
    if request.job_id:
        try:
            manager.job_info(request.job_id)
        except JobError as error:
            raise StreamEnd(job_error_status(error)) from None
    return WatchJobsSession(
        manager, sampler, request.job_id, interval=interval, heartbeat=heartbeat
    )
