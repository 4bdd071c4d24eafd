"""``qapi-jobs-server`` (also ``qapi-jobs serve``): run the gRPC server until SIGTERM or SIGINT.

Once the server listens, one line goes to stdout::

    qapi-jobs listening on 127.0.0.1:50051

(several addresses are separated by ", "), so that scripts started with
port 0 can read the port.  With ``--metrics-listen`` a second line follows::

    qapi-jobs metrics on http://127.0.0.1:9464/metrics

Logs go to stderr.

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
import contextlib
import logging
import resource
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from qapi_jobs.server.engines.builtin.paths import DEFAULT_NEW_FILE_MODE
from qapi_jobs.server.grpc.app import JobsServer, ListenError, build_server
from qapi_jobs.server.grpc.config import (
    DEFAULT_LISTEN,
    DEFAULT_MAX_MESSAGE_SIZE,
    DEFAULT_SHUTDOWN_GRACE,
    ENGINES,
    ConfigError,
    ConnectionAgeConfig,
    LimitsConfig,
    ServerConfig,
    StateConfig,
    TlsConfig,
)
from qapi_jobs.server.grpc.logs import LOG_FORMATS, configure_logging
from qapi_jobs.server.grpc.metrics_http import METRICS_PATH
from qapi_jobs.server.grpc.tracing import provider_from_env
from qapi_jobs.server.grpc.watch import WatchSettings
from qapi_jobs.server.jobs.events import DEFAULT_RETENTION
from qapi_jobs.server.jobs.limits import JobLimits
from qapi_jobs.server.store import StoreError

logger = logging.getLogger(__name__)

LISTENING = "qapi-jobs listening on"
"""The start of the line printed to stdout once the server accepts calls."""
METRICS = "qapi-jobs metrics on"
"""The start of the line naming the metrics URL, after the LISTENING line."""
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


def _file_mode(text: str) -> int:
    try:
        value = int(text, 8)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an octal mode: {text}") from None
    if not 0 <= value <= 0o777:
        raise argparse.ArgumentTypeError(f"must be within 0 and 0777, not {text}")
    return value


def _add_limit_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = LimitsConfig()
    jobs = defaults.jobs
    limits = parser.add_argument_group(
        "limits", "past a limit, calls fail with RESOURCE_EXHAUSTED naming it"
    )
    for flag, kind, default, metavar, text in (
        ("--max-request-size", _positive_int, defaults.max_request_size, "BYTES",
         "largest request message received"),
        ("--max-jobs", _positive_int, jobs.max_jobs, "N",
         "jobs that exist at once, concluded ones included until dismissed"),
        ("--max-running-jobs", _positive_int, jobs.max_running_jobs, "N",
         "jobs at work at once"),
        ("--max-job-id-length", _positive_int, jobs.max_job_id_length, "N",
         "characters in a job id"),
        ("--max-open-files", _positive_int, defaults.max_open_files, "N",
         "descriptors the images of live jobs may hold (two per image)"),
        ("--max-streams-per-connection", _positive_int, defaults.max_streams_per_connection,
         "N", "watch and event streams open at once on one connection"),
        ("--max-connections", _positive_int, defaults.max_connections, "N",
         "client connections at once"),
        ("--idle-timeout", _positive_float, defaults.idle_timeout, "S",
         "seconds after which a connection without calls is closed"),
    ):  # fmt: skip
        limits.add_argument(
            flag, type=kind, default=default, metavar=metavar, help=f"{text} (default: %(default)s)"
        )


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
        help="largest message the server sends; --max-request-size bounds what it receives "
        "(default: %(default)s)",
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
        help="what runs the jobs: Python code, or a qemu-storage-daemon the server starts "
        "and owns (default: %(default)s)",
    )
    jobs.add_argument(
        "--qemu-storage-daemon",
        metavar="PATH",
        help="the daemon the qemu engine runs (default: qemu-storage-daemon on PATH)",
    )
    jobs.add_argument(
        "--qemu-keep-daemon",
        action="store_true",
        help="at shutdown, leave the daemon and its jobs running; the next server on the same "
        "data directory takes them over",
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
    tls = parser.add_argument_group("TLS and authorisation")
    tls.add_argument("--tls-cert", type=Path, metavar="FILE", help="server certificate (PEM)")
    tls.add_argument("--tls-key", type=Path, metavar="FILE", help="server private key (PEM)")
    tls.add_argument(
        "--tls-client-ca",
        type=Path,
        metavar="FILE",
        help="CA certificates (PEM) that client certificates are verified against; every "
        "client must then present one (mutual TLS)",
    )
    tls.add_argument(
        "--require-client-auth",
        action="store_true",
        help="refuse clients without a certificate signed by --tls-client-ca (mutual TLS); "
        "implied by --tls-client-ca",
    )
    tls.add_argument(
        "--policy",
        type=Path,
        metavar="FILE",
        help="authorisation policy (TOML) mapping certificate identities and bearer tokens "
        "to roles; without one every client may do everything",
    )
    _add_limit_arguments(parser)
    images = parser.add_argument_group("image files")
    images.add_argument(
        "--new-file-mode",
        type=_file_mode,
        default=DEFAULT_NEW_FILE_MODE,
        metavar="MODE",
        help="permissions (octal) of image files the jobs create (default: 0600)",
    )
    images.add_argument(
        "--allow-hard-links",
        action="store_true",
        help="accept images with more than one hard link (refused by default: another "
        "link may lie outside the data directory)",
    )
    _add_mesh_arguments(parser)
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


def _add_mesh_arguments(parser: argparse.ArgumentParser) -> None:
    mesh = parser.add_argument_group(
        "metrics and proxies", "tracing follows the OTEL_* environment variables"
    )
    mesh.add_argument(
        "--metrics-listen",
        metavar="ADDR",
        help="HOST:PORT serving Prometheus metrics at /metrics (default: no metrics)",
    )
    mesh.add_argument(
        "--max-connection-age",
        type=_positive_float,
        metavar="S",
        help="send GOAWAY on connections older than this, so clients spread over "
        "new backends (default: never)",
    )
    mesh.add_argument(
        "--max-connection-age-grace",
        type=_non_negative_float,
        metavar="S",
        help="with --max-connection-age: seconds calls get on a connection after its GOAWAY; "
        "watchers then resume (default: 30)",
    )


def _connection_age(args: argparse.Namespace) -> ConnectionAgeConfig | None:
    if args.max_connection_age is None:
        if args.max_connection_age_grace is not None:
            raise ConfigError("--max-connection-age-grace needs --max-connection-age")
        return None
    if args.max_connection_age_grace is None:
        return ConnectionAgeConfig(max_age=args.max_connection_age)
    return ConnectionAgeConfig(max_age=args.max_connection_age, grace=args.max_connection_age_grace)


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
        jobs = JobLimits(
            max_jobs=args.max_jobs,
            max_running_jobs=args.max_running_jobs,
            max_job_id_length=args.max_job_id_length,
        )
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    limits = LimitsConfig(
        max_request_size=args.max_request_size,
        max_streams_per_connection=args.max_streams_per_connection,
        max_connections=args.max_connections,
        idle_timeout=args.idle_timeout,
        max_open_files=args.max_open_files,
        jobs=jobs,
    )
    return ServerConfig(
        data_dir=args.data_dir,
        listen=tuple(args.listen or (DEFAULT_LISTEN,)),
        engine=args.engine,
        qemu_storage_daemon=args.qemu_storage_daemon,
        qemu_keep_daemon=args.qemu_keep_daemon,
        tls=tls,
        watch=watch,
        state=_state_config(args),
        event_retention=args.event_retention,
        max_message_size=args.max_message_size,
        shutdown_grace=args.shutdown_grace,
        metrics_listen=args.metrics_listen,
        connection_age=_connection_age(args),
        limits=limits,
        new_file_mode=args.new_file_mode,
        allow_hard_links=args.allow_hard_links,
        policy=args.policy,
    )


async def serve(args: argparse.Namespace) -> int:
    """Run the server the options describe until SIGTERM/SIGINT; the exit code."""
    configure_logging(args.log_format, args.log_level)
    try:
        config = config_from_args(args)
        tracer_provider = provider_from_env()
        server = await build_server(config, tracer_provider=tracer_provider)
    except ConfigError as exc:
        print(f"{args.prog}: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except ListenError as exc:
        print(f"{args.prog}: {exc}", file=sys.stderr)
        return EXIT_LISTEN
    except StoreError as exc:
        print(f"{args.prog}: {exc}", file=sys.stderr)
        return EXIT_STORE
    _raise_descriptor_limit(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        await server.start()
        print(f"{LISTENING} {', '.join(server.addresses)}", flush=True)
        _print_metrics_url(server)
        await stop.wait()
        logger.info("signal received; shutting down")
    finally:
        stopped = await _stop_within_bound(server)
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
        if tracer_provider is not None:
            await asyncio.to_thread(tracer_provider.shutdown)
    return 0 if stopped else EXIT_STUCK


def _print_metrics_url(server: JobsServer) -> None:
    metrics = server.observability.metrics
    if metrics is not None and metrics.endpoint is not None:
        print(f"{METRICS} http://{metrics.endpoint.address}{METRICS_PATH}", flush=True)


DESCRIPTOR_RESERVE = 64
"""Descriptors beyond images and connections: logs, the data directory, gRPC's own."""


def _raise_descriptor_limit(config: ServerConfig) -> None:
    """Lift the soft descriptor limit so that the configured limits are reached first.

    Otherwise open images and idle sockets could use up the process's
    descriptors and lock out new clients and health probes.
    """
    needed = config.limits.max_open_files + config.limits.max_connections + DESCRIPTOR_RESERVE
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        wanted = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft != resource.RLIM_INFINITY and soft < needed:
        logger.warning(
            "the descriptor limit (%d) is below what the limits allow (%d); lower "
            "--max-open-files or --max-connections, or raise ulimit -n",
            soft,
            needed,
        )


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
