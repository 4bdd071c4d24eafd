"""The translator's command line: ``python -m qapi_jobs.codegen SUBCOMMAND ...``.

Subcommands are contributed by backends: every subpackage of
:mod:`qapi_jobs.codegen.backends` that defines ``SUBCOMMANDS`` (a sequence
of :class:`Subcommand`) is found at start-up, so adding a backend needs no
change here.

Exit status: 0 on success; 1 when the schema is wrong or a backend cannot
do its job, with the error on stderr (for schema errors QEMU's context
lines, then ``FILE:LINE:COL: message``); 2 for bad command-line usage
(argparse).  Warnings (``FILE:LINE:COL: warning: message``) go to stderr
and do not change the exit status.
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
from qapi_jobs.codegen.releases import NEWER_RULES_CHOICES, NewerRules


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


def add_schema_arguments(parser: argparse.ArgumentParser) -> None:
    """The schema argument and the options of how it is checked."""
    parser.add_argument("schema", type=Path, help="the root file of the QAPI schema")
    parser.add_argument(
        "--newer-rules",
        choices=NEWER_RULES_CHOICES,
        default="auto",
        help="rules QEMU added after 7.2 (undocumented members, conditional arguments "
        "without 'boxed', 'Returns:' without 'returns'): errors or warnings; 'auto' "
        "makes them errors when the schema has pragma 'documentation-exceptions'",
    )


def load_schema(path: Path, newer_rules: NewerRules = "auto") -> Schema:
    """Parse and check the schema rooted at ``path`` (raises SchemaError);
    its warnings go to stderr."""
    from qapi_jobs.codegen.frontend import load_schema as load

    schema = load(path, newer_rules=newer_rules)
    for warning in schema.warnings:
        print(warning, file=sys.stderr)
    return schema


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = build_parser(discover()).parse_args(argv)
    try:
        args.run(args)
    except (SchemaError, BackendError, LockError) as err:
        print(str(err), file=sys.stderr)
        return 1
    return 0
