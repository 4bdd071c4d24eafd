"""``qapi-jobs``: call any command of the schema, watch jobs, run the server.

Exit codes are listed in :mod:`qapi_jobs.client.cli.exitcodes` (and in
``qapi-jobs --help``).  Errors are one line on stderr.

Commands of other installed packages (``serve`` of qapi-jobs-server) are
found through the ``qapi_jobs.cli`` entry-point group and loaded only when
they run, so the client never imports the server.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from importlib.metadata import EntryPoint, PackageNotFoundError, entry_points, version
from typing import Any

from qapi_jobs.client.channel import server_address, target
from qapi_jobs.client.cli import exitcodes
from qapi_jobs.client.cli.commands import add_command_parsers
from qapi_jobs.client.cli.connection import add_connection_options, tls_wanted
from qapi_jobs.client.cli.output import error_line
from qapi_jobs.client.cli.values import BadValue
from qapi_jobs.client.cli.watching import add_parsers as add_watch_parsers
from qapi_jobs.client.errors import QapiJobsError
from qapi_jobs.transcoder import TranscodeError

CLIENT_PACKAGE = "qapi-jobs-client"


PLUGIN_GROUP = "qapi_jobs.cli"
"""Entry points of this group are commands, each ``main(argv, prog=...) -> int``."""
SERVER_PACKAGE = "qapi-jobs-server"


def _plugins() -> dict[str, EntryPoint]:
    return {point.name: point for point in entry_points(group=PLUGIN_GROUP)}


def _add_plugin_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """List the plugin commands in the help; main() runs them before parsing."""
    for name, point in sorted(_plugins().items()):
        source = point.dist.name if point.dist is not None else "a plugin"
        commands.add_parser(
            name, help=f"from {source}; see 'qapi-jobs {name} --help'", add_help=False
        )


class _SubcommandParser(argparse.ArgumentParser):
    """A subcommand's parser: an unknown option is reported with the
    subcommand's usage (argparse would leave it to the top-level parser,
    whose usage does not show the subcommand's options)."""

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: Any = None
    ) -> tuple[argparse.Namespace, list[str]]:
        parsed, extras = super().parse_known_args(args, namespace)
        if extras:
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        return parsed, extras


def client_version() -> str:
    """The installed qapi-jobs-client's version."""
    try:
        return version(CLIENT_PACKAGE)
    except PackageNotFoundError:
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    """The whole command line: shared options and every subcommand."""
    parser = argparse.ArgumentParser(
        prog="qapi-jobs",
        description="Call the commands of a qapi-jobs server and watch its jobs.",
        epilog=exitcodes.epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--version", action="version", version=f"{CLIENT_PACKAGE} {client_version()}"
    )
    add_connection_options(parser, suppress=False)
    commands: argparse._SubParsersAction[argparse.ArgumentParser] = parser.add_subparsers(
        dest="command",
        required=True,
        metavar="COMMAND",
        parser_class=_SubcommandParser,
    )
    _add_plugin_parsers(commands)
    add_watch_parsers(commands)
    add_command_parsers(commands)
    return parser


def _shown_address(args: argparse.Namespace) -> str:
    """The address the client dialled, port included, for error lines."""
    given = getattr(args, "server", None)
    try:
        return target(given, tls=True)
    except ValueError:
        return server_address(given)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``qapi-jobs`` with ``argv`` (default: the process's); returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv:
        plugin = _plugins().get(argv[0])
        if plugin is not None:
            code: int = plugin.load()(argv[1:], prog=f"qapi-jobs {argv[0]}")
            return code
        if argv[0] == "serve":
            print(
                f"qapi-jobs serve: the server is not installed here (pip install {SERVER_PACKAGE})",
                file=sys.stderr,
            )
            return exitcodes.USAGE
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code = args.run(args)
    except QapiJobsError as err:
        print(error_line(err, _shown_address(args), tls=tls_wanted(args)), file=sys.stderr)
        return exitcodes.for_status(err.code)
    except (BadValue, TranscodeError, ValueError) as err:
        print(f"qapi-jobs {args.command}: {err}", file=sys.stderr)
        return exitcodes.USAGE
    except KeyboardInterrupt:
        return exitcodes.INTERRUPTED
    except BrokenPipeError:
        return exitcodes.OK
    return code
