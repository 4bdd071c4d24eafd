"""One server per data directory, whatever the engine and whether it keeps a store.

Also: a state directory that is a symbolic link is refused, and a qemu
server that cannot start leaves no qemu-storage-daemon behind.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from qapi_jobs.server.cli import EXIT_LISTEN, EXIT_STORE
from qapi_jobs.server.store import STATE_DIR_NAME
from tests.support.servers import ServerProcess, free_port
from tests.support.timeouts import GUARD_TIMEOUT

MODES = {
    "store": [],
    "no-store": ["--no-store"],
    "qemu": ["--engine", "qemu"],
}


def _serve(data_dir: Path, *options: str) -> subprocess.CompletedProcess[str]:
    """Run a server that is expected to refuse to start."""
    return subprocess.run(
        [sys.executable, "-m", "qapi_jobs.server", "--listen", "127.0.0.1:0",
         "--data-dir", str(data_dir), *options],
        capture_output=True, text=True, timeout=GUARD_TIMEOUT, check=False,
    )  # fmt: skip


@pytest.mark.parametrize("first", MODES)
@pytest.mark.parametrize("second", MODES)
def test_a_second_server_is_refused_in_every_mode(data_dir: Path, first: str, second: str) -> None:
    running = ServerProcess(data_dir, free_port(), MODES[first]).start()
    try:
        refused = _serve(data_dir, *MODES[second])
        assert refused.returncode == EXIT_STORE, refused.stderr
        assert "another qapi-jobs server" in refused.stderr
    finally:
        running.stop()


def test_a_symlinked_state_directory_is_refused(data_dir: Path, outside: Path) -> None:
    (data_dir / STATE_DIR_NAME).symlink_to(outside, target_is_directory=True)
    for options in MODES.values():
        refused = _serve(data_dir, *options)
        assert refused.returncode == EXIT_STORE, refused.stderr
        assert "is not a directory" in refused.stderr
    assert sorted(path.name for path in outside.iterdir()) == ["secret.img"]


def _daemons() -> set[int]:
    """The qemu-storage-daemon processes that are alive (zombies left out)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        name, state = stat[stat.index("(") + 1 : stat.rindex(")")], stat[stat.rindex(")") + 2]
        if name == "qemu-storage-d" and state != "Z":
            found.add(int(entry.name))
    return found


def test_a_qemu_server_that_cannot_start_stops_its_daemon(data_dir: Path) -> None:
    before = _daemons()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        refused = _serve(data_dir, "--engine", "qemu", f"--metrics-listen=127.0.0.1:{port}")
    assert refused.returncode == EXIT_LISTEN, refused.stderr
    assert _daemons() - before == set()
    # And the data directory is free again for the next server.
    again = ServerProcess(data_dir, free_port(), ["--engine", "qemu"]).start()
    assert again.stop() == 0
    assert os.listdir(data_dir) == [STATE_DIR_NAME]
