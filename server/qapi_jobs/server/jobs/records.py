"""Job records for the durable store, and the jobs rebuilt from them after a restart.

A record holds what clients can see of a job (status, progress, error),
its transaction and the files it creates (see JobDriver.created_files).  A
restored job has no driver that can run: :class:`RestoredDriver` only
finalizes (nothing to do: the work was finished before the stop) or
removes the files the job created when it is aborted.

Which files to remove: one whose device and inode were recorded is removed
only if the path still names that very file.  One the job was about to
create (its record was written before the file existed) is removed only if
it is a regular file changed (ctime) since the job was created: the job
held the path from then on, and the engine refused the job had the file
existed, so nothing else made it.  File systems stamp ctime from a coarse
clock (a few milliseconds behind), hence :data:`CTIME_SLACK`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import stat
from collections.abc import Mapping, Sequence
from functools import cache
from typing import ClassVar

from qapi_jobs.server.jobs.driver import CreatedFile, JobContext, JobDriver, JobFailed
from qapi_jobs.server.jobs.job import Job, JobSpec
from qapi_jobs.server.jobs.policy import IoStatus
from qapi_jobs.server.jobs.ratelimit import RateLimiter
from qapi_jobs.server.jobs.status import COMPLETED_STATES, JobStatus, JobType

INTERRUPTED = "the server stopped while the job ran"
"""The error of a job that was running when the server stopped."""
LIVE_STATES = frozenset({JobStatus.RUNNING, JobStatus.PAUSED, JobStatus.READY, JobStatus.STANDBY})
"""Statuses a job moves between while it runs.  A restart treats them alike, so a
record is not rewritten for a move among them: the event log has the exact one."""
CTIME_SLACK = 1.0
"""Seconds a file's ctime may lag the wall clock of the job that created it."""


def record_of(job: Job) -> dict[str, object]:
    """The durable record of ``job`` as it is now."""
    return {
        "id": job.id,
        "type": job.type.value,
        "block": job.block,
        "converging": job.converging,
        "status": job.status.value,
        "auto_finalize": job.auto_finalize,
        "auto_dismiss": job.auto_dismiss,
        "speed": job.speed,
        "current": job.progress_current,
        "total": job.progress_total,
        "ret": job.ret,
        "error": job.error,
        "txn": id(job.txn) if job.txn is not None else None,
        "created_at": job.created_at,
        "files": [[f.path, f.device, f.inode] for f in job.driver.created_files()],
    }


class RestoredDriver(JobDriver):
    """Stands in for the driver of a job restored from its record; it never runs."""

    job_type: ClassVar[str] = JobType.CREATE.value

    def __init__(self, files: Sequence[CreatedFile], created_at: float) -> None:
        self._files = tuple(files)
        self._created_at = created_at

    async def run(self, ctx: JobContext) -> None:
        """Never called: a restored job is not started again."""
        raise JobFailed(INTERRUPTED)

    async def abort(self) -> None:
        """Remove what the job created (see the module docstring)."""
        files, self._files = self._files, ()
        await asyncio.to_thread(remove_created, files, self._created_at)

    def created_files(self) -> Sequence[CreatedFile]:
        """The files the job created (until :meth:`abort` removed them)."""
        return self._files


@cache
def _driver_class(job_type: str, block: bool, converging: bool) -> type[RestoredDriver]:
    return type(
        f"Restored{job_type.title()}Driver",
        (RestoredDriver,),
        {"job_type": job_type, "block_job": block, "converging": converging},
    )


def remove_created(files: Sequence[CreatedFile], created_at: float) -> None:
    """Unlink the files a job created (blocking; see the module docstring)."""
    for file in files:
        with contextlib.suppress(FileNotFoundError):
            st = os.stat(file.path, follow_symlinks=False)
            if file.inode is not None:
                if (st.st_dev, st.st_ino) != (file.device, file.inode):
                    continue
            elif not stat.S_ISREG(st.st_mode) or st.st_ctime < created_at - CTIME_SLACK:
                continue
            os.unlink(file.path)


def restored_job(data: Mapping[str, object]) -> tuple[Job, object]:
    """The job a record describes, and the key of its transaction."""
    files = [CreatedFile(str(p), _opt_int(d), _opt_int(i)) for p, d, i in _list(data["files"])]
    created_at = float(_number(data["created_at"]))
    driver_class = _driver_class(str(data["type"]), bool(data["block"]), bool(data["converging"]))
    block = bool(data["block"])
    speed = int(_number(data["speed"])) if block else 0
    spec = JobSpec(
        str(data["id"]),
        driver_class(files, created_at),
        auto_finalize=bool(data["auto_finalize"]),
        auto_dismiss=bool(data["auto_dismiss"]),
        speed=speed,
    )
    job = Job(spec, RateLimiter())
    job.created_at = created_at
    job.set_status(JobStatus(data["status"]))
    job.started = True
    job.pause_count = 0
    job.deferred = job.status in COMPLETED_STATES
    job.run_done.set()
    job.speed = speed
    job.limiter.set_speed(speed)
    job.progress_current = int(_number(data["current"]))
    job.progress_total = int(_number(data["total"]))
    job.ret = int(_number(data["ret"]))
    error = data["error"]
    job.error = str(error) if error is not None else None
    job.iostatus = IoStatus.OK
    return job, data["txn"]


def _number(value: object) -> float:
    if not isinstance(value, int | float):
        raise ValueError(f"a number was expected in a job record, not {value!r}")
    return value


def _opt_int(value: object) -> int | None:
    return None if value is None else int(_number(value))


def _list(value: object) -> list[list[object]]:
    if not isinstance(value, list):
        raise ValueError(f"a list was expected in a job record, not {value!r}")
    return value
