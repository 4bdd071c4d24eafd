"""Start, own, watch and stop one qemu-storage-daemon.

The daemon's QMP socket, pidfile and log live in a private run directory
(mode 0700, a short path because a UNIX socket path is limited to 107
bytes).  Its output goes to a log file, never to a pipe nobody reads: the
daemon writes to it while it works and would block on a full pipe.  The
pidfile is locked by the daemon, so a second daemon on the same run
directory exits at once ("Cannot lock pid file"), which :meth:`start`
reports with the daemon's own words.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import os
import shutil
import signal
import stat
import tempfile
from pathlib import Path
from typing import Final, Protocol

from qapi_jobs.server.engines.qemu.qmp import (
    DEFAULT_TIMEOUT,
    CloseCallback,
    EventCallback,
    QmpClient,
    QmpDisconnected,
    QmpError,
    QmpUnavailable,
)

DAEMON: Final = "qemu-storage-daemon"
SOCKET_NAME: Final = "qmp.sock"
PIDFILE_NAME: Final = "qsd.pid"
LOG_NAME: Final = "qsd.log"
SERVICE_LOCK_NAME: Final = "service.lock"
UNKNOWN_STATUS: Final = -256
"""The exit status of an adopted daemon, which no one can know (not a signal number)."""
_SUN_PATH_MAX: Final = 107
_POLL: Final = 0.005
"""Seconds between tries to connect while the daemon starts (it needs about 20 ms)."""
_LOG_TAIL: Final = 4096
"""Bytes read from the end of the log for its last line (it grows over restarts)."""


class DaemonError(RuntimeError):
    """The daemon could not be started; the message quotes its last output."""


def find_daemon(binary: str | None = None) -> str:
    """The daemon executable: ``binary`` if given, else ``qemu-storage-daemon`` on PATH."""
    found = shutil.which(binary or DAEMON)
    if found is None:
        raise DaemonError(
            f"{binary or DAEMON} not found; install QEMU's storage daemon or name it explicitly"
        )
    return found


def run_dir_for(data_dir: Path, parent: str | os.PathLike[str] | None = None) -> Path:
    """The private run directory that belongs to ``data_dir`` (the same one on every start).

    Named after a hash of the data directory's real path, so that a second
    server on the same data directory finds it and its locks.  Only the
    path: :meth:`ServiceLock.acquire` makes the directory.
    """
    root = Path(parent or os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir())
    digest = hashlib.sha256(os.fsencode(os.path.realpath(data_dir))).hexdigest()[:16]
    path = root / f"qj-{digest}"
    if len(os.fsencode(path / SOCKET_NAME)) > _SUN_PATH_MAX:
        raise DaemonError(
            f"run directory {path} is too long for a UNIX socket path; "
            "set XDG_RUNTIME_DIR to a shorter directory"
        )
    return path


def make_private(path: Path) -> None:
    """Make the directory ``path`` with mode 0700, or check that it is that already (blocking).

    An existing directory must be ours and 0700: in a shared ``/tmp``
    someone else could have made it first.
    """
    try:
        path.mkdir(mode=0o700)
    except FileExistsError:
        st = path.lstat()
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o077:
            raise DaemonError(
                f"run directory {path} is not a private directory of this user; remove it"
            ) from None


def remove_run_dir(run_dir: Path) -> None:
    """Remove the run directory and what is in it, if it is there (blocking).

    Only for a run directory no live daemon uses: its socket, pidfile, log,
    journal and lock file go with it.
    """
    with contextlib.suppress(FileNotFoundError):
        shutil.rmtree(run_dir)


class ServiceLock:
    """The one-server-per-data-directory lock, held on a file in the run directory."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.path = run_dir / SERVICE_LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock or raise DaemonError (blocking: file system calls).

        The run directory is made again if the server before removed it.  A
        lock won on a file that server removed meanwhile is worth nothing:
        then it starts over on a new file.
        """
        while True:
            make_private(self.run_dir)
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            except FileNotFoundError:
                continue  # the directory was removed between the two calls
            try:
                # flock, not lockf: it also keeps out a second server in the same process.
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                raise DaemonError(
                    "another qapi-jobs server runs the qemu engine on this data directory"
                ) from None
            if os.fstat(fd).st_nlink > 0:
                self._fd = fd
                return
            os.close(fd)

    def release(self, *, remove: bool = False) -> None:
        """Drop the lock; with ``remove``, remove the run directory first (blocking).

        Removed while the lock is held, so the next server either fails to
        take it or takes it on a file of its own (see :meth:`acquire`).
        """
        if self._fd is None:
            return
        if remove:
            remove_run_dir(self.run_dir)
        os.close(self._fd)
        self._fd = None


class ProcessHandle(Protocol):
    """What the supervisor needs of a process: asyncio's Process has it, so does AdoptedProcess."""

    @property
    def pid(self) -> int:
        """The process id."""
        ...

    @property
    def returncode(self) -> int | None:
        """None while it runs."""
        ...

    async def wait(self) -> int:
        """Wait for the exit; the status (negative: killed by that signal)."""
        ...

    def send_signal(self, sig: int) -> None:
        """Send ``sig``."""
        ...

    def kill(self) -> None:
        """Send SIGKILL."""
        ...


class AdoptedProcess:
    """A daemon another server started: watched through a pidfd, since it is not our child.

    Its exit status cannot be known; :attr:`returncode` becomes
    :data:`UNKNOWN_STATUS` when it exits.
    """

    def __init__(self, pid: int) -> None:
        self._pid = pid
        self._fd = os.pidfd_open(pid)
        self.returncode: int | None = None
        loop = asyncio.get_running_loop()
        self._exited: asyncio.Future[int] = loop.create_future()
        loop.add_reader(self._fd, self._on_exit)

    @property
    def pid(self) -> int:
        """The daemon's process id."""
        return self._pid

    def _on_exit(self) -> None:
        asyncio.get_running_loop().remove_reader(self._fd)
        os.close(self._fd)
        self.returncode = UNKNOWN_STATUS
        self._exited.set_result(UNKNOWN_STATUS)

    async def wait(self) -> int:
        """Wait until the process has exited."""
        return await asyncio.shield(self._exited)

    def send_signal(self, sig: int) -> None:
        """Send ``sig`` through the pidfd (never to a recycled pid)."""
        if self.returncode is None:
            signal.pidfd_send_signal(self._fd, sig)

    def kill(self) -> None:
        """Send SIGKILL."""
        self.send_signal(signal.SIGKILL)


class StorageDaemon:
    """One qemu-storage-daemon process and the QMP connection the engine holds to it."""

    def __init__(self, run_dir: Path, binary: str | None = None) -> None:
        self.run_dir = run_dir
        self.binary = find_daemon(binary)
        self.process: ProcessHandle | None = None
        self.qmp: QmpClient | None = None
        self._stopping = False

    @property
    def adopted(self) -> bool:
        """True when the daemon was started by an earlier server and taken over."""
        return isinstance(self.process, AdoptedProcess)

    def live_pid(self) -> int | None:
        """The pid of a live daemon holding this run directory, or None (blocking)."""
        try:
            fd = os.open(self.run_dir / PIDFILE_NAME, os.O_RDWR)
        except FileNotFoundError:
            return None
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return int(os.pread(fd, 32, 0).decode().strip())
        finally:
            os.close(fd)  # also drops the probe's lock
        return None

    async def adopt(
        self,
        pid: int,
        *,
        on_event: EventCallback | None = None,
        on_close: CloseCallback | None = None,
        within: float = DEFAULT_TIMEOUT,
    ) -> QmpClient:
        """Take over the live daemon ``pid``: watch it and connect to its monitor."""
        self._stopping = False
        self.process = AdoptedProcess(pid)
        try:
            self.qmp = await QmpClient.connect(
                str(self.socket_path), on_event=on_event, on_close=on_close, within=within
            )
        except QmpUnavailable as error:
            raise DaemonError(
                f"cannot take over qemu-storage-daemon (pid {pid}): {error}"
            ) from None
        return self.qmp

    @property
    def socket_path(self) -> Path:
        """Where the daemon's QMP monitor listens."""
        return self.run_dir / SOCKET_NAME

    @property
    def log_path(self) -> Path:
        """The daemon's stdout and stderr."""
        return self.run_dir / LOG_NAME

    @property
    def running(self) -> bool:
        """True while the process has not exited."""
        return self.process is not None and self.process.returncode is None

    async def start(
        self,
        *,
        on_event: EventCallback | None = None,
        on_close: CloseCallback | None = None,
        within: float = DEFAULT_TIMEOUT,
    ) -> QmpClient:
        """Spawn the daemon, wait for its socket and return the negotiated connection."""
        if self.running:
            raise DaemonError("qemu-storage-daemon is already running")
        self._stopping = False
        log = await asyncio.to_thread(self._prepare)
        try:
            self.process = await asyncio.create_subprocess_exec(
                self.binary,
                "--chardev",
                f"socket,id=qj-mon,path={self.socket_path},server=on,wait=off",
                "--monitor",
                "chardev=qj-mon",
                "--pidfile",
                str(self.run_dir / PIDFILE_NAME),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                # Its own session: a terminal's Ctrl-C must not reach a daemon meant to
                # outlive the server.
                start_new_session=True,
            )
        finally:
            os.close(log)
        try:
            self.qmp = await asyncio.wait_for(self._connect(on_event, on_close, within), within)
        except BaseException as error:
            await self._kill()
            if isinstance(error, TimeoutError | QmpUnavailable | DaemonError):
                raise DaemonError(await asyncio.to_thread(self._failure_text)) from error
            raise
        return self.qmp

    def _prepare(self) -> int:
        """Check the run directory is free, clear a stale socket, open the log (blocking).

        The check comes before spawning: a second daemon would only fail on
        the pidfile after it had replaced the first one's socket.
        """
        pid = self.live_pid()
        if pid is not None:
            raise DaemonError(
                f"another qemu-storage-daemon (pid {pid}) holds the run directory "
                f"{self.run_dir}; stop it, or the server that owns it"
            )
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()  # left behind by a daemon that was killed
        return os.open(self.log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    async def reconnect(
        self,
        *,
        on_event: EventCallback | None = None,
        on_close: CloseCallback | None = None,
        within: float = DEFAULT_TIMEOUT,
    ) -> QmpClient:
        """Connect to the running daemon's monitor again, after the connection broke."""
        if self.qmp is not None:
            await self.qmp.close()
        try:
            self.qmp = await QmpClient.connect(
                str(self.socket_path), on_event=on_event, on_close=on_close, within=within
            )
        except QmpUnavailable as error:
            raise DaemonError(f"cannot reconnect to qemu-storage-daemon: {error}") from None
        return self.qmp

    async def _connect(
        self, on_event: EventCallback | None, on_close: CloseCallback | None, within: float
    ) -> QmpClient:
        """Connect as soon as the daemon listens (it needs about 20 ms to start)."""
        process = self.process
        assert process is not None
        while True:
            if process.returncode is not None:
                raise DaemonError(await asyncio.to_thread(self._failure_text))
            try:
                return await QmpClient.connect(
                    str(self.socket_path), on_event=on_event, on_close=on_close, within=within
                )
            except QmpDisconnected as error:
                # No socket yet, or one that does not listen yet.
                if not isinstance(error.__cause__, FileNotFoundError | ConnectionRefusedError):
                    raise
            await asyncio.sleep(_POLL)

    def _failure_text(self) -> str:
        """Why the daemon did not start: its status and the last line of its log (blocking)."""
        process = self.process
        status = "did not start in time"
        if process is not None and process.returncode is not None:
            status = f"exited with status {process.returncode}"
        try:
            with self.log_path.open("rb") as log:
                log.seek(max(0, log.seek(0, os.SEEK_END) - _LOG_TAIL))
                tail = log.read().decode(errors="replace").strip().splitlines()[-1:]
        except OSError:
            tail = []
        return f"qemu-storage-daemon {status}" + (f": {tail[0]}" if tail else "")

    async def wait(self) -> int:
        """Wait for the process to exit; return its status (negative: killed by that signal)."""
        process = self.process
        if process is None:
            raise DaemonError("qemu-storage-daemon was never started")
        return await process.wait()

    @property
    def stopping(self) -> bool:
        """True once :meth:`stop` has begun: an exit now is expected, not a crash."""
        return self._stopping

    async def stop(self, grace: float = 5.0) -> int | None:
        """Ask the daemon to quit, then SIGTERM, then SIGKILL; return its exit status.

        ``quit`` cancels the daemon's jobs itself; slow storage can make it
        take seconds, hence the grace.
        """
        self._stopping = True
        process = self.process
        if process is None:
            return None
        if process.returncode is None and self.qmp is not None and self.qmp.connected:
            with contextlib.suppress(QmpUnavailable, QmpError):
                await self.qmp.execute("quit", within=grace)
        if self.qmp is not None:
            await self.qmp.close()
        with contextlib.suppress(TimeoutError):
            return await asyncio.wait_for(process.wait(), grace)
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        with contextlib.suppress(TimeoutError):
            return await asyncio.wait_for(process.wait(), grace)
        return await self._kill()

    async def _kill(self) -> int | None:
        process = self.process
        if process is None:
            return None
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
        if self.qmp is not None:
            await self.qmp.close()
        return await process.wait()
