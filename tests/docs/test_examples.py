"""Every example in README.md and docs/*.md runs as written, in order, against a fresh server.

The convention, also stated in README.md ("Examples in the docs"):

* fenced blocks tagged ``sh``, ``bash`` or ``shell`` run in ``bash -e -o pipefail``,
  ``python`` blocks in the project's interpreter, ``js`` blocks in Node.js;
  they run from the repository root, with ``.venv/bin`` first on ``PATH`` and
  ``QAPI_JOBS_SERVER`` naming the server;
* the server is a real ``qapi-jobs-server`` process with a data directory of
  its own; the address the docs use, ``127.0.0.1:50051`` (``make run``'s), is
  replaced by the test server's;
* blocks with any other tag (``json``, ``text``, ``proto``, none) are listings
  and never run;
* a runnable block that must not run here (``make run`` itself, a benchmark,
  anything that edits the checkout) has ``<!-- not run: <why> -->`` on the
  line before its fence; a block that changes ``git status`` fails.

Each block is its own test case, named ``<file>:<first line>``, so a failure
says which block broke; the blocks of all files share one server, in the
order README.md, then docs/*.md by name, so job ids and file names must be
distinct across the docs.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from qapi_jobs.client.cli import exitcodes
from qapi_jobs.server import cli as server_cli
from tests.support.paths import REPO
from tests.support.servers import ServerProcess, free_port

DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
DOCUMENTED_ADDRESS = "127.0.0.1:50051"
RUNNERS = {"sh": "bash", "bash": "bash", "shell": "bash", "python": "python", "js": "node"}
NOT_RUN = re.compile(r"<!--\s*not run:\s*(?P<why>\S.*?)\s*-->")
FENCE = re.compile(r"^(?P<fence>```+|~~~+)\s*(?P<tag>[\w+-]*)")
BLOCK_TIMEOUT = 120.0
"""A block may wait for jobs; the limit only turns a hang into a failure."""


@dataclass(frozen=True)
class Block:
    """One fenced block of a Markdown file."""

    path: Path
    line: int
    tag: str
    text: str
    not_run: str | None

    @property
    def where(self) -> str:
        """``README.md:12``: the file, relative to the repository, and the fence's line."""
        return f"{self.path.relative_to(REPO)}:{self.line}"

    @property
    def runner(self) -> str | None:
        """What runs the block, or None for listings and blocks marked not to run."""
        return None if self.not_run is not None else RUNNERS.get(self.tag)


def blocks(path: Path) -> Iterator[Block]:
    """The fenced blocks of ``path``, in order."""
    lines = path.read_text(encoding="utf-8").splitlines()
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        previous = next((line for line in reversed(lines[:index]) if line.strip()), "")
        marker = NOT_RUN.search(previous)
        fence = opening["fence"]
        end = next(
            (i for i in range(index + 1, len(lines)) if lines[i].startswith(fence)), len(lines)
        )
        yield Block(
            path=path,
            line=index + 1,
            tag=opening["tag"].lower(),
            text="\n".join(lines[index + 1 : end]) + "\n",
            not_run=marker["why"] if marker else None,
        )
        index = end + 1


ALL_BLOCKS = [block for path in DOCS for block in blocks(path)]
RUNNABLE = [block for block in ALL_BLOCKS if block.runner is not None]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A fresh server process, with its own data directory, for all the examples."""
    process = ServerProcess(tmp_path_factory.mktemp("docs-data"), free_port()).start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="module")
def node_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory where a Node.js script finds the packages of ``tests/node``."""
    directory = tmp_path_factory.mktemp("node")
    (directory / "node_modules").symlink_to(REPO / "tests" / "node" / "node_modules")
    return directory


def _checkout() -> str:
    """``git status`` of the repository: what a block must leave as it found it."""
    status = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    return status.stdout


def _command(block: Block, text: str, node_dir: Path) -> list[str]:
    if block.runner == "bash":
        return ["bash", "-e", "-o", "pipefail", "-c", text]
    if block.runner == "python":
        return [sys.executable, "-c", text]
    script = node_dir / f"block-{block.line}.mjs"
    script.write_text(text, encoding="utf-8")
    return ["node", str(script)]


@pytest.mark.parametrize("block", RUNNABLE, ids=[block.where for block in RUNNABLE])
def test_example_runs(block: Block, server: ServerProcess, node_dir: Path) -> None:
    text = block.text.replace(DOCUMENTED_ADDRESS, server.address)
    bin_dir = str(Path(sys.executable).parent)
    env = dict(
        os.environ,
        PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        QAPI_JOBS_SERVER=server.address,
    )
    before = _checkout()
    done = subprocess.run(
        _command(block, text, node_dir),
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=BLOCK_TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, (
        f"the example at {block.where} exited {done.returncode}\n"
        f"--- block ---\n{text}--- stdout ---\n{done.stdout}--- stderr ---\n{done.stderr}"
    )
    assert _checkout() == before, f"the example at {block.where} changed the checkout"


def test_the_docs_have_examples_and_mark_what_does_not_run() -> None:
    assert len(RUNNABLE) >= 5
    marked = [block for block in ALL_BLOCKS if block.not_run is not None]
    # A marker on a listing would say nothing: only runnable blocks need one.
    assert all(block.tag in RUNNERS for block in marked), [b.where for b in marked]


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def _codes(path: Path, *header: str) -> set[int]:
    """The first column of the Markdown table whose header row is ``header``."""
    lines = path.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if _cells(line) == list(header))
    codes: set[int] = set()
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        codes.add(int(_cells(line)[0]))
    return codes


def _constants(module_path: Path, prefix: str = "") -> set[int]:
    """The upper-case integer constants a module assigns (whose names start with ``prefix``)."""
    tree = ast.parse(module_path.read_text(encoding="utf-8"))
    return {
        node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign)
        and isinstance(node.value, ast.Constant)
        and type(node.value.value) is int
        and all(isinstance(t, ast.Name) and t.id.isupper() for t in node.targets)
        and all(isinstance(t, ast.Name) and t.id.startswith(prefix) for t in node.targets)
    }


def test_the_exit_code_tables_match_the_code() -> None:
    client_codes = _codes(REPO / "docs" / "client.md", "code", "meaning")
    assert client_codes == _constants(Path(exitcodes.__file__))
    server_codes = _codes(REPO / "README.md", "server exit code", "meaning")
    assert server_codes == {0} | _constants(Path(server_cli.__file__), "EXIT_")
    # Success and usage errors aside, a script can tell the server's codes from the client's.
    assert not (server_codes - {exitcodes.OK, exitcodes.USAGE}) & client_codes
