"""The client backend: a typed Python client generated from a QAPI schema.

``generate`` writes a package (``--out``) holding one method per command,
for a synchronous and an asyncio client, with keyword arguments named and
typed after the request fields and docstrings taken from the schema, plus
the table the ``qapi-jobs`` command line builds its subcommands from.  The
names of messages, fields and modules are those the proto backend gives
(read from its lock file), so the client always matches the protos.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from qapi_jobs.codegen.backends import BackendError
from qapi_jobs.codegen.backends.client import unasync
from qapi_jobs.codegen.backends.client.output import write_package
from qapi_jobs.codegen.backends.client.protoview import build
from qapi_jobs.codegen.backends.client.render import (
    Target,
    commands_module,
    package_module,
    table_module,
)
from qapi_jobs.codegen.backends.client.spec import method_specs
from qapi_jobs.codegen.backends.proto import DEFAULT_PACKAGE, DEFAULT_SERVICE, default_lock_path
from qapi_jobs.codegen.backends.proto.context import SERVICE_SYMBOL, Settings
from qapi_jobs.codegen.cli import Subcommand, add_schema_arguments, load_schema
from qapi_jobs.codegen.lockfile import Lock
from qapi_jobs.codegen.model import Schema

__all__ = ["SUBCOMMANDS", "generate", "render"]


def render(schema: Schema, *, package: str, service: str, lock: Lock) -> dict[str, str]:
    """The generated package's files (name → text) for ``schema``.

    ``lock`` must be the proto backend's lock for ``package``; it is changed
    in memory only.
    """
    if not schema.modules:
        raise BackendError("the schema has no modules")
    view = build(schema, Settings(package, service), lock)
    specs = method_specs(view)
    stub_module = view.service_module + "_grpc"
    target = Target(
        schema.modules[0].name, stub_module, view.context.names[SERVICE_SYMBOL] + "Stub"
    )
    return {
        "__init__.py": package_module(target),
        "sync_commands.py": commands_module(specs, target, is_async=False),
        "async_commands.py": commands_module(specs, target, is_async=True),
        "command_table.py": table_module(specs, target),
    }


def generate(
    schema: Schema,
    out_dir: Path,
    *,
    package: str = DEFAULT_PACKAGE,
    service: str = DEFAULT_SERVICE,
    lock_path: Path,
) -> list[Path]:
    """Write the client package for ``schema`` into ``out_dir``.

    ``lock_path`` is the proto backend's lock file, which must exist (run
    the proto backend first).  Returns the files written, sorted.
    """
    if not lock_path.exists():
        raise BackendError(
            f"{lock_path}: no lock file; generate the protos first (the client must use "
            "the names they were given)"
        )
    files = render(schema, package=package, service=service, lock=Lock.load(lock_path))
    return write_package(out_dir, files)


def _configure(parser: argparse.ArgumentParser) -> None:
    add_schema_arguments(parser)
    parser.add_argument("--out", type=Path, required=True, help="the package directory to write")
    parser.add_argument(
        "--proto-package",
        default=DEFAULT_PACKAGE,
        help=f"the proto package the protos were generated in (default {DEFAULT_PACKAGE})",
    )
    parser.add_argument(
        "--service", default=DEFAULT_SERVICE, help=f"service name (default {DEFAULT_SERVICE})"
    )
    parser.add_argument(
        "--proto-root",
        type=Path,
        default=Path("proto"),
        help="where the proto backend wrote its output (default: proto)",
    )
    parser.add_argument(
        "--lock", type=Path, help="the proto lock file (default: under --proto-root)"
    )


def _run(args: argparse.Namespace) -> None:
    schema = load_schema(args.schema, args.newer_rules)
    lock = args.lock or default_lock_path(args.proto_root, args.proto_package)
    generate(schema, args.out, package=args.proto_package, service=args.service, lock_path=lock)


SUBCOMMANDS = (
    Subcommand(
        "client",
        "generate the typed Python client (sync and asyncio) and the command table",
        _configure,
        _run,
    ),
    Subcommand(
        "unasync",
        "generate the synchronous client modules from the asyncio ones",
        unasync.configure,
        unasync.run,
    ),
)
