"""The server as a child process on a fixed port, stopped with SIGTERM or killed outright."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

START_TIMEOUT = 30.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Server:
    """``python -m qapi_jobs.server`` with a durable store in ``data_dir``."""

    def __init__(self, data_dir: Path, extra: Sequence[str] = ()) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.extra = list(extra)
        self.process: subprocess.Popen[str] | None = None
        self.log = data_dir.parent / "server.log"

    @property
    def address(self) -> str:
        """Where clients connect."""
        return f"127.0.0.1:{self.port}"

    def start(self) -> Server:
        """Start the server and wait until it listens; returns self."""
        with self.log.open("a") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "qapi_jobs.server",
                    "--listen",
                    self.address,
                    "--data-dir",
                    str(self.data_dir),
                    "--shutdown-grace",
                    "2",
                    "--log-level",
                    "warning",
                    *self.extra,
                ],
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                env=dict(os.environ, PYTHONUNBUFFERED="1"),
            )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if "listening on" not in line:
            self.kill()
            raise RuntimeError(f"server did not start: {line!r}; {self.log.read_text()}")
        return self

    def stop(self) -> int:
        """SIGTERM and wait; the exit code."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(START_TIMEOUT)
        finally:
            self._close()

    def kill(self) -> None:
        """SIGKILL (a crash) and wait."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(START_TIMEOUT)
        self._close()

    def end(self, how: str) -> None:
        """``"term"``: stop; ``"kill"``: crash."""
        if how == "term":
            assert self.stop() == 0, self.log.read_text()
        else:
            self.kill()

    def _close(self) -> None:
        assert self.process is not None
        if self.process.stdout is not None:
            with contextlib.suppress(OSError):
                self.process.stdout.close()
