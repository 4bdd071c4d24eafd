"""Blocking, sparse-aware byte copies between two image descriptors.

Data moves with ``copy_file_range`` (the kernel copies, or even shares
extents, without the bytes passing through Python); where the kernel
cannot do that, or when it reports an error, the copy falls back to
``pread``/``pwrite`` through one reusable buffer.  The fallback is also how
a failure gets its direction: a copy_file_range error does not say whether
reading or writing failed, the separate calls do.

The copy also starts the target's writeback as it goes (see
:meth:`BlockCopier.start_writeback`), so that the flush that ends a copy
finds little left to write.

Every failure is raised as :class:`ImageIoError` carrying the
:class:`~qapi_jobs.server.jobs.driver.IoOperation`, ready for the job's
error policy.
"""

from __future__ import annotations

import ctypes
import errno
import os

from qapi_jobs.server.engines.builtin import sparse
from qapi_jobs.server.jobs.driver import IoOperation

_NO_KERNEL_COPY = frozenset(
    {errno.EXDEV, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL, errno.EBADF, errno.ETXTBSY}
)
_ZERO_BUFFER_SIZE = 1 << 20
_SYNC_FILE_RANGE_WRITE = 0x02

_libc = ctypes.CDLL(None, use_errno=True)
_sync_file_range = _libc.sync_file_range
_sync_file_range.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
_sync_file_range.restype = ctypes.c_int


class ImageIoError(Exception):
    """A failed read of the source or write of the target."""

    def __init__(self, operation: IoOperation, error: OSError) -> None:
        super().__init__(f"{operation.value} failed: {error.strerror or error}")
        self.operation = operation
        self.error = error


class SourceShrankError(Exception):
    """The source ended before the offset the copy expected to reach."""

    def __init__(self, offset: int) -> None:
        super().__init__(f"the source ends at byte {offset}")
        self.offset = offset


class BlockCopier:
    """Copies ranges of ``source`` onto the same offsets of ``target``.

    Owns its buffers; one copier serves one job and is used by one thread
    at a time.
    """

    def __init__(self, source: int, target: int, buffer_size: int) -> None:
        self.source = source
        self.target = target
        self._buffer = memoryview(bytearray(buffer_size))
        self._zeros = memoryview(bytes(min(buffer_size, _ZERO_BUFFER_SIZE)))
        self._kernel_copy = True

    def source_run(self, offset: int, end: int) -> tuple[bool, int]:
        """Whether the source holds data or a hole from ``offset``, and up to where."""
        try:
            return sparse.next_run(self.source, offset, end)
        except OSError as exc:
            raise ImageIoError(IoOperation.READ, exc) from exc

    def copy(self, offset: int, length: int) -> None:
        """Copy ``length`` bytes at ``offset``; raises ImageIoError or SourceShrankError."""
        end = offset + length
        if self._kernel_copy:
            offset = self._copy_in_kernel(offset, end)
        self._copy_through_buffer(offset, end)

    def _copy_in_kernel(self, offset: int, end: int) -> int:
        """Copy as far as copy_file_range gets; return where it stopped."""
        while offset < end:
            try:
                copied = os.copy_file_range(self.source, self.target, end - offset, offset, offset)
            except OSError as exc:
                if exc.errno in _NO_KERNEL_COPY:
                    self._kernel_copy = False
                return offset
            if copied == 0:
                return offset
            offset += copied
        return offset

    def _copy_through_buffer(self, offset: int, end: int) -> None:
        while offset < end:
            chunk = self._buffer[: min(len(self._buffer), end - offset)]
            try:
                got = os.preadv(self.source, [chunk], offset)
            except OSError as exc:
                raise ImageIoError(IoOperation.READ, exc) from exc
            if got == 0:
                raise SourceShrankError(offset)
            self.write(offset, chunk[:got])
            offset += got

    def read(self, offset: int, into: memoryview) -> int:
        """Read the source at ``offset`` into ``into``; return the byte count (short at EOF)."""
        return self._read_fully(self.source, offset, into, IoOperation.READ)

    def read_target(self, offset: int, into: memoryview) -> int:
        """Read the target at ``offset`` into ``into``; a failure counts as a write error.

        The target is read only to find out what must be written to it, so
        its failures are charged to the target's (write) error policy.
        """
        return self._read_fully(self.target, offset, into, IoOperation.WRITE)

    @staticmethod
    def _read_fully(fd: int, offset: int, into: memoryview, operation: IoOperation) -> int:
        done = 0
        while done < len(into):
            try:
                got = os.preadv(fd, [into[done:]], offset + done)
            except OSError as exc:
                raise ImageIoError(operation, exc) from exc
            if got == 0:
                break
            done += got
        return done

    def write(self, offset: int, data: memoryview) -> None:
        """Write all of ``data`` to the target at ``offset``."""
        done = 0
        while done < len(data):
            try:
                done += os.pwrite(self.target, data[done:], offset + done)
            except OSError as exc:
                raise ImageIoError(IoOperation.WRITE, exc) from exc

    def zero(self, offset: int, length: int) -> None:
        """Make a target range read as zeros, keeping it sparse where possible."""
        try:
            sparse.zero_range(self.target, offset, length, self._zeros)
        except OSError as exc:
            raise ImageIoError(IoOperation.WRITE, exc) from exc

    def start_writeback(self, offset: int, length: int) -> None:
        """Start writing a copied range of the target to disk, without waiting for it.

        Left alone, the kernel would write the copy out mostly during the
        final flush, after the copy; started early, the disk writes overlap
        the copying.  Only a hint, so its result is ignored: without the
        wait flags, sync_file_range neither waits nor consumes a write
        error, which the final fdatasync therefore still reports.
        """
        _sync_file_range(self.target, offset, length, _SYNC_FILE_RANGE_WRITE)

    def flush(self) -> None:
        """Push the target's data to stable storage."""
        try:
            os.fdatasync(self.target)
        except OSError as exc:
            raise ImageIoError(IoOperation.WRITE, exc) from exc
