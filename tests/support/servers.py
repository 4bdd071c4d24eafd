"""Real servers for the tests, all on ephemeral ports of 127.0.0.1.

* :func:`start_server`: the grpc.aio server on the caller's event loop;
* :class:`ThreadedServer`: the same server in a thread of its own with its
  own event loop, so that synchronous clients (and the CLI's ``main``) can
  call it from the test's thread;
* :class:`ServerProcess`: ``python -m qapi_jobs.server`` as a subprocess,
  for tests that stop, kill and restart the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import IO, Any

from qapi_jobs.server.engines.builtin import BuiltinEngine
from qapi_jobs.server.grpc.app import JobsServer, build_server
from qapi_jobs.server.grpc.config import ServerConfig

from .images import KIB
from .timeouts import GUARD_TIMEOUT

TEST_CHUNK = 64 * KIB
"""Small copy chunks, so that files of a few MiB take many steps (and speed limits bite)."""


def make_engine(data_dir: Path, **options: Any) -> BuiltinEngine:
    """The builtin engine on ``data_dir`` with the tests' small chunks."""
    return BuiltinEngine(data_dir, chunk_size=TEST_CHUNK, **options)


def server_config(data_dir: Path, **options: Any) -> ServerConfig:
    """A server configuration on an ephemeral port with a short shutdown grace."""
    options.setdefault("shutdown_grace", 1.0)
    return ServerConfig(data_dir=data_dir, listen=("127.0.0.1:0",), **options)


async def start_server(config: ServerConfig) -> JobsServer:
    """Build and start a server on the running loop; the caller stops it."""
    engine = make_engine(config.data_dir, mirror_poll_interval=0.01)
    server = await build_server(config, engine=engine)
    await server.start()
    return server


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ThreadedServer:
    """An in-process server running on its own event loop thread."""

    def __init__(self, data_dir: Path, **config: Any) -> None:
        self.data_dir = data_dir
        self._config = config
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self.server: JobsServer | None = None

    @property
    def address(self) -> str:
        """Where clients connect."""
        assert self.server is not None
        return self.server.address

    def start(self) -> ThreadedServer:
        """Build and start the server; returns self."""
        self._thread.start()
        self.server = self._run(self._start())
        return self

    async def _start(self) -> JobsServer:
        return await start_server(server_config(self.data_dir, **self._config))

    def _run(self, coro: Coroutine[object, object, JobsServer]) -> JobsServer:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(GUARD_TIMEOUT)

    def stop(self) -> None:
        """Stop the server and its thread."""
        if self.server is not None:
            future = asyncio.run_coroutine_threadsafe(self.server.stop(), self._loop)
            future.result(GUARD_TIMEOUT)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(GUARD_TIMEOUT)
        self._loop.close()


def _pump(stream: IO[str], lines: queue.Queue[str | None]) -> None:
    for line in stream:
        lines.put(line)
    lines.put(None)


class ServerProcess:
    """``python -m qapi_jobs.server`` on a fixed port, restartable."""

    def __init__(self, data_dir: Path, port: int, extra: Sequence[str] = ()) -> None:
        self.data_dir = data_dir
        self.port = port
        self.extra = list(extra)
        self.process: subprocess.Popen[str] | None = None

    @property
    def address(self) -> str:
        """Where clients connect."""
        return f"127.0.0.1:{self.port}"

    def start(self) -> ServerProcess:
        """Start the server and wait until it listens; returns self."""
        command = [
            sys.executable,
            "-m",
            "qapi_jobs.server",
            "--listen",
            self.address,
            "--data-dir",
            str(self.data_dir),
            "--shutdown-grace",
            "1",
            "--log-level",
            "warning",
            *self.extra,
        ]
        self.process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=dict(os.environ, PYTHONUNBUFFERED="1"),
        )
        assert self.process.stdout is not None
        lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=_pump, args=(self.process.stdout, lines), daemon=True).start()
        try:
            line = lines.get(timeout=GUARD_TIMEOUT)
        except queue.Empty:
            line = None
        if line is None or "listening on" not in line:
            self.kill()
            assert self.process.stderr is not None
            raise RuntimeError(f"server did not start: {line!r} {self.process.stderr.read()}")
        return self

    def stop(self) -> int:
        """SIGTERM and wait; returns the exit code."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(GUARD_TIMEOUT)
        finally:
            self._close_pipes()

    def kill(self) -> None:
        """SIGKILL (a crash) and wait."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(GUARD_TIMEOUT)
        self._close_pipes()

    def _close_pipes(self) -> None:
        assert self.process is not None
        for pipe in (self.process.stdout, self.process.stderr):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()
