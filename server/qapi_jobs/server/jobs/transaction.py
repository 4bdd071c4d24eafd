"""Transactions (QEMU's JobTxn): the jobs that finish, or fail, together.

Every job belongs to exactly one transaction; a job started on its own gets
a private one.  Members are kept newest first, the order in which they move
to PENDING and are finalized.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from qapi_jobs.server.jobs.job import Job


class JobTxn:
    """The members of one transaction and whether it is being aborted."""

    def __init__(self) -> None:
        self.members: list[Job] = []
        self.aborting = False

    def add(self, job: Job) -> None:
        """Make ``job`` the newest member."""
        self.members.insert(0, job)
        job.txn = self

    def remove(self, job: Job) -> None:
        """Take ``job`` out (it was finalized or dismissed)."""
        self.members.remove(job)
        job.txn = None

    def all_completed(self) -> bool:
        """Whether every member's work function has finished."""
        return all(member.is_completed for member in self.members)

    def needs_manual_finalize(self) -> bool:
        """Whether some member has auto-finalize off (then all wait for job-finalize)."""
        return any(not member.auto_finalize for member in self.members)
