"""``qapi-jobs``: run the server, call any command of the schema, watch jobs.

Exit codes are listed in :mod:`qapi_jobs.client.cli.exitcodes` (and in
``qapi-jobs --help``).  Errors are one line on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from qapi_jobs.client.channel import server_address
from qapi_jobs.client.cli import exitcodes
from qapi_jobs.client.cli.commands import add_command_parsers
from qapi_jobs.client.cli.connection import add_connection_options
from qapi_jobs.client.cli.output import error_line
from qapi_jobs.client.cli.values import BadValue
from qapi_jobs.client.cli.watching import add_parsers as add_watch_parsers
from qapi_jobs.client.errors import QapiJobsError
from qapi_jobs.transcoder import TranscodeError

EPILOG = """\
exit codes:
  0    success
  1    the server refused the request (for a reason without a code below)
  2    usage error: bad option or argument value
  3    cannot reach the server, or it did not answer in time
  4    not found (e.g. no such job)
  5    the job's status does not allow the request
  6    invalid argument
  7    already exists (job id or target taken)
  8    permission denied (e.g. a path outside the data directory)
  9    wait: the job failed, concluded or vanished first
  10   wait: timed out
  130  interrupted
"""


def _run_serve(args: argparse.Namespace) -> int:
    from qapi_jobs.server.cli import serve

    return asyncio.run(serve(args))


def build_parser() -> argparse.ArgumentParser:
    """The whole command line: shared options and every subcommand."""
    parser = argparse.ArgumentParser(
        prog="qapi-jobs",
        description="Run the qapi-jobs server, call its commands and watch its jobs.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_connection_options(parser, suppress=False)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    from qapi_jobs.server.cli import add_serve_arguments

    serve = commands.add_parser(
        "serve", help="run the gRPC server", description="Run the qapi-jobs gRPC server."
    )
    add_serve_arguments(serve)
    serve.set_defaults(run=_run_serve)
    add_watch_parsers(commands)
    add_command_parsers(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``qapi-jobs`` with ``argv`` (default: the process's); returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.run(args)
    except QapiJobsError as err:
        print(error_line(err, server_address(getattr(args, "server", None))), file=sys.stderr)
        return exitcodes.for_status(err.code)
    except (BadValue, TranscodeError, ValueError) as err:
        print(f"qapi-jobs {args.command}: {err}", file=sys.stderr)
        return exitcodes.USAGE
    except KeyboardInterrupt:
        return exitcodes.INTERRUPTED
    except BrokenPipeError:
        return exitcodes.OK
    return code
