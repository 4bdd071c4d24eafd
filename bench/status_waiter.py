"""Waiting for a job to reach a status, fed by whichever event stream reports it."""

from __future__ import annotations

import asyncio
from collections import defaultdict


class StatusWaiter:
    """Futures for "job X reached status S", resolved by :meth:`feed`.

    Statuses seen before anyone waits are remembered, so a waiter registered
    after a fast job already concluded still resolves.
    """

    def __init__(self) -> None:
        self._seen: defaultdict[str, set[str]] = defaultdict(set)
        self._waiting: defaultdict[tuple[str, str], list[asyncio.Future[None]]] = defaultdict(list)

    def feed(self, job_id: str, status: str) -> None:
        """Record that ``job_id`` reached ``status`` and wake whoever waits for it."""
        self._seen[job_id].add(status)
        for future in self._waiting.pop((job_id, status), []):
            if not future.done():
                future.set_result(None)

    async def wait(self, job_id: str, status: str) -> None:
        """Return once ``job_id`` has reached ``status``."""
        if status in self._seen.get(job_id, ()):
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting[(job_id, status)].append(future)
        await future

    def forget(self, job_id: str) -> None:
        """Drop what is remembered about ``job_id`` (its id may be reused)."""
        self._seen.pop(job_id, None)
