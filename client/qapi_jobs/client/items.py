"""What the watch iterators yield.

``watch_events`` yields :class:`EventItem` for each event and a
:class:`Resync` whenever the program must (re)build its picture of the jobs
from a snapshot: at the start when a snapshot was asked for, and after the
server said the events since the last one are gone or it is another
instance (restarted).  With ``heartbeats=True`` it also yields
:class:`Heartbeat` on idle streams.  ``watch_jobs`` yields
:class:`JobsSnapshot`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from qapi_jobs.transcoder import encode_event, event_name
from qapi_jobs.transcoder.option_reader import value_name
from qapi_jobs.v1 import job_pb2, service_pb2, watch_pb2

RESYNC_INITIAL = "INITIAL"
"""Resync reason: the snapshot the watch was asked to start with."""
RESYNC_RECONNECTED = "RECONNECTED"
"""Resync reason: the stream broke before the server told where it was."""


@dataclass(frozen=True)
class EventItem:
    """One event, with its place in the server's history."""

    sequence: int
    instance_id: str
    event: service_pb2.Event
    synthetic: bool = False
    """The server made this event (see ``EventRecord.synthetic`` in watch.proto)."""

    @property
    def name(self) -> str:
        """The event's QAPI name, e.g. ``JOB_STATUS_CHANGE``."""
        return event_name(self.event) or ""

    @property
    def data(self) -> dict[str, Any]:
        """The event's data in QMP form (``{"id": "j1", "status": "running"}``)."""
        data: dict[str, Any] = encode_event(self.event).get("data", {})
        return data

    @property
    def job_id(self) -> str | None:
        """The job the event is about (``id`` or ``device`` in its data)."""
        data = self.data
        value = data.get("id", data.get("device"))
        return value if isinstance(value, str) else None

    def qmp(self) -> dict[str, Any]:
        """The event as QMP sends it: ``{"event", "data", "timestamp"}``."""
        return encode_event(self.event)


@dataclass(frozen=True)
class Resync:
    """The current state of every watched job; forget what you knew before.

    ``reason`` is ``INITIAL``, ``RECONNECTED``, or the server's ErrorInfo
    reason (``EVENTS_EXPIRED``, ``INSTANCE_CHANGED``).  The events that
    follow come after ``sequence``.
    """

    jobs: tuple[watch_pb2.JobSnapshot, ...]
    sequence: int
    instance_id: str
    reason: str

    def job(self, job_id: str) -> job_pb2.JobInfo | None:
        """The snapshot's entry for ``job_id``, if the job exists."""
        for snapshot in self.jobs:
            if snapshot.job.id == job_id:
                return snapshot.job
        return None


@dataclass(frozen=True)
class Heartbeat:
    """The stream is alive and in sync up to ``sequence``."""

    sequence: int
    instance_id: str


WatchItem = EventItem | Resync | Heartbeat


@dataclass(frozen=True)
class JobsSnapshot:
    """The watched jobs (newest first) as of event ``sequence``.

    ``resync`` is true when the watch had to reconnect to another server
    instance: jobs missing from this snapshot may have vanished with the
    old one.
    """

    jobs: tuple[job_pb2.JobInfo, ...]
    sequence: int
    instance_id: str
    resync: bool = False


_STATUS_BY_NAME: dict[str, job_pb2.JobStatus.ValueType] = {}


def status_name(status: job_pb2.JobStatus.ValueType) -> str:
    """The QAPI name of a job status, e.g. ``concluded``."""
    descriptor = job_pb2.JobStatus.DESCRIPTOR.values_by_number.get(status)
    if descriptor is None:
        return str(int(status))
    return value_name(descriptor) or descriptor.name


def status_value(status: job_pb2.JobStatus.ValueType | str) -> job_pb2.JobStatus.ValueType:
    """A job status from its QAPI name (``"concluded"``) or enum value."""
    if not isinstance(status, str):
        return status
    if not _STATUS_BY_NAME:
        for descriptor in job_pb2.JobStatus.DESCRIPTOR.values:
            name = value_name(descriptor)
            if name is not None:
                _STATUS_BY_NAME[name] = job_pb2.JobStatus.ValueType(descriptor.number)
    try:
        return _STATUS_BY_NAME[status]
    except KeyError:
        choices = ", ".join(_STATUS_BY_NAME)
        raise ValueError(f"unknown job status {status!r}; one of {choices}") from None
