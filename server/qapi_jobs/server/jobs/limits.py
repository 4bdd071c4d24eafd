"""How many jobs a manager keeps, how many run at once, and how long their ids may be.

QEMU sets none of these limits; a service shared by many clients needs
them, so that one client cannot take every slot or flood logs and
messages with a huge id.  Past a limit a job is refused with
RESOURCE_EXHAUSTED and a message naming the limit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from qapi_jobs.server.jobs.errors import ErrorKind, JobError

DEFAULT_MAX_JOBS: Final = 1000
DEFAULT_MAX_RUNNING_JOBS: Final = 64
DEFAULT_MAX_JOB_ID_LENGTH: Final = 1024


@dataclass(frozen=True, kw_only=True)
class JobLimits:
    """Limits on the jobs of one manager (all positive)."""

    max_jobs: int = DEFAULT_MAX_JOBS
    """Jobs that exist at once, concluded ones included (until dismissed)."""
    max_running_jobs: int = DEFAULT_MAX_RUNNING_JOBS
    """Jobs that exist and have not finished their work."""
    max_job_id_length: int = DEFAULT_MAX_JOB_ID_LENGTH
    """Characters in a job id."""

    def __post_init__(self) -> None:
        for name in ("max_jobs", "max_running_jobs", "max_job_id_length"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name.replace('_', '-')} must be at least 1")

    def check_id(self, job_id: str) -> None:
        """Refuse an id longer than the limit (before anything echoes it)."""
        if len(job_id) > self.max_job_id_length:
            raise JobError(
                ErrorKind.RESOURCE_EXHAUSTED,
                f"Job ID is {len(job_id)} characters long; the limit max-job-id-length is "
                f"{self.max_job_id_length}",
                reason="MAX_JOB_ID_LENGTH",
            )

    def check_room(self, jobs: int, running: int) -> None:
        """Refuse one more job when ``jobs`` exist of which ``running`` are at work."""
        if jobs >= self.max_jobs:
            raise JobError(
                ErrorKind.RESOURCE_EXHAUSTED,
                f"Too many jobs: the limit max-jobs ({self.max_jobs}) is reached; dismiss "
                "concluded jobs first",
                reason="MAX_JOBS",
            )
        if running >= self.max_running_jobs:
            raise JobError(
                ErrorKind.RESOURCE_EXHAUSTED,
                f"Too many running jobs: the limit max-running-jobs ({self.max_running_jobs}) "
                "is reached; wait for a job to finish",
                reason="MAX_RUNNING_JOBS",
            )
