"""Running qemu-storage-daemon and qemu-img: the tools QEMU users have today."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.processes import Child, ChildFailed, start_child, stop_child
from bench.qmp import QmpClient

INSTALL_HINT = (
    "install QEMU's tools to measure this baseline: apt-get install qemu-system-common qemu-utils"
)
"""What to tell a user whose machine lacks qemu-storage-daemon or qemu-img."""


def missing_tool(name: str) -> str | None:
    """None when ``name`` is on PATH, else a reason to skip that says how to install it."""
    if shutil.which(name) is not None:
        return None
    return f"{name} not found; {INSTALL_HINT}"


@dataclass
class StorageDaemon:
    """A running qemu-storage-daemon and a QMP connection to it."""

    child: Child
    qmp: QmpClient
    workdir: Path


@asynccontextmanager
async def storage_daemon(
    workdir: Path, start_timeout: float = 15.0
) -> AsyncIterator[StorageDaemon]:
    """Start qemu-storage-daemon with one QMP monitor on a UNIX socket in ``workdir``."""
    binary = shutil.which("qemu-storage-daemon")
    if binary is None:
        raise ChildFailed(missing_tool("qemu-storage-daemon") or "")
    await asyncio.to_thread(workdir.mkdir, parents=True, exist_ok=True)
    socket_path = workdir / "qmp.sock"
    argv = [
        binary,
        "--chardev",
        f"socket,path={socket_path},server=on,wait=off,id=qmp0",
        "--monitor",
        "chardev=qmp0",
    ]
    child = await start_child(argv, workdir / "qemu-storage-daemon.log")
    try:
        qmp = await _connect_when_listening(child, socket_path, start_timeout)
    except BaseException:
        await stop_child(child)
        raise
    try:
        yield StorageDaemon(child, qmp, workdir)
    finally:
        await qmp.close()
        await stop_child(child)


async def _connect_when_listening(
    child: Child, socket_path: Path, wait_seconds: float
) -> QmpClient:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_seconds
    while True:
        if child.process.returncode is not None:
            raise ChildFailed(f"qemu-storage-daemon exited\n{child.log_tail()}")
        if await asyncio.to_thread(socket_path.exists):
            try:
                return await QmpClient.connect(socket_path)
            except (ConnectionError, FileNotFoundError):
                pass
        if loop.time() > deadline:
            raise ChildFailed(f"qemu-storage-daemon not listening after {wait_seconds} s")
        await asyncio.sleep(0.02)
