"""Finding and copying the parts of a target that no longer match the source.

A mirror cannot see other processes' writes to the source as they happen,
so after it notices a change it compares the two files chunk by chunk and
rewrites the granules (the mirror's ``granularity``) that differ.  Ranges
that are holes in both files are skipped without reading them.  Blocking.
"""

from __future__ import annotations

from qapi_jobs.server.engines.builtin import sparse
from qapi_jobs.server.engines.builtin.copy import (
    BlockCopier,
    ImageIoError,
    SourceShrankError,
)
from qapi_jobs.server.jobs.driver import IoOperation

DirtyRuns = list[tuple[int, int]]
"""``(offset, length)`` ranges of the target to rewrite, in file order."""


class Resync:
    """Compares ``chunk_size`` bytes at a time, in units of ``granularity``.

    Keeps the last chunk read from the source so that :meth:`apply` writes
    exactly the bytes :meth:`scan` compared.  ``chunk_size`` is a multiple
    of ``granularity``.
    """

    def __init__(self, copier: BlockCopier, granularity: int, chunk_size: int) -> None:
        if chunk_size % granularity:
            raise ValueError("the chunk size must be a multiple of the granularity")
        self._copier = copier
        self._granularity = granularity
        self.chunk_size = chunk_size
        self._source = bytearray(chunk_size)
        self._target = bytearray(chunk_size)
        self._zeros = bytes(chunk_size)
        self._offset = 0

    @property
    def source_fd(self) -> int:
        """The source image's descriptor."""
        return self._copier.source

    def scan(self, offset: int, length: int) -> DirtyRuns:
        """Compare ``length`` bytes at ``offset``; return the ranges that differ.

        Raises SourceShrankError if the source ends early.  Target bytes
        past the target's end count as different.
        """
        copier = self._copier
        if self._both_holes(offset, length):
            return []
        self._offset = offset
        if copier.read(offset, memoryview(self._source)[:length]) < length:
            raise SourceShrankError(offset + length)
        have = copier.read_target(offset, memoryview(self._target)[:length])
        if have == length and self._source[:length] == self._target[:length]:
            return []
        runs: DirtyRuns = []
        step = self._granularity
        for start in range(0, length, step):
            end = min(start + step, length)
            if end <= have and self._source[start:end] == self._target[start:end]:
                continue
            if runs and runs[-1][0] + runs[-1][1] == offset + start:
                runs[-1] = (runs[-1][0], runs[-1][1] + end - start)
            else:
                runs.append((offset + start, end - start))
        return runs

    def _both_holes(self, offset: int, length: int) -> bool:
        try:
            source_hole = sparse.is_hole(self._copier.source, offset, length)
        except OSError as exc:
            raise ImageIoError(IoOperation.READ, exc) from exc
        if not source_hole:
            return False
        try:
            return sparse.is_hole(self._copier.target, offset, length)
        except OSError as exc:
            raise ImageIoError(IoOperation.WRITE, exc) from exc

    def apply(self, runs: DirtyRuns) -> None:
        """Write the source's bytes of the last scanned chunk over ``runs``.

        All-zero runs are made holes (or zeros, where holes cannot be
        punched) so that the target stays sparse where the source is.
        """
        data = memoryview(self._source)
        for offset, length in runs:
            start = offset - self._offset
            if self._source[start : start + length] == self._zeros[:length]:
                self._copier.zero(offset, length)
            else:
                self._copier.write(offset, data[start : start + length])
