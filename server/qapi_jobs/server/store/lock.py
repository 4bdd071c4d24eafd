"""One server per data directory: an exclusive fcntl lock held for the server's life.

The lock goes away with the process however it ends (even SIGKILL), so a
crashed server never blocks the next one.  The file also names the holder's
pid, for the message that refuses a second server.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat
from pathlib import Path

from qapi_jobs.server.store.errors import StoreError
from qapi_jobs.server.store.layout import lock_path, state_dir


class DataDirLock:
    """The held lock; :meth:`release` (or process exit) gives it back."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, path: Path, data_dir: Path) -> DataDirLock:
        """Take the lock at ``path``; StoreError if another server holds it."""
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise StoreError(
                f"cannot open the lock file {path}: {exc.strerror}; the server needs a "
                f"writable data directory ({data_dir})"
            ) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise StoreError(
                f"another qapi-jobs server{holder} is using the data directory {data_dir}; "
                "stop it first, or give this server a data directory of its own"
            ) from None
        except OSError as exc:
            os.close(fd)
            raise StoreError(f"cannot lock {path}: {exc.strerror}") from exc
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        return cls(path, fd)

    def release(self) -> None:
        """Give the lock back (closing the descriptor releases it)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)


def claim_data_dir(data_dir: Path) -> DataDirLock:
    """Make the state directory inside ``data_dir`` and lock the data directory (blocking).

    Every server takes this lock, whatever its engine and whether or not it
    keeps a store, so that no two servers share a data directory.  A state
    directory that is a symbolic link is refused: it would lead the lock
    and the store out of the data directory.
    """
    state = state_dir(data_dir)
    try:
        state.mkdir(exist_ok=True)
        st = state.lstat()
    except OSError as exc:
        raise StoreError(
            f"cannot create {state}: {exc.strerror}; the server keeps its state in the data "
            "directory, which must be writable"
        ) from exc
    if not stat.S_ISDIR(st.st_mode):
        raise StoreError(f"{state} is not a directory; remove it and start again")
    return DataDirLock.acquire(lock_path(data_dir), data_dir)


def _read_holder(fd: int) -> str:
    with contextlib.suppress(OSError, ValueError):
        pid = int(os.pread(fd, 32, 0).decode().strip())
        return f" (pid {pid})"
    return ""
