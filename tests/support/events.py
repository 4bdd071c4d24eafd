"""Reading a job manager's event log in a compact form the tests can compare."""

from __future__ import annotations

import asyncio

from qapi_jobs.server.engines.backend import JobView
from qapi_jobs.server.jobs import events as ev
from qapi_jobs.server.jobs.events import EventRecord, Subscription
from qapi_jobs.server.jobs.info import JobInfo

from .timeouts import GUARD_TIMEOUT


def describe(record: EventRecord) -> str:
    """``id:status`` for status changes, ``[id:EVENT ...]`` for BLOCK_JOB_* events.

    An error event adds ``operation/action``; any event with an error adds ``error=...``.
    """
    data = record.data
    if record.name == ev.JOB_STATUS_CHANGE:
        return f"{data['id']}:{data['status']}"
    text = f"{data.get('device', data.get('id'))}:{record.name.removeprefix('BLOCK_JOB_')}"
    if record.name == ev.BLOCK_JOB_ERROR:
        text += f" {data['operation']}/{data['action']}"
    if "error" in data:
        text += f" error={data['error']}"
    return f"[{text}]"


class Events:
    """Every event of a manager from the start, collected as a test waits for them."""

    def __init__(self, subscription: Subscription) -> None:
        self._subscription = subscription
        self.seen: list[str] = []
        self.records: list[EventRecord] = []

    def _take(self, batch: list[EventRecord]) -> None:
        self.records.extend(batch)
        self.seen.extend(describe(record) for record in batch)

    async def until(self, text: str, count: int = 1) -> list[str]:
        """Wait for the ``count``-th event described as ``text``; return everything seen."""
        async with asyncio.timeout(GUARD_TIMEOUT):
            while self.seen.count(text) < count:
                batch = await self._subscription.next_batch()
                if not batch:
                    raise AssertionError(f"event log closed before {text!r}; saw {self.seen}")
                self._take(batch)
        return self.seen

    def drain(self) -> list[str]:
        """Collect what has been published already, without waiting."""
        self._take(self._subscription.get_nowait(10_000))
        return self.seen

    def of(self, job_id: str) -> list[str]:
        """The events seen so far about ``job_id``."""
        return [
            text
            for text in self.seen
            if text.startswith(f"{job_id}:") or text.startswith(f"[{job_id}:")
        ]

    def data(self, name: str) -> dict[str, object]:
        """The payload of the last event called ``name`` seen so far."""
        return dict(next(r.data for r in reversed(self.records) if r.name == name))


def assert_in_order(seen: list[str], expected: list[str]) -> None:
    """Every expected event was seen, in this order (other events may come between)."""
    remaining = iter(seen)
    missing = [event for event in expected if event not in remaining]
    assert not missing, f"{missing} not seen in order in {seen}"


async def wait_for_progress(manager: JobView, job_id: str, minimum: int = 1) -> JobInfo:
    """Wait (on change notifications, not on time) until the job has copied ``minimum`` bytes."""
    async with asyncio.timeout(GUARD_TIMEOUT):
        version = manager.change_version
        while True:
            info = manager.job_info(job_id)
            if info.current_progress >= minimum:
                return info
            version = await manager.wait_for_change(version)
