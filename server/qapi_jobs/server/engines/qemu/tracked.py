"""The qemu engine's record of one job: QEMU's state as events and polls report it."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from qapi_jobs.server.engines.qemu.qmp import JsonObject
from qapi_jobs.server.engines.qemu.recipes import Launch
from qapi_jobs.server.jobs.info import BlockJobInfo, JobInfo
from qapi_jobs.server.jobs.policy import IoStatus
from qapi_jobs.server.jobs.status import JobStatus


@dataclass
class TrackedJob:
    """What the engine knows about one of its jobs."""

    launch: Launch
    status: JobStatus = JobStatus.UNDEFINED
    aborted: bool = False
    lost: bool = False
    """QEMU no longer knows the job (its daemon died); the engine concluded it."""
    error: str | None = None
    block: JsonObject = field(default_factory=dict)
    """The job's last query-block-jobs entry."""
    progress: tuple[int, int] = (0, 0)
    error_events: dict[tuple[object, object], float] = field(default_factory=dict)
    """When each kind of BLOCK_JOB_ERROR (operation, action) was last published."""
    errors_coalesced: int = 0
    """BLOCK_JOB_ERROR events left out because an identical one was published just before."""
    concluding: bool = False
    """QEMU reported ``concluded``; the engine has not published it yet."""
    settled: asyncio.Event = field(default_factory=asyncio.Event)
    gone: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def id(self) -> str:
        """The job's id, the client's and QEMU's alike."""
        return self.launch.job_id

    def info(self) -> JobInfo:
        """The job as query-jobs shows it."""
        return JobInfo(self.id, self.launch.job_type, self.status, *self.progress, error=self.error)

    def lost_data(self, text: str) -> dict[str, object]:
        """BLOCK_JOB_COMPLETED data for a job its daemon took down with it."""
        return {
            "type": self.launch.job_type.value,
            "device": self.id,
            "len": self.progress[1],
            "offset": self.progress[0],
            "speed": int(self.block.get("speed", 0)),
            "error": text,
        }

    def block_info(self) -> BlockJobInfo:
        """The job as query-block-jobs shows it: QEMU's last entry, the client's flags."""
        block = self.block
        return BlockJobInfo(
            type=self.launch.job_type,
            device=self.id,
            len=self.progress[1],
            offset=self.progress[0],
            busy=bool(block.get("busy", False)),
            paused=bool(block.get("paused", False)),
            speed=int(block.get("speed", self.launch.arguments.get("speed", 0))),
            io_status=IoStatus(block.get("io-status", "ok")),
            ready=self.status in (JobStatus.READY, JobStatus.STANDBY),
            status=self.status,
            auto_finalize=self.launch.auto_finalize,
            auto_dismiss=self.launch.auto_dismiss,
            error=self.error if self.aborted else None,
        )
