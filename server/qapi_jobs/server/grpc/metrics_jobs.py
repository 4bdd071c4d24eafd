"""Job, event log and engine metrics, fed by the job manager's events.

A listener on the event log sees every event the moment it is published,
while the job it is about still exists: it counts events, starts and
conclusions, and times each job from ``created`` to ``concluded``.  What
is a state rather than a count (jobs by status, bytes copied so far by
running jobs, the log's size, the engine's health) is read when Prometheus
scrapes, on the event loop, so nothing is kept up to date between scrapes.

Bytes copied are those of block jobs (their progress is in bytes): the
final offset of each finished job (from BLOCK_JOB_COMPLETED or
BLOCK_JOB_CANCELLED) plus the current offset of each running one.  The
copy rate is the change of that sum per second between two scrapes at
least :data:`RATE_WINDOW` apart.
"""

from __future__ import annotations

import errno
import time
from collections import Counter as Tally
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from qapi_jobs.server.engines.backend import JobView
from qapi_jobs.server.engines.base import EngineReport
from qapi_jobs.server.jobs.errors import JobError
from qapi_jobs.server.jobs.events import (
    BLOCK_JOB_CANCELLED,
    BLOCK_JOB_COMPLETED,
    JOB_STATUS_CHANGE,
    EventRecord,
)
from qapi_jobs.server.jobs.job import error_text
from qapi_jobs.server.jobs.status import JobStatus

DURATION_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600, 14400)
"""Seconds; jobs take from milliseconds (a small create) to hours (a big mirror)."""
RATE_WINDOW = 1.0
"""Seconds; scrapes closer together than this report the previous rate."""
_CANCELLED = error_text(errno.ECANCELED)


def outcome(error: str | None) -> str:
    """``completed``, ``cancelled`` or ``failed``: how a concluded job ended."""
    if error is None:
        return "completed"
    return "cancelled" if error == _CANCELLED else "failed"


class JobMetrics(Collector):
    """Registers its counters in ``registry`` and collects the scrape-time values."""

    def __init__(
        self,
        manager: JobView,
        engine: EngineReport,
        registry: CollectorRegistry,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._manager = manager
        self._engine = engine
        self._clock = clock
        self._started_at: dict[str, tuple[str, float]] = {}
        self._published: Tally[str] = Tally()
        self._copied_finished: Tally[str] = Tally()
        self._finished: set[str] = set()
        self._rate_sample: tuple[float, Tally[str]] | None = None
        self._rates: dict[str, float] = {}
        self.started = Counter(
            "qapi_jobs_jobs_started", "Jobs created.", ("type",), registry=registry
        )
        self.concluded = Counter(
            "qapi_jobs_jobs_concluded",
            "Jobs concluded, by outcome (completed, cancelled, failed).",
            ("type", "outcome"),
            registry=registry,
        )
        self.duration = Histogram(
            "qapi_jobs_job_duration_seconds",
            "Time from a job's creation to its conclusion.",
            ("type", "outcome"),
            buckets=DURATION_BUCKETS,
            registry=registry,
        )
        registry.register(self)
        manager.events.add_listener(self._on_event)

    def _on_event(self, record: EventRecord) -> None:
        self._published[record.name] += 1
        if record.name in (BLOCK_JOB_COMPLETED, BLOCK_JOB_CANCELLED):
            device, offset = record.data.get("device"), record.data.get("offset")
            if isinstance(device, str) and isinstance(offset, int):
                self._copied_finished[str(record.data.get("type"))] += offset
                self._finished.add(device)
        if record.name != JOB_STATUS_CHANGE:
            return
        job_id, status = str(record.data["id"]), record.data["status"]
        if status == JobStatus.CREATED.value:
            job_type = self._manager.job_info(job_id).type.value
            self._started_at[job_id] = (job_type, self._clock())
            self.started.labels(job_type).inc()
        elif status == JobStatus.CONCLUDED.value:
            self._conclude(job_id)
        elif status == JobStatus.NULL.value:
            self._started_at.pop(job_id, None)
            self._finished.discard(job_id)

    def _conclude(self, job_id: str) -> None:
        started = self._started_at.pop(job_id, None)
        try:
            info = self._manager.job_info(job_id)
        except JobError:
            return
        how = outcome(info.error)
        self.concluded.labels(info.type.value, how).inc()
        if started is not None:
            self.duration.labels(info.type.value, how).observe(self._clock() - started[1])

    def copied_bytes(self) -> Tally[str]:
        """Bytes copied by block jobs so far, by job type (finished and running jobs)."""
        copied = Tally(self._copied_finished)
        for job in self._manager.query_block_jobs():
            if job.device not in self._finished:
                copied[job.type.value] += job.offset
        return copied

    def _copy_rates(self, copied: Tally[str]) -> dict[str, float]:
        now = self._clock()
        if self._rate_sample is None:
            self._rate_sample = (now, copied)
        elif now - self._rate_sample[0] >= RATE_WINDOW:
            then, before = self._rate_sample
            self._rates = {
                job_type: (copied[job_type] - before[job_type]) / (now - then)
                for job_type in copied
            }
            self._rate_sample = (now, copied)
        return self._rates

    def collect(self) -> Iterator[Metric]:
        """The scrape-time metrics."""
        jobs = GaugeMetricFamily(
            "qapi_jobs_jobs", "Jobs that exist now, by type and status.", labels=("type", "status")
        )
        by_state = Tally((job.type.value, job.status.value) for job in self._manager.query_jobs())
        for labels, count in sorted(by_state.items()):
            jobs.add_metric(labels, count)
        yield jobs
        copied = self.copied_bytes()
        copied_family = CounterMetricFamily(
            "qapi_jobs_copied_bytes", "Bytes copied by block jobs, by type.", labels=("type",)
        )
        for job_type, count in sorted(copied.items()):
            copied_family.add_metric((job_type,), count)
        yield copied_family
        rates = GaugeMetricFamily(
            "qapi_jobs_copy_rate_bytes_per_second",
            f"Bytes copied per second by block jobs, over at least {RATE_WINDOW:g} s.",
            labels=("type",),
        )
        for job_type, rate in sorted(self._copy_rates(copied).items()):
            rates.add_metric((job_type,), rate)
        yield rates
        yield from self._event_log()
        yield from self._engine_health()

    def _event_log(self) -> Iterator[Metric]:
        published = CounterMetricFamily(
            "qapi_jobs_events_published", "Events published, by name.", labels=("event",)
        )
        for name, count in sorted(self._published.items()):
            published.add_metric((name,), count)
        yield published
        log = self._manager.events
        yield GaugeMetricFamily(
            "qapi_jobs_event_log_events",
            "Events the log retains now (for watchers that resume).",
            value=log.last_seq - log.oldest_seq + 1,
        )
        yield GaugeMetricFamily(
            "qapi_jobs_event_log_capacity", "Events the log can retain.", value=log.retention
        )
        yield GaugeMetricFamily(
            "qapi_jobs_event_log_last_sequence",
            "Sequence number of the newest event.",
            value=log.last_seq,
        )
        yield GaugeMetricFamily(
            "qapi_jobs_event_subscribers",
            "Open subscriptions to the event log (watch streams and internal readers).",
            value=log.subscriber_count,
        )

    def _engine_health(self) -> Iterator[Metric]:
        health = self._engine.health()
        up = GaugeMetricFamily(
            "qapi_jobs_engine_up", "1 if the engine can run jobs now.", labels=("engine",)
        )
        up.add_metric((self._engine.name,), 1 if health.up else 0)
        yield up
        restarts = CounterMetricFamily(
            "qapi_jobs_engine_restarts",
            "Restarts of the engine's helper process (QEMU's storage daemon).",
            labels=("engine",),
        )
        restarts.add_metric((self._engine.name,), health.restarts)
        yield restarts
