"""The contract between the job manager and the engines that do the work.

An engine supplies one :class:`JobDriver` per job.  The manager runs the
driver's :meth:`JobDriver.run` as a task on its event loop and hands it a
:class:`JobContext`, through which the driver reports progress, reaches
pause points, sleeps under the speed limit, announces READY, asks what to
do about an I/O error, and learns that it was cancelled.  The finalization
hooks (prepare / commit / abort / clean) follow QEMU's JobDriver: they run
on the event loop, after every job of the transaction has finished its run.

Drivers may do blocking work in threads (:meth:`JobContext.run_blocking`),
but they only ever touch the context from the event loop.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar, TypeVar

_T = TypeVar("_T")


class JobCancelled(Exception):
    """Raised inside a driver at a pause point once the job is hard-cancelled.

    Drivers let it propagate (after releasing what they hold); the manager
    then takes the job down the ABORTING path.
    """


class JobFailed(Exception):
    """Raised by a driver to fail its job; the message becomes the job's error."""


@dataclass(frozen=True)
class CreatedFile:
    """A file a job creates, by its path relative to the data directory; ``device`` and
    ``inode`` once it exists.

    The durable store keeps these so that a job the server stopped while it
    ran can have its half-made files removed after a restart, by the backend
    that owns the data directory, wherever that directory is then.
    """

    path: str
    device: int | None = None
    inode: int | None = None
    tag: str | None = None
    """A secret the engine marks the file with on creation, known before the file exists:
    it identifies the file should the server stop before its inode was recorded."""


class IoOperation(enum.Enum):
    """Which way data was moving when an I/O error happened."""

    READ = "read"
    WRITE = "write"


class IoErrorDecision(enum.Enum):
    """What :meth:`JobContext.io_error` tells the driver to do next."""

    IGNORE = "ignore"
    """Carry on as if the operation had succeeded."""
    RETRY = "retry"
    """The job was stopped by the error policy and has been resumed: try again."""
    FAIL = "fail"
    """Give up: raise :class:`JobFailed` (the manager has recorded the error)."""


class JobContext(ABC):
    """What a running driver may ask of the manager."""

    @property
    @abstractmethod
    def job_id(self) -> str:
        """The job's identifier."""

    @property
    @abstractmethod
    def cancelled(self) -> bool:
        """True once any cancel (soft or hard) was requested."""

    @property
    @abstractmethod
    def completion_requested(self) -> bool:
        """True once job-complete was accepted (converging jobs only)."""

    @property
    @abstractmethod
    def speed(self) -> int:
        """The job's speed limit in bytes per second now; 0 for none.

        Drivers size their steps by it, so that progress advances at least
        once per rate-limit slice however low the limit.
        """

    @abstractmethod
    async def pause_point(self) -> None:
        """Park here while the job is paused; raise JobCancelled if hard-cancelled.

        Drivers call it between units of work (chunks).  A pause request
        takes effect only when the driver gets here.
        """

    @abstractmethod
    async def sleep(self, seconds: float) -> None:
        """Sleep, waking early on pause, resume, cancel, complete or a speed change.

        It is a pause point: it parks while paused and raises JobCancelled
        when hard-cancelled.  Converging drivers use it to wait in READY.
        """

    @abstractmethod
    async def rate_limit(self, nbytes: int) -> None:
        """Account ``nbytes`` of progress about to be made and sleep as the speed limit demands.

        Call before each chunk, with every byte the chunk will add to the
        progress (holes included, as QEMU charges them).  Also a pause
        point.  With speed 0 it only checks for pause and cancel.
        """

    @abstractmethod
    def set_progress_total(self, total: int) -> None:
        """Set the amount of work in all (bytes for image jobs)."""

    @abstractmethod
    def add_progress_total(self, delta: int) -> None:
        """Grow the amount of work, e.g. when a mirror sees new writes."""

    @abstractmethod
    def add_progress(self, done: int) -> None:
        """Record ``done`` more units of work as finished; current never decreases."""

    @abstractmethod
    async def ready(self) -> None:
        """Announce that a converging job has caught up (RUNNING -> READY)."""

    @abstractmethod
    async def io_error(self, operation: IoOperation, error: OSError) -> IoErrorDecision:
        """Apply the job's error policy to a failed read or write.

        With policy ``stop`` (or ``enospc`` on ENOSPC) this emits
        BLOCK_JOB_ERROR, pauses the job as a user pause, waits at the pause
        point until job-resume, and then returns RETRY (or raises
        JobCancelled if the job was cancelled meanwhile).
        """

    @abstractmethod
    async def run_blocking(self, fn: Callable[..., _T], *args: object) -> _T:
        """Run blocking work (file I/O) in a worker thread and return its result."""

    def files_changed(self) -> None:
        """Tell the manager that :meth:`JobDriver.created_files` changed (a file now exists).

        The manager records it durably before the job's next status change.
        """


class JobDriver(ABC):
    """The work of one job.  Subclasses implement :meth:`run`."""

    job_type: ClassVar[str]
    """The job's JobType wire name, e.g. ``"backup"``."""

    block_job: ClassVar[bool] = False
    """Block jobs (backup, mirror, stream, commit) have a speed, an error
    policy and emit the BLOCK_JOB_* events."""

    converging: ClassVar[bool] = False
    """Converging jobs (mirror) go READY and run until completed or cancelled."""

    @abstractmethod
    async def run(self, ctx: JobContext) -> None:
        """Do the job's work.  Return on success; raise JobFailed to fail.

        Converging drivers call ``ctx.ready()`` once caught up and then keep
        working until ``ctx.completion_requested`` (finish the work, return)
        or ``ctx.cancelled`` (a soft cancel: return at once).
        """

    def complete(self) -> None:
        """Called when job-complete is accepted; raise JobFailed to refuse it."""

    async def prepare(self) -> None:
        """First finalization step after a successful run; may raise JobFailed."""

    async def commit(self) -> None:
        """Make the result take effect; called when the transaction succeeded."""

    async def abort(self) -> None:
        """Undo the work; called when the job or its transaction failed or was cancelled."""

    async def clean(self) -> None:
        """Release resources; called last, whatever the outcome."""

    def created_files(self) -> Sequence[CreatedFile]:
        """The files this job creates, which must not outlive it if it fails.

        Known before the job runs (path only), then with device and inode once
        created; a restarted server removes them for a job it stopped while it ran.
        """
        return ()
