"""The four distributions: one version, and a client that installs without the server.

The wheel test builds qapi-jobs-proto and qapi-jobs-client, installs them
into a fresh virtual environment (their third-party dependencies come from
the package index, as for a user), runs ``qapi-jobs jobs --json`` against a
real server and checks that nothing of the server came along.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
import venv
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.paths import REPO
from tests.support.servers import ServerProcess, free_port

DISTRIBUTIONS = {
    "proto": "qapi-jobs-proto",
    "client": "qapi-jobs-client",
    "server": "qapi-jobs-server",
    "codegen": "qapi-jobs-codegen",
}


def _project(directory: str) -> dict[str, object]:
    with (REPO / directory / "pyproject.toml").open("rb") as file:
        project: dict[str, object] = tomllib.load(file)["project"]
    return project


def test_distributions_are_versioned_together() -> None:
    projects = {directory: _project(directory) for directory in DISTRIBUTIONS}
    assert {project["name"] for project in projects.values()} == set(DISTRIBUTIONS.values())
    versions = {project["version"] for project in projects.values()}
    assert len(versions) == 1, versions
    (version,) = versions
    for project in projects.values():
        dependencies = project.get("dependencies", [])
        assert isinstance(dependencies, list)
        for requirement in dependencies:
            name = re.split(r"[=<>!~ \[]", requirement, maxsplit=1)[0]
            if name in DISTRIBUTIONS.values():
                assert requirement == f"{name}=={version}", requirement


def test_client_depends_on_the_wire_package_only() -> None:
    dependencies = _project("client")["dependencies"]
    assert isinstance(dependencies, list)
    ours = {r.split("==")[0] for r in dependencies if r.startswith("qapi-jobs-")}
    assert ours == {"qapi-jobs-proto"}
    assert not any(r.startswith(("grpcio-health", "grpcio-reflection")) for r in dependencies)


@pytest.fixture
def server(data_dir: Path) -> Iterator[str]:
    """A real server on a free port; yields its address."""
    process = ServerProcess(data_dir, free_port()).start()
    try:
        yield process.address
    finally:
        process.stop()


def _run(*argv: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(arg) for arg in argv], capture_output=True, text=True, check=False, cwd=cwd
    )


def test_client_wheel_works_without_the_server(tmp_path: Path, server: str) -> None:
    wheels = tmp_path / "wheels"
    built = _run(
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "-q",
        "--no-deps",
        "--no-build-isolation",
        "-w",
        wheels,
        REPO / "proto",
        REPO / "client",
    )
    assert built.returncode == 0, built.stderr
    names = sorted(path.name for path in wheels.glob("*.whl"))
    assert [name.split("-")[0] for name in names] == ["qapi_jobs_client", "qapi_jobs_proto"]

    env = tmp_path / "venv"
    venv.create(env, with_pip=True)
    python = env / "bin" / "python"
    installed = _run(python, "-m", "pip", "install", "-q", *sorted(wheels.glob("*.whl")))
    assert installed.returncode == 0, installed.stderr

    # Run from an empty directory, so that nothing of the repository is on sys.path.
    listed = _run(env / "bin" / "qapi-jobs", "--server", server, "--json", "jobs", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == []

    for module in ("qapi_jobs.server", "grpc_health", "grpc_reflection", "qapi_jobs.codegen"):
        probe = _run(python, "-c", f"import {module}", cwd=tmp_path)
        assert probe.returncode != 0, f"{module} is importable beside the client"
        assert "ModuleNotFoundError" in probe.stderr

    serve = _run(env / "bin" / "qapi-jobs", "serve", "--help", cwd=tmp_path)
    assert serve.returncode == 2
    assert "pip install qapi-jobs-server" in serve.stderr
