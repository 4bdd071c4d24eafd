"""Copy batches: several data and hole runs of the source per blocking call.

A fragmented source is a long series of short runs of data and holes.
Handing each run to a worker thread on its own costs a thread round trip
per run, and with runs of 1 MiB those round trips, not the copying, set
the pace.  So the copy loop works in batches.  A batch is a plan for the
next stretch of the image: its runs, found with SEEK_DATA/SEEK_HOLE, cut
so that the batch holds at most one chunk of data, at most a bounded
amount of hole to zero in a target that holds old data, and a bounded
number of runs.  Those bounds keep every blocking call short, so pause and
cancel, which take effect between batches, stay prompt.

One blocking call (:meth:`BatchCopier.run`) carries out a batch, starts
the target's writeback of it, and plans the next one, so each batch costs
a single thread round trip however many runs it holds.  Everything here is
blocking.
"""

from __future__ import annotations

from dataclasses import dataclass

from qapi_jobs.server.engines.builtin.copy import BlockCopier, ImageIoError

MAX_RUNS = 256
"""The most runs one batch holds (each costs a few system calls)."""


@dataclass(frozen=True)
class Run:
    """Bytes ``[start, end)`` of the source, all data or all hole."""

    start: int
    end: int
    is_data: bool

    @property
    def length(self) -> int:
        """The run's length in bytes."""
        return self.end - self.start


@dataclass(frozen=True)
class Batch:
    """Consecutive runs that one blocking call deals with; empty at the end of the copy."""

    start: int
    runs: tuple[Run, ...]

    @property
    def end(self) -> int:
        """Where the batch stops (its start when it is empty)."""
        return self.runs[-1].end if self.runs else self.start

    @property
    def length(self) -> int:
        """How many bytes of the image the batch deals with, holes included."""
        return self.end - self.start

    @property
    def data_bytes(self) -> int:
        """How many bytes of data the batch copies."""
        return sum(run.length for run in self.runs if run.is_data)

    def cut(self, most: int) -> Batch:
        """The batch's first ``most`` bytes (the batch itself when it is no longer)."""
        limit = self.start + most
        if self.end <= limit:
            return self
        runs = tuple(
            run if run.end <= limit else Run(run.start, limit, run.is_data)
            for run in self.runs
            if run.start < limit
        )
        return Batch(self.start, runs)


class BatchStopped(Exception):
    """A batch stopped short on a failed read or write, which the caller must decide about."""

    def __init__(self, reached: int, failure: ImageIoError) -> None:
        super().__init__(str(failure))
        self.reached = reached
        """Index of the first run not carried out: the failed run, or ``len(runs)``
        when every run was done and planning the next batch failed."""
        self.failure = failure


class BatchCopier:
    """Plans and carries out the batches that copy ``size`` bytes of the source.

    ``target_is_blank`` says the target reads as zeros throughout (a new
    sparse file), so holes need no work and do not count against a batch's
    bounds.  Otherwise each hole is zeroed in the target, at most
    ``zero_bytes`` per batch.
    """

    def __init__(
        self,
        copier: BlockCopier,
        size: int,
        *,
        data_bytes: int,
        zero_bytes: int,
        target_is_blank: bool,
        max_runs: int = MAX_RUNS,
    ) -> None:
        if min(data_bytes, zero_bytes, max_runs) < 1:
            raise ValueError("batch bounds must be positive")
        self._copier = copier
        self.size = size
        self._data_bytes = data_bytes
        self._zero_bytes = zero_bytes
        self._target_is_blank = target_is_blank
        self._max_runs = max_runs

    def plan(self, offset: int) -> Batch:
        """The batch that starts at ``offset``.

        Raises ImageIoError if the source's data and holes cannot be found.
        """
        runs: list[Run] = []
        data = zeroed = 0
        while offset < self.size and len(runs) < self._max_runs:
            is_data, run_end = self._copier.source_run(offset, self.size)
            if is_data:
                room = self._data_bytes - data
            elif self._target_is_blank:
                room = run_end - offset
            else:
                room = self._zero_bytes - zeroed
            if room <= 0:
                break
            cut = min(run_end, offset + room)
            runs.append(Run(offset, cut, is_data))
            if is_data:
                data += cut - offset
            elif not self._target_is_blank:
                zeroed += cut - offset
            if cut < run_end:
                break
            offset = cut
        return Batch(runs[0].start if runs else offset, tuple(runs))

    def fallback(self, offset: int) -> Batch:
        """One chunk at ``offset`` taken as data: the batch when mapping the source failed."""
        end = min(self.size, offset + self._data_bytes)
        return Batch(offset, (Run(offset, end, True),) if end > offset else ())

    def run(self, batch: Batch, first: int) -> Batch:
        """Carry out ``batch.runs[first:]``, then plan and return the batch after it.

        Raises BatchStopped on a failed read or write, saying how far the
        call got, and SourceShrankError if the source ends early.
        """
        runs = batch.runs
        for index in range(first, len(runs)):
            try:
                self.carry_out(runs[index])
            except ImageIoError as exc:
                raise BatchStopped(index, exc) from exc
        if batch.data_bytes:
            self._copier.start_writeback(batch.start, batch.end - batch.start)
        try:
            return self.plan(batch.end)
        except ImageIoError as exc:
            raise BatchStopped(len(runs), exc) from exc

    def carry_out(self, run: Run) -> None:
        """Copy a data run, or make a hole run read as zeros in the target."""
        if run.is_data:
            self._copier.copy(run.start, run.length)
        elif not self._target_is_blank:
            self._copier.zero(run.start, run.length)
