"""The examples type-check under mypy --strict and run against a real server."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

from qapi_jobs.client import JobsClient
from tests.support.paths import REPO
from tests.support.servers import ThreadedServer

EXAMPLES = REPO / "examples"


def _run(server: ThreadedServer, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, QAPI_JOBS_SERVER=server.address)
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, env=env, timeout=60, check=False
    )


def test_examples_pass_mypy_strict() -> None:
    result = subprocess.run(
        [str(Path(sys.executable).with_name("mypy")), "--strict", str(EXAMPLES)],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_examples_run(threaded_server: ThreadedServer) -> None:
    watcher = subprocess.Popen(
        [sys.executable, str(EXAMPLES / "watch_events.py"), "6"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, QAPI_JOBS_SERVER=threaded_server.address),
    )
    assert watcher.stdout is not None
    # The watcher prints its snapshot line once it is watching.
    ready = threading.Event()
    lines: list[str] = []

    def read() -> None:
        assert watcher.stdout is not None
        for line in watcher.stdout:
            lines.append(line)
            ready.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    assert ready.wait(30), watcher.stderr.read() if watcher.stderr else ""

    created = _run(threaded_server, str(EXAMPLES / "create_image.py"), "ex.raw", "2M")
    assert created.returncode == 0, created.stderr
    assert created.stdout.splitlines()[-1] == "ex.raw created"
    assert "create-ex.raw: concluded 2097152/2097152" in created.stdout
    assert (threaded_server.data_dir / "ex.raw").stat().st_size == 2 << 20

    backup = _run(threaded_server, str(EXAMPLES / "backup_async.py"), "ex.raw", "ex-copy.raw")
    assert backup.returncode == 0, backup.stderr
    assert "ex-copy.raw holds a copy of ex.raw" in backup.stdout
    assert "pending" in backup.stdout

    errors = _run(threaded_server, str(EXAMPLES / "handle_errors.py"))
    assert errors.returncode == 0, errors.stderr
    assert (
        errors.stdout.strip() == "not found: Job not found (reason JOB_NOT_FOUND, job no-such-job)"
    )

    assert watcher.wait(30) == 0
    reader.join(10)
    assert lines[0].startswith("[INITIAL] jobs:")
    assert len(lines) == 7 and all(" JOB_STATUS_CHANGE " in line for line in lines[1:])
    with JobsClient(threaded_server.address) as client:
        assert client.find_job("create-ex.raw") is None
        assert client.find_job("backup-ex.raw") is None
