"""Why a store cannot be opened or written."""

from __future__ import annotations

from qapi_jobs.server.jobs.events import JournalError


class StoreError(JournalError):
    """The store is unusable; the message says what is wrong and what to do."""
