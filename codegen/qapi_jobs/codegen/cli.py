"""The translator's command line: ``python -m qapi_jobs.codegen SUBCOMMAND ...``.

Subcommands are contributed by backends: every subpackage of
:mod:`qapi_jobs.codegen.backends` that defines ``SUBCOMMANDS`` (a sequence
of :class:`Subcommand`) is found at start-up, so adding a backend needs no
change here.

Exit status: 0 on success; 1 when the schema is wrong or a backend cannot
do its job, with the error as the first line on stderr (``FILE:LINE:COL:
message`` for schema errors); 2 for bad command-line usage (argparse).
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from qapi_jobs.codegen.backends import BackendError
from qapi_jobs.codegen.errors import SchemaError
from qapi_jobs.codegen.lockfile import LockError
from qapi_jobs.codegen.model import Schema


@dataclass(frozen=True)
class Subcommand:
    """One subcommand: ``configure`` adds its arguments, ``run`` does the work
    (raising :class:`SchemaError`, :class:`BackendError` or :class:`LockError`
    on failure)."""

    name: str
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], None]


def discover() -> list[Subcommand]:
    """Every backend's subcommands, sorted by name."""
    backends = importlib.import_module("qapi_jobs.codegen.backends")
    found: dict[str, Subcommand] = {}
    for info in pkgutil.iter_modules(backends.__path__, f"{backends.__name__}."):
        module = importlib.import_module(info.name)
        for command in getattr(module, "SUBCOMMANDS", ()):
            if command.name in found:
                raise RuntimeError(f"two backends define subcommand {command.name!r}")
            found[command.name] = command
    return [found[name] for name in sorted(found)]


def build_parser(subcommands: Sequence[Subcommand]) -> argparse.ArgumentParser:
    """The argument parser with one sub-parser per subcommand."""
    parser = argparse.ArgumentParser(
        prog="python -m qapi_jobs.codegen",
        description="Translate a QAPI schema into other languages.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in subcommands:
        sub = commands.add_parser(command.name, help=command.help, description=command.help)
        command.configure(sub)
        sub.set_defaults(run=command.run)
    return parser


def load_schema(path: Path) -> Schema:
    """Parse and check the schema rooted at ``path`` (raises SchemaError)."""
    from qapi_jobs.codegen.frontend import load_schema as load

    return load(path)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = build_parser(discover()).parse_args(argv)
    try:
        args.run(args)
    except (SchemaError, BackendError, LockError) as err:
        print(str(err), file=sys.stderr)
        return 1
    return 0
