"""The layer contracts of pyproject.toml hold, and a violation of each fails the lint.

Each violation is planted in a copy of one package, put ahead of the real
one on ``PYTHONPATH``, and ``lint-imports`` is run with the project's own
contracts: the named contract must break.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.support.paths import REPO

LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _contracts_file(directory: Path) -> Path:
    """The project's import-linter settings, alone in a file of their own."""
    with (REPO / "pyproject.toml").open("rb") as file:
        settings = tomllib.load(file)["tool"]["importlinter"]
    lines = ["[tool.importlinter]"]
    lines.append(f"root_packages = {settings['root_packages']!r}")
    external = str(settings["include_external_packages"]).lower()
    lines.append(f"include_external_packages = {external}")
    for contract in settings["contracts"]:
        lines.append("[[tool.importlinter.contracts]]")
        lines += [f"{key} = {value!r}" for key, value in contract.items()]
    path = directory / "contracts.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def _lint(config: Path, pythonpath: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--config", str(config)],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        cwd=config.parent,
    )


def test_the_project_keeps_every_contract(tmp_path: Path) -> None:
    result = _lint(_contracts_file(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("distribution", "module", "statement", "contract"),
    [
        (
            "server",
            "qapi_jobs/server/jobs/planted.py",
            "from qapi_jobs.server.engines import builtin",
            "The job manager knows no engine and no gRPC",
        ),
        (
            "server",
            "qapi_jobs/server/jobs/planted.py",
            "import grpc",
            "The job manager knows no engine and no gRPC",
        ),
        (
            "server",
            "qapi_jobs/server/engines/planted.py",
            "from qapi_jobs.server.grpc import errors",
            "Engines know no gRPC",
        ),
        (
            "client",
            "qapi_jobs/client/planted.py",
            "from qapi_jobs.server.cli import main",
            "Client and server never import each other",
        ),
        (
            "server",
            "qapi_jobs/server/planted.py",
            "from qapi_jobs.client import errors",
            "Client and server never import each other",
        ),
        (
            "client",
            "qapi_jobs/client/planted.py",
            "from qapi_jobs.codegen import model",
            "Nothing imports the translator at run time",
        ),
        (
            "proto",
            "qapi_jobs/transcoder/planted.py",
            "from qapi_jobs.client import errors",
            "The wire package stands alone",
        ),
        (
            "codegen",
            "qapi_jobs/codegen/planted.py",
            "from qapi_jobs.transcoder import qmp_to_message",
            "The translator needs none of the run-time packages",
        ),
    ],
)
def test_a_violation_fails_the_lint(
    tmp_path: Path, distribution: str, module: str, statement: str, contract: str
) -> None:
    copy = tmp_path / distribution
    shutil.copytree(
        REPO / distribution / "qapi_jobs",
        copy / "qapi_jobs",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    (copy / module).write_text(f'"""A planted violation."""\n\n{statement}\n')
    result = _lint(_contracts_file(tmp_path), pythonpath=copy)
    assert result.returncode != 0, result.stdout
    assert f"{contract} BROKEN" in result.stdout
    assert result.stdout.count("BROKEN") == 1, result.stdout
