"""What clients see of jobs: query results and event payloads, in QMP wire form."""

from __future__ import annotations

from dataclasses import dataclass

from qapi_jobs.server.jobs.driver import IoOperation
from qapi_jobs.server.jobs.job import Job
from qapi_jobs.server.jobs.policy import BlockErrorAction, IoStatus
from qapi_jobs.server.jobs.status import JobStatus, JobType


@dataclass(frozen=True, slots=True)
class JobInfo:
    """One entry of query-jobs."""

    id: str
    type: JobType
    status: JobStatus
    current_progress: int
    total_progress: int
    error: str | None = None

    @classmethod
    def of(cls, job: Job) -> JobInfo:
        """The job as query-jobs shows it now."""
        return cls(
            job.id,
            job.type,
            job.status,
            job.progress_current,
            job.progress_total,
            job.error,
        )

    def to_qmp(self) -> dict[str, object]:
        """QMP JobInfo (``error`` only when present)."""
        result: dict[str, object] = {
            "id": self.id,
            "type": self.type.value,
            "status": self.status.value,
            "current-progress": self.current_progress,
            "total-progress": self.total_progress,
        }
        if self.error is not None:
            result["error"] = self.error
        return result


@dataclass(frozen=True, slots=True)
class BlockJobInfo:
    """One entry of query-block-jobs."""

    type: JobType
    device: str
    len: int
    offset: int
    busy: bool
    paused: bool
    speed: int
    io_status: IoStatus
    ready: bool
    status: JobStatus
    auto_finalize: bool
    auto_dismiss: bool
    error: str | None = None

    @classmethod
    def of(cls, job: Job) -> BlockJobInfo:
        """The block job as query-block-jobs shows it now."""
        return cls(
            type=job.type,
            device=job.id,
            len=job.progress_total,
            offset=job.progress_current,
            busy=job.busy,
            paused=job.pause_count > 0,
            speed=job.speed,
            io_status=job.iostatus,
            ready=job.is_ready,
            status=job.status,
            auto_finalize=job.auto_finalize,
            auto_dismiss=job.auto_dismiss,
            error=job.error if job.ret else None,
        )

    def to_qmp(self) -> dict[str, object]:
        """QMP BlockJobInfo (``error`` only when present)."""
        result: dict[str, object] = {
            "type": self.type.value,
            "device": self.device,
            "len": self.len,
            "offset": self.offset,
            "busy": self.busy,
            "paused": self.paused,
            "speed": self.speed,
            "io-status": self.io_status.value,
            "ready": self.ready,
            "status": self.status.value,
            "auto-finalize": self.auto_finalize,
            "auto-dismiss": self.auto_dismiss,
        }
        if self.error is not None:
            result["error"] = self.error
        return result


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Every job at one instant, and the last event that instant includes.

    Events with ``seq > last_seq`` describe changes after the snapshot.
    """

    instance_id: str
    last_seq: int
    change_version: int
    jobs: tuple[JobInfo, ...]
    block_jobs: tuple[BlockJobInfo, ...]


def status_change_data(job: Job) -> dict[str, object]:
    """JOB_STATUS_CHANGE data."""
    return {"id": job.id, "status": job.status.value}


def block_progress_data(job: Job) -> dict[str, object]:
    """Data of BLOCK_JOB_READY and BLOCK_JOB_CANCELLED."""
    return {
        "type": job.type.value,
        "device": job.id,
        "len": job.progress_total,
        "offset": job.progress_current,
        "speed": job.speed,
    }


def block_completed_data(job: Job) -> dict[str, object]:
    """BLOCK_JOB_COMPLETED data; ``error`` only for a failed job."""
    data = block_progress_data(job)
    if job.ret and job.error is not None:
        data["error"] = job.error
    return data


def block_pending_data(job: Job) -> dict[str, object]:
    """BLOCK_JOB_PENDING data (note ``id``, not ``device``)."""
    return {"type": job.type.value, "id": job.id}


def block_error_data(
    job: Job, operation: IoOperation, action: BlockErrorAction
) -> dict[str, object]:
    """BLOCK_JOB_ERROR data."""
    return {"device": job.id, "operation": operation.value, "action": action.value}
