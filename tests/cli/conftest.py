"""Fixtures: a real server for the command line, and a way to run ``qapi-jobs``.

The server helpers live in ``tests/client/servers.py``; they are loaded by
path because the two test directories are separate packages.
"""

from __future__ import annotations

import importlib.util
import itertools
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import pytest

from qapi_jobs.client.cli.main import main

if TYPE_CHECKING:
    from tests.client.servers import ThreadedServer


def _load_servers() -> ModuleType:
    path = Path(__file__).resolve().parents[1] / "client" / "servers.py"
    spec = importlib.util.spec_from_file_location("qapi_jobs_test_servers", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


servers = _load_servers()
QAPI_JOBS = Path(sys.executable).with_name("qapi-jobs")
_ids = itertools.count(1)


@dataclass
class Result:
    """What one run of ``qapi-jobs`` did."""

    code: int
    out: str
    err: str


@pytest.fixture
def job_id() -> str:
    """A job id no other test of the session uses."""
    return f"cli{next(_ids)}"


Cli = Callable[..., "Result"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedServer]:
    """A real server (in a thread) shared by a test module."""
    started: ThreadedServer = servers.ThreadedServer(tmp_path_factory.mktemp("data")).start()
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture
def cli(
    server: ThreadedServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[Cli]:
    """``cli("jobs", "--json")``: run ``main`` in-process against the server."""
    monkeypatch.setenv("QAPI_JOBS_SERVER", server.address)

    def run(*argv: str) -> Result:
        capsys.readouterr()
        try:
            code = main(list(argv))
        except SystemExit as exit_:
            code = int(exit_.code or 0)
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    yield run


def run_script(*argv: str, env: dict[str, str] | None = None, timeout: float = 60) -> Result:
    """Run the installed ``qapi-jobs`` script as a separate process."""
    done = subprocess.run(
        [str(QAPI_JOBS), *argv],
        capture_output=True,
        text=True,
        env=dict(os.environ, **(env or {})),
        timeout=timeout,
        check=False,
    )
    return Result(done.returncode, done.stdout, done.stderr)
