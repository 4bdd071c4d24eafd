"""Job records for the durable store, and the jobs rebuilt from them after a restart.

A record holds what clients can see of a job (status, progress, error),
its transaction, its owner (opaque here: see :data:`~.job.CREATOR`) and the
files it creates (see JobDriver.created_files).  A restored job has no
driver that can run: :class:`RestoredDriver` only finalizes (nothing to do:
the work was finished before the stop) or, when it is aborted, hands the
files the job created to the :data:`RemoveFiles` callback of the backend
that knows where they live.  This layer never touches the files itself: a
record names them relative to the backend's data directory, and only the
backend can open that directory safely.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
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
RemoveFiles = Callable[[Sequence[CreatedFile]], None]
"""Removes the files an interrupted job created (blocking; run in a thread)."""

_log = logging.getLogger(__name__)


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
        "owner": job.owner,
        "files": [[f.path, f.device, f.inode, f.tag] for f in job.driver.created_files()],
    }


class RestoredDriver(JobDriver):
    """Stands in for the driver of a job restored from its record; it never runs."""

    job_type: ClassVar[str] = JobType.CREATE.value

    def __init__(self, files: Sequence[CreatedFile], remove: RemoveFiles | None) -> None:
        self._files = tuple(files)
        self._remove = remove

    async def run(self, ctx: JobContext) -> None:
        """Never called: a restored job is not started again."""
        raise JobFailed(INTERRUPTED)

    async def abort(self) -> None:
        """Have the backend remove what the job created; without a backend, leave it (logged)."""
        files, self._files = self._files, ()
        if not files:
            return
        if self._remove is None:
            for file in files:
                _log.warning("left %s behind: no backend here can remove it", file.path)
            return
        await asyncio.to_thread(self._remove, files)

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


def restored_job(data: Mapping[str, object], remove: RemoveFiles | None) -> tuple[Job, object]:
    """The job a record describes, and the key of its transaction.

    ``remove`` will remove the job's created files if it is aborted.
    """
    files = [_created_file(entry) for entry in _list(data["files"])]
    created_at = float(_number(data["created_at"]))
    driver_class = _driver_class(str(data["type"]), bool(data["block"]), bool(data["converging"]))
    block = bool(data["block"])
    speed = int(_number(data["speed"])) if block else 0
    spec = JobSpec(
        str(data["id"]),
        driver_class(files, remove),
        auto_finalize=bool(data["auto_finalize"]),
        auto_dismiss=bool(data["auto_dismiss"]),
        speed=speed,
    )
    job = Job(spec, RateLimiter())
    job.created_at = created_at
    owner = data.get("owner")  # records written before owners were kept have none
    job.owner = None if owner is None else str(owner)
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


def _created_file(entry: object) -> CreatedFile:
    if not isinstance(entry, list) or len(entry) not in (3, 4):
        raise ValueError(f"a created file was expected in a job record, not {entry!r}")
    tag = entry[3] if len(entry) == 4 else None  # older records have no tag
    return CreatedFile(
        str(entry[0]), _opt_int(entry[1]), _opt_int(entry[2]), None if tag is None else str(tag)
    )


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
