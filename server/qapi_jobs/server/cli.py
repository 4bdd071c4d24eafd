"""``qapi-jobs-server`` (also ``qapi-jobs serve``): run the gRPC server until SIGTERM or SIGINT.

Once the server listens, one line goes to stdout::

    qapi-jobs listening on 127.0.0.1:50051

(several addresses are separated by ", "), so that scripts started with
port 0 can read the port.  Logs go to stderr.

Exit codes, chosen not to clash with those of the client's commands
(:mod:`qapi_jobs.client.cli.exitcodes`): 0 after a signal-triggered
shutdown, 2 for a usage or configuration error (as for every command),
11 when an address cannot be bound, 12 when the shutdown overran its grace
period by far and was abandoned, 13 when the durable store cannot be used
(another server owns the data directory, a damaged or foreign store file,
a read-only data directory).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from qapi_jobs.server.grpc.app import JobsServer, ListenError, build_server
from qapi_jobs.server.grpc.config import (
    DEFAULT_LISTEN,
    DEFAULT_MAX_MESSAGE_SIZE,
    DEFAULT_SHUTDOWN_GRACE,
    ENGINES,
    ConfigError,
    ServerConfig,
    StateConfig,
    TlsConfig,
)
from qapi_jobs.server.grpc.logs import LOG_FORMATS, configure_logging
from qapi_jobs.server.grpc.watch import WatchSettings
from qapi_jobs.server.jobs.events import DEFAULT_RETENTION
from qapi_jobs.server.store import StoreError

logger = logging.getLogger(__name__)

LISTENING = "qapi-jobs listening on"
"""The start of the line printed to stdout once the server accepts calls."""
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
EXIT_CONFIG = 2
EXIT_LISTEN = 11
EXIT_STUCK = 12
EXIT_STORE = 13
SHUTDOWN_SLACK = 5.0
"""Seconds beyond the shutdown grace before a stuck shutdown is abandoned."""


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, not {text}")
    return value


def _non_negative_float(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"cannot be negative: {text}")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, not {text}")
    return value


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the server's options to ``parser``."""
    defaults = WatchSettings()
    network = parser.add_argument_group("network")
    network.add_argument(
        "--listen",
        action="append",
        metavar="ADDR",
        help=f"HOST:PORT or unix:PATH to listen on; repeatable; port 0 picks a free port "
        f"(default: {DEFAULT_LISTEN})",
    )
    network.add_argument(
        "--max-message-size",
        type=_positive_int,
        default=DEFAULT_MAX_MESSAGE_SIZE,
        metavar="BYTES",
        help="largest message sent or received (default: %(default)s)",
    )
    network.add_argument(
        "--shutdown-grace",
        type=_non_negative_float,
        default=DEFAULT_SHUTDOWN_GRACE,
        metavar="S",
        help="seconds calls in flight and cancelled jobs get at shutdown (default: %(default)s)",
    )
    jobs = parser.add_argument_group("jobs")
    jobs.add_argument(
        "--data-dir",
        type=Path,
        required=True,
        metavar="DIR",
        help="the directory holding every image; clients name images relative to it",
    )
    jobs.add_argument(
        "--engine",
        choices=ENGINES,
        default="builtin",
        help="what runs the jobs (default: %(default)s; qemu is not available yet)",
    )
    watching = parser.add_argument_group("watch streams")
    watching.add_argument(
        "--event-retention",
        type=_positive_int,
        default=DEFAULT_RETENTION,
        metavar="N",
        help="events kept for watchers that resume (default: %(default)s)",
    )
    watching.add_argument(
        "--heartbeat-interval",
        type=_positive_float,
        default=defaults.heartbeat_interval,
        metavar="S",
        help="seconds between heartbeats on an idle watch stream (default: %(default)s)",
    )
    watching.add_argument(
        "--watcher-max-lag",
        type=_positive_int,
        default=defaults.max_lag,
        metavar="N",
        help="events a watcher may fall behind before it is dropped (default: %(default)s)",
    )
    watching.add_argument(
        "--job-watch-interval",
        type=_positive_float,
        default=defaults.job_watch_interval,
        metavar="S",
        help="default shortest time between two WatchJobs snapshots (default: %(default)s)",
    )
    _add_state_arguments(parser)
    tls = parser.add_argument_group("TLS")
    tls.add_argument("--tls-cert", type=Path, metavar="FILE", help="server certificate (PEM)")
    tls.add_argument("--tls-key", type=Path, metavar="FILE", help="server private key (PEM)")
    tls.add_argument(
        "--tls-client-ca",
        type=Path,
        metavar="FILE",
        help="CA certificates (PEM) that client certificates are verified against",
    )
    tls.add_argument(
        "--require-client-auth",
        action="store_true",
        help="refuse clients without a certificate signed by --tls-client-ca (mutual TLS)",
    )
    logs = parser.add_argument_group("logging")
    logs.add_argument(
        "--log-format", choices=LOG_FORMATS, default="text", help="(default: %(default)s)"
    )
    logs.add_argument(
        "--log-level",
        type=str.lower,
        choices=LOG_LEVELS,
        default="info",
        help="debug also logs every job event (default: %(default)s)",
    )


def _add_state_arguments(parser: argparse.ArgumentParser) -> None:
    state = parser.add_argument_group("durable state (docs/durability.md)")
    state.add_argument(
        "--no-store",
        dest="durable",
        action="store_false",
        help="keep job records and events in memory only: a restart forgets them",
    )
    state.add_argument(
        "--power-loss-safe",
        action="store_true",
        help="fsync every commit of the store, so a power cut loses nothing acknowledged "
        "(slower: one disk flush per event loop iteration that published)",
    )
    state.add_argument(
        "--event-max-age",
        type=_positive_float,
        metavar="S",
        help="also drop events older than this many seconds (default: by count only)",
    )


def _state_config(args: argparse.Namespace) -> StateConfig:
    return StateConfig(
        durable=args.durable, power_loss=args.power_loss_safe, event_max_age=args.event_max_age
    )


def config_from_args(args: argparse.Namespace) -> ServerConfig:
    """The server configuration the parsed options describe; ConfigError if inconsistent."""
    tls = None
    if args.tls_cert is not None or args.tls_key is not None:
        if args.tls_cert is None or args.tls_key is None:
            raise ConfigError("TLS needs both --tls-cert and --tls-key")
        tls = TlsConfig(
            cert=args.tls_cert,
            key=args.tls_key,
            client_ca=args.tls_client_ca,
            require_client_auth=args.require_client_auth,
        )
    elif args.tls_client_ca is not None or args.require_client_auth:
        raise ConfigError("--tls-client-ca and --require-client-auth need --tls-cert and --tls-key")
    try:
        watch = WatchSettings(
            heartbeat_interval=args.heartbeat_interval,
            job_watch_interval=args.job_watch_interval,
            max_lag=args.watcher_max_lag,
        )
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    return ServerConfig(
        data_dir=args.data_dir,
        listen=tuple(args.listen or (DEFAULT_LISTEN,)),
        engine=args.engine,
        tls=tls,
        watch=watch,
        state=_state_config(args),
        event_retention=args.event_retention,
        max_message_size=args.max_message_size,
        shutdown_grace=args.shutdown_grace,
    )


async def serve(args: argparse.Namespace) -> int:
    """Run the server the options describe until SIGTERM/SIGINT; the exit code."""
    configure_logging(args.log_format, args.log_level)
    try:
        config = config_from_args(args)
        server = await build_server(config)
    except ConfigError as exc:
        print(f"{args.prog}: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except ListenError as exc:
        print(f"{args.prog}: {exc}", file=sys.stderr)
        return EXIT_LISTEN
    except StoreError as exc:
        print(f"{args.prog}: {exc}", file=sys.stderr)
        return EXIT_STORE
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        await server.start()
        print(f"{LISTENING} {', '.join(server.addresses)}", flush=True)
        await stop.wait()
        logger.info("signal received; shutting down")
    finally:
        stopped = await _stop_within_bound(server)
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
    return 0 if stopped else EXIT_STUCK


async def _stop_within_bound(server: JobsServer) -> bool:
    """Stop the server; give up (False) if it takes far longer than the grace allows."""
    bound = server.config.shutdown_grace + SHUTDOWN_SLACK
    try:
        async with asyncio.timeout(bound):
            await server.stop()
    except TimeoutError:
        logger.error("shutdown did not finish within %.1f s; exiting anyway", bound)
        return False
    return True


def build_parser(prog: str = "qapi-jobs-server") -> argparse.ArgumentParser:
    """The parser of the server command's options."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Run the qapi-jobs gRPC server until SIGTERM or SIGINT.",
        epilog="exit codes: 0 stopped by a signal, 2 usage or configuration error, "
        "11 cannot listen, 12 shutdown abandoned, 13 state store unusable",
    )
    add_serve_arguments(parser)
    parser.set_defaults(prog=prog)
    return parser


def main(argv: Sequence[str] | None = None, prog: str = "qapi-jobs-server") -> int:
    """Entry point of ``qapi-jobs-server`` and ``qapi-jobs serve``; returns the exit code."""
    args = build_parser(prog).parse_args(argv)
    return asyncio.run(serve(args))
