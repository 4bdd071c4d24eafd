"""The options every client subcommand shares: where the server is, TLS, deadline."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from qapi_jobs.client.channel import DEFAULT_ADDRESS, DEFAULT_PORT, DEFAULT_TIMEOUT, ENV_SERVER, Tls
from qapi_jobs.client.errors import QapiJobsError
from qapi_jobs.client.resume import ReconnectPolicy
from qapi_jobs.client.sync_client import JobsClient

OPTION_NAMES = frozenset(
    {
        "server",
        "json",
        "timeout",
        "tls",
        "tls-ca",
        "tls-cert",
        "tls-key",
        "tls-server-name",
        "help",
        "wait",
        "version",
    }
)
"""Long options the shared options take; a command member with one of these
names is spelled ``--arg-NAME`` instead."""


def add_connection_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    """Add the shared options; ``suppress`` leaves unset ones out of the
    namespace (for sub-parsers, so that the main parser's values stand)."""

    def default(value: object) -> object:
        return argparse.SUPPRESS if suppress else value

    group = parser.add_argument_group("connection")
    group.add_argument(
        "--server",
        metavar="ADDR",
        default=default(None),
        help=f"the server's HOST[:PORT] (port {DEFAULT_PORT} if left out; http:// is "
        f"accepted, https:// with --tls; default: ${ENV_SERVER}, else {DEFAULT_ADDRESS})",
    )
    group.add_argument(
        "--timeout",
        type=float,
        metavar="S",
        default=default(DEFAULT_TIMEOUT),
        help=f"deadline of each call in seconds (default: {DEFAULT_TIMEOUT:g})",
    )
    group.add_argument(
        "--json",
        action="store_true",
        default=default(False),
        help="print QMP-form JSON, one document per line, for scripts",
    )
    group.add_argument(
        "--tls", action="store_true", default=default(False), help="use TLS (system CA roots)"
    )
    group.add_argument(
        "--tls-ca",
        dest="client_tls_ca",
        type=Path,
        metavar="FILE",
        default=default(None),
        help="CA certificates (PEM) to verify the server with; implies --tls",
    )
    group.add_argument(
        "--tls-cert",
        dest="client_tls_cert",
        type=Path,
        metavar="FILE",
        default=default(None),
        help="client certificate (PEM) for mutual TLS; implies --tls",
    )
    group.add_argument(
        "--tls-key",
        dest="client_tls_key",
        type=Path,
        metavar="FILE",
        default=default(None),
        help="the client certificate's private key (PEM)",
    )
    group.add_argument(
        "--tls-server-name",
        dest="client_tls_server_name",
        metavar="NAME",
        default=default(None),
        help="the name to expect in the server's certificate (when dialling an IP)",
    )


def tls_wanted(args: argparse.Namespace) -> bool:
    """Whether the options ask for TLS."""
    files = (
        getattr(args, "client_tls_ca", None),
        getattr(args, "client_tls_cert", None),
        getattr(args, "client_tls_key", None),
        getattr(args, "client_tls_server_name", None),
    )
    return bool(getattr(args, "tls", False)) or any(f is not None for f in files)


def tls_from_args(args: argparse.Namespace) -> Tls | None:
    """The TLS settings the options ask for (None: plaintext)."""
    if not tls_wanted(args):
        return None
    try:
        return Tls(
            ca=_read(args.client_tls_ca),
            cert=_read(args.client_tls_cert),
            key=_read(args.client_tls_key),
            server_name=args.client_tls_server_name,
        )
    except OSError as err:
        raise ValueError(f"cannot read {err.filename}: {err.strerror}") from err


def _read(path: Path | None) -> bytes | None:
    return None if path is None else path.read_bytes()


def note_retry(error: QapiJobsError, delay: float) -> None:
    """Say on stderr that a watch lost the server and when it tries again."""
    print(
        f"qapi-jobs: watch interrupted: {error.message} ({error.code.name}); "
        f"reconnecting in {delay:.1f}s",
        file=sys.stderr,
        flush=True,
    )


def connect(
    args: argparse.Namespace,
    *,
    probe: bool = False,
    on_retry: Callable[[QapiJobsError, float], None] | None = None,
) -> JobsClient:
    """A client for the options.  With ``probe``, one cheap call first, so
    that a command that would otherwise wait on a stream (which reconnects
    by itself) fails at once when the server cannot be reached.
    ``on_retry`` hears of each reconnection of a watch (default:
    :func:`note_retry`, a line on stderr)."""
    tls = tls_from_args(args)
    if tls is not None and (tls.cert is None) != (tls.key is None):
        raise ValueError("--tls-cert and --tls-key go together")
    client = JobsClient(
        args.server,
        tls=tls,
        timeout=args.timeout,
        reconnect=ReconnectPolicy(on_retry=on_retry or note_retry),
    )
    if probe:
        try:
            client.query_jobs()
        except QapiJobsError:
            client.close()
            raise
    return client
