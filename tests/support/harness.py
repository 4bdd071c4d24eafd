"""Test drivers whose progress the test controls, and helpers to read the event log.

A :class:`ScriptedDriver` does nothing until the test feeds it steps.  When
its script is empty it reaches a pause point and then idles until it is
*poked*; :func:`settle` pokes every driver and spins the loop, so pause and
cancel requests are honoured deterministically, without timers.
"""

from __future__ import annotations

import asyncio
import errno
import os
from collections import deque
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import ClassVar

from qapi_jobs.server.jobs.driver import (
    IoErrorDecision,
    IoOperation,
    JobContext,
    JobDriver,
    JobFailed,
)
from qapi_jobs.server.jobs.job import JobSpec
from qapi_jobs.server.jobs.manager import JobManager
from qapi_jobs.server.jobs.policy import BlockdevOnError

from .events import describe


@dataclass(frozen=True)
class Advance:
    """Add ``amount`` to the job's progress."""

    amount: int


@dataclass(frozen=True)
class Ready:
    """Announce READY (converging drivers)."""


@dataclass(frozen=True)
class Finish:
    """Return from run() at once (success, unless cancelled)."""


@dataclass(frozen=True)
class Fail:
    """Raise JobFailed with ``message``."""

    message: str = "boom"


@dataclass(frozen=True)
class IoError:
    """Report an I/O error to the job's error policy and act on the decision."""

    operation: IoOperation = IoOperation.WRITE
    error_number: int = errno.EIO


@dataclass(frozen=True)
class RateLimit:
    """Call ctx.rate_limit(nbytes)."""

    nbytes: int


Step = Advance | Ready | Finish | Fail | IoError | RateLimit


@dataclass
class ScriptedDriver(JobDriver):
    """A driver executing steps fed by the test; see the module docstring."""

    job_type: ClassVar[str] = "backup"
    block_job: ClassVar[bool] = True
    converging: ClassVar[bool] = False

    total: int = 100
    script: deque[Step] = field(default_factory=deque)
    decisions: list[IoErrorDecision] = field(default_factory=list)
    hooks: list[str] = field(default_factory=list)
    prepare_error: str | None = None
    complete_error: str | None = None
    rate_limited: int = 0
    _poke: asyncio.Event = field(default_factory=asyncio.Event)

    def feed(self, *steps: Step) -> None:
        """Queue steps and wake the driver."""
        self.script.extend(steps)
        self._poke.set()

    def poke(self) -> None:
        """Wake an idle driver so that it passes a pause point."""
        self._poke.set()

    async def run(self, ctx: JobContext) -> None:
        ctx.set_progress_total(self.total)
        while True:
            if self.script:
                if await self._execute(self.script.popleft(), ctx):
                    return
                continue
            await ctx.pause_point()
            if self.converging and (ctx.cancelled or ctx.completion_requested):
                return
            self._poke.clear()
            await self._poke.wait()

    async def _execute(self, step: Step, ctx: JobContext) -> bool:
        if isinstance(step, Advance):
            ctx.add_progress(step.amount)
        elif isinstance(step, Ready):
            await ctx.ready()
        elif isinstance(step, Finish):
            return True
        elif isinstance(step, Fail):
            raise JobFailed(step.message)
        elif isinstance(step, IoError):
            decision = await ctx.io_error(
                step.operation, OSError(step.error_number, os.strerror(step.error_number))
            )
            self.decisions.append(decision)
            if decision is IoErrorDecision.FAIL:
                raise JobFailed("I/O failed")
        else:
            await ctx.rate_limit(step.nbytes)
            self.rate_limited += step.nbytes
        return False

    def complete(self) -> None:
        self.hooks.append("complete")
        if self.complete_error is not None:
            raise JobFailed(self.complete_error)

    async def prepare(self) -> None:
        self.hooks.append("prepare")
        if self.prepare_error is not None:
            raise JobFailed(self.prepare_error)

    async def commit(self) -> None:
        self.hooks.append("commit")

    async def abort(self) -> None:
        self.hooks.append("abort")

    async def clean(self) -> None:
        self.hooks.append("clean")


@dataclass
class ScriptedMirror(ScriptedDriver):
    """A converging block job."""

    job_type: ClassVar[str] = "mirror"
    converging: ClassVar[bool] = True


@dataclass
class ScriptedCreate(ScriptedDriver):
    """A non-block job (blockdev-create)."""

    job_type: ClassVar[str] = "create"
    block_job: ClassVar[bool] = False


KINDS: dict[str, type[ScriptedDriver]] = {
    "backup": ScriptedDriver,
    "mirror": ScriptedMirror,
    "create": ScriptedCreate,
}


class Harness:
    """A manager plus the scripted drivers of its jobs."""

    def __init__(self, manager: JobManager) -> None:
        self.manager = manager
        self.drivers: dict[str, ScriptedDriver] = {}
        self._every_driver: list[ScriptedDriver] = []
        self._job_tasks: set[asyncio.Task[object]] = set()

    def spec(
        self,
        job_id: str,
        kind: str = "backup",
        *,
        auto_finalize: bool = True,
        auto_dismiss: bool = True,
        speed: int = 0,
        on_source_error: BlockdevOnError = BlockdevOnError.REPORT,
        on_target_error: BlockdevOnError = BlockdevOnError.REPORT,
    ) -> JobSpec:
        """A JobSpec with a fresh scripted driver of ``kind``, remembered by id."""
        driver = KINDS[kind]()
        self.drivers[job_id] = driver
        self._every_driver.append(driver)
        return JobSpec(
            job_id,
            driver,
            auto_finalize=auto_finalize,
            auto_dismiss=auto_dismiss,
            speed=speed,
            on_source_error=on_source_error,
            on_target_error=on_target_error,
        )

    async def start(
        self,
        job_id: str,
        kind: str = "backup",
        *,
        auto_finalize: bool = True,
        auto_dismiss: bool = True,
        speed: int = 0,
        on_error: BlockdevOnError = BlockdevOnError.REPORT,
    ) -> ScriptedDriver:
        """Start one job and let it reach its first pause point."""
        spec = self.spec(
            job_id,
            kind,
            auto_finalize=auto_finalize,
            auto_dismiss=auto_dismiss,
            speed=speed,
            on_source_error=on_error,
            on_target_error=on_error,
        )
        await self.manager.start(spec)
        await self.settle()
        return self.drivers[job_id]

    def poke_all(self) -> None:
        """Wake every idle driver once."""
        for driver in self._every_driver:
            driver.poke()

    async def settle(self, rounds: int = 40) -> None:
        """Let every job react to what happened: poke drivers and spin the loop."""
        for _ in range(rounds):
            self.poke_all()
            self._collect_job_tasks()
            await asyncio.sleep(0)

    def _collect_job_tasks(self) -> None:
        for task in asyncio.all_tasks():
            if task.get_name().startswith("job:"):
                self._job_tasks.add(task)

    def task_failures(self) -> list[BaseException]:
        """Exceptions raised by job tasks seen so far (they must never raise)."""
        return [
            task.exception()  # type: ignore[misc]
            for task in self._job_tasks
            if task.done() and not task.cancelled() and task.exception() is not None
        ]

    async def run(self, coroutine: Awaitable[object]) -> None:
        """Await a manager command while poking drivers (a command may wait for them)."""
        task = asyncio.ensure_future(coroutine)
        for _ in range(400):
            if task.done():
                break
            self.poke_all()
            self._collect_job_tasks()
            await asyncio.sleep(0)
        task.result()
        await self.settle()

    def log(self, after: int = 0) -> list[str]:
        """The events published after ``after``, in compact form (see :func:`describe`)."""
        return [describe(record) for record in self.manager.events.events_after(after)]

    def mark(self) -> int:
        """The current last sequence number, to read only later events."""
        return self.manager.events.last_seq
