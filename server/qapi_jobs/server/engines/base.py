"""The engine interface: turn a job-creating command into a ready-to-run job.

The gRPC layer translates each job-creating command into QMP-shaped
arguments (the QAPI wire names, union members flat, absent optional
members left out) and asks an :class:`Engine` to :meth:`~Engine.prepare`
it.  Preparing checks everything that can be checked before a job exists
and raises :class:`~qapi_jobs.server.jobs.errors.JobError` on the first
problem; on success it returns a :class:`JobPlan`, which holds all the job
manager needs to create the job.  Preparing has no side effects: a plan
that is never turned into a job needs no cleanup.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from qapi_jobs.server.jobs.driver import JobDriver
from qapi_jobs.server.jobs.job import JobSpec
from qapi_jobs.server.jobs.policy import BlockdevOnError

JOB_COMMANDS = frozenset(
    {
        "blockdev-create",
        "x-blockdev-amend",
        "drive-backup",
        "drive-mirror",
        "block-stream",
        "block-commit",
    }
)
"""Every command of the schema that creates a job."""


@dataclass(frozen=True, kw_only=True)
class JobPlan:
    """Everything the job manager needs to create one job.

    ``speed`` and the error policies only mean something for block jobs;
    other jobs keep the defaults.  A negative ``speed`` is passed through:
    QEMU refuses it only after the job exists (``created``, then ``null``),
    and the job manager does the same.  For block-stream and block-commit,
    whose single ``on-error`` covers both directions, both policies are
    that one.
    """

    job_id: str
    driver: JobDriver
    auto_finalize: bool
    auto_dismiss: bool
    speed: int = 0
    on_source_error: BlockdevOnError = BlockdevOnError.REPORT
    on_target_error: BlockdevOnError = BlockdevOnError.REPORT

    @property
    def job_type(self) -> str:
        """The JobType wire name, e.g. ``"backup"``."""
        return self.driver.job_type

    @property
    def block_job(self) -> bool:
        """Whether this is a block job (speed, error policy, BLOCK_JOB_* events)."""
        return self.driver.block_job

    @property
    def converging(self) -> bool:
        """Whether the job goes READY and waits for job-complete (mirror)."""
        return self.driver.converging

    def job_spec(self, precheck: Callable[[], None] | None = None) -> JobSpec:
        """The job manager's JobSpec for this plan (``precheck`` as JobSpec has it)."""
        return JobSpec(
            self.job_id,
            self.driver,
            auto_finalize=self.auto_finalize,
            auto_dismiss=self.auto_dismiss,
            speed=self.speed,
            on_source_error=self.on_source_error,
            on_target_error=self.on_target_error,
            precheck=precheck,
        )


class Engine(ABC):
    """Something that runs jobs: the pure-Python builtin engine, or QEMU."""

    name: str
    """A short identifier, e.g. ``"builtin"``."""

    @property
    @abstractmethod
    def commands(self) -> frozenset[str]:
        """The job-creating commands this engine can run (a subset of JOB_COMMANDS)."""

    @abstractmethod
    async def prepare(self, command: str, arguments: Mapping[str, Any]) -> JobPlan:
        """Check a job-creating command and plan its job.

        ``arguments`` are the command's QMP arguments.  Raises JobError
        (with QEMU's text where QEMU has one) when the job cannot be
        created; nothing is changed on disk either way.  Job-id syntax and
        uniqueness and the sign of ``speed`` are left to the job manager.
        """

    def health(self) -> EngineHealth:
        """Whether the engine can run jobs now; engines with a helper process override it."""
        return EngineHealth()


@dataclass(frozen=True)
class EngineHealth:
    """What metrics report of an engine: up or not, and how often its helper restarted."""

    up: bool = True
    restarts: int = 0
