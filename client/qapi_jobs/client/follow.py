"""Following one job: waiting for a status, and running a job to its end.

The logic is written once, as generators that *ask* for what they need
(the next watch item, a query, a verb) by yielding an operation and
receiving its result; the client runs them with its I/O (``_drive``).  An operation that fails
is thrown back into the generator, so the logic decides what a failure
means.

Both follow a WatchEvents stream filtered to the job and started with a
snapshot, so they see every status change in order, and they survive
reconnections (a :class:`~qapi_jobs.client.items.Resync` tells them the
state afresh).
"""

from __future__ import annotations

import contextlib
from collections.abc import Collection, Generator
from dataclasses import dataclass
from typing import TypeAlias, TypeVar

from qapi_jobs.client.errors import JobNotFound
from qapi_jobs.client.items import EventItem, Heartbeat, Resync, status_name, status_value
from qapi_jobs.v1 import job_pb2

_T = TypeVar("_T")

CONCLUDED = job_pb2.JOB_STATUS_CONCLUDED
NULL = job_pb2.JOB_STATUS_NULL
PENDING = job_pb2.JOB_STATUS_PENDING


@dataclass(frozen=True)
class NextItem:
    """Operation: the next item of the watch (EventItem, Resync or Heartbeat)."""


@dataclass(frozen=True)
class QueryJob:
    """Operation: the job's JobInfo from query-jobs (None if not listed)."""

    job_id: str


@dataclass(frozen=True)
class Start:
    """Operation: run the caller's start function (which creates the job)."""


@dataclass(frozen=True)
class Finalize:
    """Operation: job-finalize."""

    job_id: str


@dataclass(frozen=True)
class Dismiss:
    """Operation: job-dismiss."""

    job_id: str


@dataclass(frozen=True)
class Progress:
    """Operation: tell the caller's progress callback."""

    info: job_pb2.JobInfo


StatusSet: TypeAlias = (
    job_pb2.JobStatus.ValueType | str | Collection[job_pb2.JobStatus.ValueType | str]
)
"""One status or several, as enum values or QAPI names (``"concluded"``)."""


def status_set(statuses: StatusSet) -> frozenset[job_pb2.JobStatus.ValueType]:
    """``statuses`` as a set of enum values."""
    if isinstance(statuses, str):
        return frozenset({status_value(statuses)})
    if isinstance(statuses, int):
        return frozenset({job_pb2.JobStatus.ValueType(statuses)})
    return frozenset(status_value(s) for s in statuses)


Operation = NextItem | QueryJob | Start | Finalize | Dismiss | Progress
Logic = Generator[Operation, object, _T]
NEXT = NextItem()


@dataclass(frozen=True)
class JobOutcome:
    """How a job ended.

    ``info`` is the job's last JobInfo (status ``concluded`` unless it
    vanished first), ``error`` why it failed (None when it succeeded) and
    ``cancelled`` whether it was cancelled.
    """

    job_id: str
    info: job_pb2.JobInfo | None
    error: str | None
    cancelled: bool = False

    @property
    def ok(self) -> bool:
        """True when the job succeeded."""
        return self.error is None and not self.cancelled


class JobEndedError(Exception):
    """The job ended (or vanished) without reaching what was waited for."""

    def __init__(self, message: str, job_id: str, info: job_pb2.JobInfo | None = None) -> None:
        super().__init__(message)
        self.job_id = job_id
        self.info = info


class JobFailed(JobEndedError):
    """The job ended with an error (or was cancelled); see :attr:`outcome`."""

    def __init__(self, outcome: JobOutcome) -> None:
        what = outcome.error or "cancelled"
        super().__init__(f"job {outcome.job_id!r} failed: {what}", outcome.job_id, outcome.info)
        self.outcome = outcome


def _with_status(
    info: job_pb2.JobInfo | None, job_id: str, status: job_pb2.JobStatus.ValueType
) -> job_pb2.JobInfo:
    copy = job_pb2.JobInfo()
    if info is not None:
        copy.CopyFrom(info)
    else:
        copy.id = job_id
    copy.status = status
    return copy


def _status_change(item: object, job_id: str) -> job_pb2.JobStatus.ValueType | None:
    if isinstance(item, EventItem) and item.name == "JOB_STATUS_CHANGE" and item.job_id == job_id:
        return status_value(str(item.data["status"]))
    return None


def _names(statuses: Collection[job_pb2.JobStatus.ValueType]) -> str:
    return "/".join(sorted(status_name(s) for s in statuses))


def wait_logic(
    job_id: str, targets: Collection[job_pb2.JobStatus.ValueType], *, check: bool = True
) -> Logic[job_pb2.JobInfo]:
    """Wait until ``job_id`` has one of ``targets``; returns its JobInfo.

    With ``check``, a job that concludes with an error (failed or
    cancelled) raises JobFailed whatever the targets, even ``concluded``:
    a failure must not pass for the status waited for.  JobEndedError when
    the job concludes, vanishes or does not exist first (unless ``null``
    is wanted: a job that does not exist counts as gone).
    """
    known: job_pb2.JobInfo | None = None
    wanted = _names(targets)
    while True:
        item = yield NEXT
        if isinstance(item, Resync):
            known = item.job(job_id)
            if known is None:
                if NULL in targets:
                    return _with_status(None, job_id, NULL)
                raise JobEndedError(f"job {job_id!r} does not exist", job_id)
            status = known.status
            info = known
        else:
            changed = _status_change(item, job_id)
            if changed is None:
                continue
            status = changed
            if status not in targets and status not in (CONCLUDED, NULL):
                known = _with_status(known, job_id, status)
                continue
            queried = yield QueryJob(job_id)
            assert queried is None or isinstance(queried, job_pb2.JobInfo)
            if queried is not None and queried.status == status:
                info = queried
            else:
                info = _with_status(known, job_id, status)
            known = info
        if check and status == CONCLUDED and info.HasField("error"):
            raise JobFailed(JobOutcome(job_id, info, info.error))
        if status in targets:
            return info
        if status == NULL:
            raise JobEndedError(
                f"job {job_id!r} was dismissed before it was {wanted}", job_id, info
            )
        # A concluded job only moves on to null (dismissal), so it is the
        # end of the wait unless that is what is waited for.
        if status == CONCLUDED and NULL not in targets:
            raise JobEndedError(f"job {job_id!r} concluded without being {wanted}", job_id, info)


def run_logic(job_id: str, *, finalize: bool, dismiss: bool, progress: bool) -> Logic[JobOutcome]:
    """Start a job, follow it to its end and clean up after it.

    A job held in ``pending`` (auto-finalize off) is finalized when
    ``finalize``; a concluded job still listed (auto-dismiss off, or an
    image job) is dismissed when ``dismiss``.  With ``progress`` the
    caller hears of every status change and, on idle heartbeats, of the
    job's progress.
    """
    first = yield NEXT
    assert isinstance(first, Resync)
    yield Start()
    known: job_pb2.JobInfo | None = None
    error: str | None = None
    cancelled = False
    while True:
        item = yield NEXT
        status: job_pb2.JobStatus.ValueType | None = None
        if isinstance(item, Heartbeat):
            if progress:
                queried = yield QueryJob(job_id)
                if isinstance(queried, job_pb2.JobInfo):
                    known = queried
                    yield Progress(queried)
            continue
        if isinstance(item, Resync):
            snapshot = next((s for s in item.jobs if s.job.id == job_id), None)
            if snapshot is None:
                raise JobEndedError(
                    f"job {job_id!r} vanished from the server ({item.reason})", job_id, known
                )
            known, status = snapshot.job, snapshot.job.status
            held = snapshot.HasField("block_job") and not snapshot.block_job.auto_finalize
            if status == PENDING and held and finalize:
                yield Finalize(job_id)
        elif isinstance(item, EventItem) and item.job_id == job_id:
            if item.name == "BLOCK_JOB_COMPLETED" and "error" in item.data:
                error = str(item.data["error"])
            elif item.name == "BLOCK_JOB_CANCELLED":
                cancelled = True
            elif item.name == "BLOCK_JOB_PENDING" and finalize:
                yield Finalize(job_id)
            status = _status_change(item, job_id)
            if status is not None and (progress or status == CONCLUDED):
                queried = yield QueryJob(job_id)
                if isinstance(queried, job_pb2.JobInfo) and queried.status == status:
                    known = queried
                else:
                    known = _with_status(known, job_id, status)
                if progress:
                    yield Progress(known)
        if status == CONCLUDED:
            assert known is not None
            if known.HasField("error"):
                error = known.error
            if dismiss:
                with contextlib.suppress(JobNotFound):  # auto-dismissed meanwhile
                    yield Dismiss(job_id)
            return JobOutcome(job_id, known, error, cancelled)
        if status == NULL:
            return JobOutcome(
                job_id, known, error or "the job was removed before it concluded", cancelled
            )
