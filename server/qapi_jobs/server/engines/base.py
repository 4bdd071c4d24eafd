"""The engine interface: turn a job-creating command into a ready-to-run job.

The gRPC layer translates each job-creating command into QMP-shaped
arguments (the QAPI wire names, union members flat, absent optional
members left out) and asks an :class:`Engine` to :meth:`~Engine.prepare`
it.  Preparing checks everything that can be checked before a job exists
and raises :class:`~qapi_jobs.server.jobs.errors.JobError` on the first
problem; on success it returns the :class:`~qapi_jobs.server.jobs.job.JobSpec`
the job manager creates the job from.  Preparing has no side effects: a
spec that is never turned into a job needs no cleanup.  Which commands
create jobs is the schema's to say (see :mod:`.schema`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from qapi_jobs.server.jobs.job import JobSpec


class Engine(ABC):
    """Something that runs jobs: the pure-Python builtin engine, or QEMU."""

    name: str
    """A short identifier, e.g. ``"builtin"``."""

    @property
    @abstractmethod
    def commands(self) -> frozenset[str]:
        """The job-creating commands this engine can run (a subset of the schema's)."""

    @abstractmethod
    async def prepare(self, command: str, arguments: Mapping[str, Any]) -> JobSpec:
        """Check a job-creating command and plan its job.

        ``arguments`` are the command's QMP arguments.  Raises JobError
        (with QEMU's text where QEMU has one) when the job cannot be
        created; nothing is changed on disk either way.  Job-id syntax and
        uniqueness and the sign of ``speed`` are left to the job manager.
        """

    def health(self) -> EngineHealth:
        """Whether the engine can run jobs now; engines with a helper process override it."""
        return EngineHealth()


class EngineReport(Protocol):
    """What metrics read of whatever runs the jobs (an Engine, or a job backend)."""

    @property
    def name(self) -> str:
        """A short identifier, e.g. ``"builtin"``."""
        ...

    def health(self) -> EngineHealth:
        """Whether it can run jobs now, and how often its helper process restarted."""
        ...


@dataclass(frozen=True)
class EngineHealth:
    """What metrics report of an engine: up or not, and how often its helper restarted."""

    up: bool = True
    restarts: int = 0
