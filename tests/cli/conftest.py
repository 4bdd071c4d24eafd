"""Fixtures: ``qapi-jobs``'s ``main`` run in-process against a real server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from qapi_jobs.client.cli.main import main
from tests.support.cli import Cli, Result
from tests.support.servers import ThreadedServer


@pytest.fixture
def cli(
    threaded_server: ThreadedServer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Cli]:
    """``cli("jobs", "--json")``: run ``main`` in-process against the module's server."""
    monkeypatch.setenv("QAPI_JOBS_SERVER", threaded_server.address)

    def run(*argv: str) -> Result:
        capsys.readouterr()
        try:
            code = main(list(argv))
        except SystemExit as exit_:
            code = int(exit_.code or 0)
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    yield run
