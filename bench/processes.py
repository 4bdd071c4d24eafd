"""Starting and stopping the server processes the benchmarks talk to."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

PYTHON = sys.executable
"""The interpreter that runs the benchmark; servers written in Python run under it too."""


class ChildFailed(RuntimeError):
    """A server process exited or did not become ready in time."""


@dataclass
class Child:
    """A running child process whose stderr (and maybe stdout) goes to a log file."""

    process: asyncio.subprocess.Process
    log_path: Path

    @property
    def pid(self) -> int:
        """The child's process id."""
        return self.process.pid

    async def first_line(self, wait_seconds: float) -> str:
        """The first line the child prints on stdout (its "I am listening" line)."""
        stdout = self.process.stdout
        if stdout is None:
            raise ChildFailed("the child's stdout is not a pipe")
        try:
            line = await asyncio.wait_for(stdout.readline(), wait_seconds)
        except TimeoutError:
            raise ChildFailed(f"no output within {wait_seconds} s\n{self.log_tail()}") from None
        if not line:
            await self.process.wait()
            raise ChildFailed(
                f"exited with status {self.process.returncode} before it was ready\n"
                f"{self.log_tail()}"
            )
        return line.decode().strip()

    def log_tail(self, lines: int = 20) -> str:
        """The end of the child's log, for error messages."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


async def start_child(
    argv: Sequence[str],
    log_path: Path,
    *,
    stdout_pipe: bool = False,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Child:
    """Start ``argv`` with stdin as a pipe (closing it asks our own servers to exit)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = log_path.open("ab")
    try:
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE if stdout_pipe else log,
            stderr=log,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
        )
    finally:
        log.close()
    return Child(process, log_path)


async def stop_child(child: Child, grace: float = 10.0) -> None:
    """Ask the child to exit (stdin closed, SIGTERM) and kill it if it does not."""
    process = child.process
    if process.returncode is not None:
        return
    if process.stdin is not None:
        process.stdin.close()
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(process.wait(), grace)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()


@asynccontextmanager
async def running(
    argv: Sequence[str],
    log_path: Path,
    *,
    stdout_pipe: bool = False,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> AsyncIterator[Child]:
    """A child process for the duration of the ``async with`` block."""
    child = await start_child(argv, log_path, stdout_pipe=stdout_pipe, env=env, cwd=cwd)
    try:
        yield child
    finally:
        await stop_child(child)


def python_env() -> dict[str, str]:
    """The environment for Python children: ours, unbuffered, with the repo on sys.path."""
    env = dict(os.environ)
    repo = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (repo, env.get("PYTHONPATH", "")) if p)
    env["PYTHONUNBUFFERED"] = "1"
    return env
