"""``--wait``: start jobs, follow them to their outcome, exit with it.

Every command that starts jobs (one with a ``job-id`` member, or a
``transaction`` of actions that have one) gets ``--wait``.  The watch is
opened (with a snapshot) before the command is sent, so a job that fails
at once, or ends and is dismissed at once, is still seen.  A job is done
when it concludes, when it is ``ready`` (a converging job such as
drive-mirror: it keeps mirroring until job-complete or a cancel) or, when
``auto-finalize`` was turned off, when it waits in ``pending``.  On a
terminal the jobs show as live progress bars, otherwise as one line per
change; the exit code is 0 when every job succeeded and 9 when one failed
or was cancelled.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rich.progress import BarColumn, DownloadColumn, Progress, TaskID, TextColumn

from qapi_jobs.client.cli import exitcodes
from qapi_jobs.client.cli.output import console, percent, print_json
from qapi_jobs.client.commandinfo import CommandInfo
from qapi_jobs.client.items import EventItem, Heartbeat, Resync, status_name, status_value
from qapi_jobs.client.sync_client import JobsClient
from qapi_jobs.transcoder import message_to_qmp
from qapi_jobs.v1 import job_pb2

JOB_ID = "job-id"
DEVICE = "device"
ACTIONS = "actions"
PROGRESS_INTERVAL = 1.0
"""Seconds between progress updates while nothing else happens."""

CONCLUDED = job_pb2.JOB_STATUS_CONCLUDED
READY = job_pb2.JOB_STATUS_READY
PENDING = job_pb2.JOB_STATUS_PENDING
NULL = job_pb2.JOB_STATUS_NULL


def starts_jobs(info: CommandInfo) -> bool:
    """Whether the command starts jobs (it names one, or takes actions that may)."""
    return any(member.name in (JOB_ID, ACTIONS) for member in info.members)


def _job_of(arguments: Mapping[str, Any]) -> str | None:
    # QEMU names a block job after its device when no id is given.
    job_id = arguments.get(JOB_ID, arguments.get(DEVICE))
    return job_id if isinstance(job_id, str) else None


def started_jobs(arguments: Mapping[str, Any]) -> list[str]:
    """The ids of the jobs a command with these QMP arguments starts."""
    actions = arguments.get(ACTIONS)
    if isinstance(actions, list):
        found = (_job_of(action.get("data", {})) for action in actions if isinstance(action, dict))
        return [job_id for job_id in found if job_id is not None]
    job_id = _job_of(arguments)
    return [] if job_id is None else [job_id]


def done_statuses(arguments: Mapping[str, Any]) -> frozenset[job_pb2.JobStatus.ValueType]:
    """The statuses at which ``--wait`` stops following a job."""
    held = arguments.get("auto-finalize") is False
    return frozenset({CONCLUDED, READY, PENDING} if held else {CONCLUDED, READY})


@dataclass
class _Job:
    """What ``--wait`` knows of one job."""

    job_id: str
    info: job_pb2.JobInfo | None = None
    error: str | None = None
    seen: bool = False
    events: list[str] = field(default_factory=list)

    @property
    def status(self) -> job_pb2.JobStatus.ValueType | None:
        return None if self.info is None else self.info.status


class _Display:
    """Live bars on a terminal, one line per change elsewhere (nothing with --json)."""

    def __init__(self, job_ids: Iterable[str], *, quiet: bool) -> None:
        self._quiet = quiet
        self._out = console()
        self._live = not quiet and self._out.is_terminal
        self._bars = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
            DownloadColumn(binary_units=True),
            console=self._out,
        )
        self._tasks: dict[str, TaskID] = {}
        self._last: dict[str, str] = {}
        if self._live:
            for job_id in job_ids:
                self._tasks[job_id] = self._bars.add_task(job_id, total=None)

    def __enter__(self) -> _Display:
        if self._live:
            self._bars.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live:
            self._bars.stop()

    def show(self, job: _Job) -> None:
        """Show the job's latest state."""
        info = job.info
        if self._quiet or info is None:
            return
        status = status_name(info.status)
        if self._live:
            task = self._tasks[job.job_id]
            if info.total_progress:
                self._bars.update(task, completed=info.current_progress, total=info.total_progress)
            elif info.status == CONCLUDED and job.error is None:
                # Dismissed before its last progress was read: it did finish.
                total = self._bars.tasks[task].total or 1
                self._bars.update(task, completed=total, total=total)
            self._bars.update(task, description=f"{job.job_id} {status}")
            return
        line = f"{job.job_id} {status} {percent(info)}".rstrip()
        if self._last.get(job.job_id) != line:
            self._last[job.job_id] = line
            self._out.print(line, markup=False, highlight=False)


def follow(
    client: JobsClient,
    job_ids: list[str],
    start: Callable[[], object],
    *,
    done: frozenset[job_pb2.JobStatus.ValueType],
    json: bool,
) -> int:
    """Start the jobs with ``start()``, follow them until each is done and
    return the exit code: OK, or JOB_FAILED when one failed."""
    if not job_ids:  # e.g. a transaction of actions that start no job
        start()
        return exitcodes.OK
    jobs = {job_id: _Job(job_id) for job_id in job_ids}
    items = client.watch_events(
        snapshot=True,
        job_ids=job_ids,
        heartbeat_interval=PROGRESS_INTERVAL,
        heartbeats=True,
    )
    with contextlib.closing(items), _Display(job_ids, quiet=json) as display:
        first = next(items)
        assert isinstance(first, Resync)
        start()
        for item in items:
            # A job that is done stays as it was (an auto-dismissed one goes on to null).
            active = {k: job for k, job in jobs.items() if not _finished(job, done)}
            if not active:
                break
            if isinstance(item, Heartbeat):
                _refresh(client, active.values(), display)
            elif isinstance(item, Resync):
                for job in active.values():
                    info = item.job(job.job_id)
                    if info is not None:
                        _update(job, info, display)
            elif isinstance(item, EventItem) and item.job_id in active:
                _event(client, active[item.job_id], item, display)
            if all(_finished(job, done) for job in jobs.values()):
                break
    return _report(jobs.values(), json=json)


def _update(job: _Job, info: job_pb2.JobInfo, display: _Display) -> None:
    job.info, job.seen = info, True
    if info.HasField("error") and info.status == CONCLUDED:
        job.error = info.error
    display.show(job)


def _refresh(client: JobsClient, jobs: Iterable[_Job], display: _Display) -> None:
    listed = {info.id: info for info in client.query_jobs()}
    for job in jobs:
        info = listed.get(job.job_id)
        if info is not None and info.status == job.status:
            _update(job, info, display)


def _event(client: JobsClient, job: _Job, item: EventItem, display: _Display) -> None:
    data = item.data
    if item.name == "BLOCK_JOB_COMPLETED" and "error" in data:
        job.error = str(data["error"])
    elif item.name == "BLOCK_JOB_CANCELLED":
        job.error = job.error or "cancelled"
    elif item.name == "JOB_STATUS_CHANGE":
        status = status_value(str(data["status"]))
        info = client.find_job(job.job_id)
        if info is None or info.status != status:
            # Moved on, or dismissed at once: the progress is not known.
            info = job_pb2.JobInfo(id=job.job_id, status=status)
            if job.info is not None:
                info.type = job.info.type
        _update(job, info, display)


def _finished(job: _Job, done: frozenset[job_pb2.JobStatus.ValueType]) -> bool:
    return job.status in done or (job.seen and job.status == NULL)


def _job_json(job: _Job) -> dict[str, Any]:
    info = job.info
    if info is None or info.type == job_pb2.JOB_TYPE_UNSPECIFIED:
        # Dismissed before it could be queried: only its id and status are known.
        status = "unknown" if info is None else status_name(info.status)
        out: dict[str, Any] = {"id": job.job_id, "status": status}
        if job.error is not None:
            out["error"] = job.error
        return out
    known: dict[str, Any] = message_to_qmp(info)
    return known


def _report(jobs: Iterable[_Job], *, json: bool) -> int:
    code = exitcodes.OK
    for job in jobs:
        if json:
            print_json(_job_json(job))
        if job.error is not None or job.status == NULL:
            what = job.error or "the job was removed before it concluded"
            print(f"qapi-jobs: job {job.job_id!r} failed: {what}", file=sys.stderr)
            code = exitcodes.JOB_FAILED
    return code
