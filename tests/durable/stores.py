"""A journal that passes everything to the real store, for tests to override one method of."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import Executor

from qapi_jobs.server.jobs.events import EventRecord, JobRecordData
from qapi_jobs.server.store import Store


class StoreWrapper:
    """The real store behind the event log's journal interface; subclasses change ``append``."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.log_id = store.log_id

    @property
    def last_seq(self) -> int:
        return self.store.last_seq

    @property
    def oldest_seq(self) -> int:
        return self.store.oldest_seq

    @property
    def writer(self) -> Executor:
        return self.store.writer

    def read_events(self, first: int, last: int) -> list[EventRecord]:
        return self.store.read_events(first, last)

    def timestamps(self, first: int) -> list[float]:
        return self.store.timestamps(first)

    def append(
        self,
        events: Sequence[EventRecord],
        jobs: Mapping[str, JobRecordData | None],
        keep_from: int,
    ) -> None:
        self.store.append(events, jobs, keep_from)
