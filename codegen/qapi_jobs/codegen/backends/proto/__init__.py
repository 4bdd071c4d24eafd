"""The Protobuf backend: a QAPI schema as proto3 files in buf's layout.

``generate`` writes ``<out>/<package path>/*.proto`` (one file per QAPI
module, plus ``service.proto`` and, when needed, ``builtins.proto``), the
custom options file ``<out>/qapi_jobs/qapi/v1/options.proto``, and updates
the lock file that keeps field numbers stable across schema edits.  The
subcommands ``proto`` and ``python`` expose it and the protoc step on the
command line.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from qapi_jobs.codegen.backends.proto.context import Settings
from qapi_jobs.codegen.backends.proto.output import write_files
from qapi_jobs.codegen.backends.proto.translate import translate
from qapi_jobs.codegen.cli import Subcommand, add_schema_arguments, load_schema
from qapi_jobs.codegen.lockfile import Lock
from qapi_jobs.codegen.model import Schema
from qapi_jobs.codegen.proto_names import package_path
from qapi_jobs.codegen.protoc import compile_python

DEFAULT_PACKAGE = "qapi_jobs.v1"
DEFAULT_SERVICE = "JobsService"
LOCK_NAME = "qapi-proto.lock.json"

__all__ = ["SUBCOMMANDS", "default_lock_path", "generate", "translate"]


def default_lock_path(out_dir: Path, package: str) -> Path:
    """Where the lock lives unless told otherwise: beside the package's protos."""
    return out_dir / package_path(package) / LOCK_NAME


def generate(
    schema: Schema,
    out_dir: Path,
    *,
    package: str = DEFAULT_PACKAGE,
    service: str = DEFAULT_SERVICE,
    lock_path: Path | None = None,
) -> list[Path]:
    """Translate ``schema`` into ``out_dir`` and update the lock file.

    Returns the .proto files written (options file included), sorted.
    Raises :class:`~qapi_jobs.codegen.backends.BackendError` or
    :class:`~qapi_jobs.codegen.lockfile.LockError`; on error nothing is
    written.
    """
    settings = Settings(package, service)
    lock_file = lock_path or default_lock_path(out_dir, package)
    lock = Lock.load(lock_file)
    files = translate(schema, settings, lock)
    written = write_files(out_dir, files)
    lock.save(lock_file)
    return written


def _configure_proto(parser: argparse.ArgumentParser) -> None:
    add_schema_arguments(parser)
    parser.add_argument("--out", type=Path, required=True, help="output root (buf module root)")
    parser.add_argument(
        "--package", default=DEFAULT_PACKAGE, help=f"proto package (default {DEFAULT_PACKAGE})"
    )
    parser.add_argument(
        "--service", default=DEFAULT_SERVICE, help=f"service name (default {DEFAULT_SERVICE})"
    )
    parser.add_argument(
        "--lock",
        type=Path,
        help=f"lock file (default OUT/<package path>/{LOCK_NAME})",
    )
    parser.add_argument(
        "--python",
        action="store_true",
        help="then compile OUT into Python modules and stubs (as the python subcommand)",
    )


def _run_proto(args: argparse.Namespace) -> None:
    schema = load_schema(args.schema, args.newer_rules)
    generate(schema, args.out, package=args.package, service=args.service, lock_path=args.lock)
    if args.python:
        compile_python(args.out)


def _configure_python(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("root", type=Path, help="the tree of .proto files (also the import root)")


def _run_python(args: argparse.Namespace) -> None:
    compile_python(args.root)


SUBCOMMANDS = (
    Subcommand(
        "proto",
        "translate a QAPI schema into proto3 files (buf layout) and update the lock file",
        _configure_proto,
        _run_proto,
    ),
    Subcommand(
        "python",
        "compile every .proto under a directory into _pb2/_pb2_grpc modules and .pyi stubs",
        _configure_python,
        _run_python,
    ),
)
