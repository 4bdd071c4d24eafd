"""Running the ``qapi-jobs`` command line, in-process or as the installed script."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .timeouts import GUARD_TIMEOUT

QAPI_JOBS = Path(sys.executable).with_name("qapi-jobs")
"""The console script of the environment the tests run in."""


@dataclass
class Result:
    """What one run of ``qapi-jobs`` did."""

    code: int
    out: str
    err: str


def run_script(
    *argv: str, env: dict[str, str] | None = None, timeout: float = GUARD_TIMEOUT
) -> Result:
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


Cli = Callable[..., Result]
"""``cli("jobs", "--json")``: the type of the ``cli`` fixture of ``tests/cli``."""
