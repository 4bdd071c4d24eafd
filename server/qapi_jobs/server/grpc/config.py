"""What a server is built from: addresses, engine, TLS, limits and timings."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from qapi_jobs.server.engines.builtin.paths import DEFAULT_MAX_OPEN_FILES, DEFAULT_NEW_FILE_MODE
from qapi_jobs.server.grpc.watch import WatchSettings
from qapi_jobs.server.jobs.events import DEFAULT_RETENTION
from qapi_jobs.server.jobs.limits import JobLimits

DEFAULT_LISTEN = "127.0.0.1:50051"
DEFAULT_MAX_MESSAGE_SIZE = 16 << 20
DEFAULT_MAX_REQUEST_SIZE = 1 << 20
DEFAULT_SHUTDOWN_GRACE = 5.0
MAX_SHUTDOWN_GRACE = 3600.0
MAX_INTERVAL = 86_400.0
"""The longest interval (heartbeat, watch interval) accepted: one day."""
ENGINES = ("builtin", "qemu")


class ConfigError(ValueError):
    """A configuration the server cannot run with; the message says why."""


@dataclass(frozen=True, kw_only=True)
class TlsConfig:
    """Server certificate and key, and optionally the CA that client certificates need.

    With ``client_ca`` set, every client must present a certificate that
    verifies against it (mutual TLS): gRPC can either leave client
    certificates unverified or require verified ones, and a certificate
    that is accepted unverified would let anyone claim any identity.
    ``require_client_auth`` says the same explicitly.
    """

    cert: Path
    key: Path
    client_ca: Path | None = None
    require_client_auth: bool = False

    def __post_init__(self) -> None:
        if self.require_client_auth and self.client_ca is None:
            raise ConfigError("requiring client certificates needs a client CA (--tls-client-ca)")


@dataclass(frozen=True, kw_only=True)
class LimitsConfig:
    """What one client may take of the server; past a limit, RESOURCE_EXHAUSTED.

    Health checks are exempt from the per-connection limits, so that
    probes are answered whatever clients do.
    """

    max_request_size: int = DEFAULT_MAX_REQUEST_SIZE
    """Bytes of one request message (job requests are a few hundred bytes)."""
    max_streams_per_connection: int = 100
    """Watch and event streams open at once on one connection."""
    max_connections: int = 1000
    """Client connections at once; more are closed at once by gRPC."""
    idle_timeout: float = 300.0
    """Seconds after which a connection without calls is closed."""
    max_open_files: int = DEFAULT_MAX_OPEN_FILES
    """Descriptors the images of live jobs may hold together."""
    jobs: JobLimits = field(default_factory=JobLimits)

    def __post_init__(self) -> None:
        _in_range("max request size", self.max_request_size, 1024, 1 << 30)
        _in_range("max streams per connection", self.max_streams_per_connection, 1, 100_000)
        _in_range("max connections", self.max_connections, 1, 1_000_000)
        _in_range("idle timeout", self.idle_timeout, 1.0, MAX_INTERVAL)
        _in_range("max open files", self.max_open_files, 4, 1_000_000)

    def channel_options(self) -> list[tuple[str, int]]:
        """The gRPC core arguments for these limits."""
        return [
            ("grpc.max_receive_message_length", self.max_request_size),
            ("grpc.max_allowed_incoming_connections", self.max_connections),
            ("grpc.max_connection_idle_ms", int(self.idle_timeout * 1000)),
            # gRPC's own cap stays above ours, so that ours answers with a clear status.
            ("grpc.max_concurrent_streams", self.max_streams_per_connection + 16),
        ]


@dataclass(frozen=True, kw_only=True)
class KeepaliveConfig:
    """HTTP/2 keepalive, tuned for watch streams that stay idle for long.

    The server pings idle connections every ``time_ms`` to find dead peers,
    and accepts client pings as often as every ``min_client_ping_interval_ms``,
    even on connections without calls, so clients that keep their watch
    connections alive are not sent GOAWAY "too_many_pings".
    """

    time_ms: int = 30_000
    timeout_ms: int = 10_000
    min_client_ping_interval_ms: int = 10_000

    def channel_options(self) -> list[tuple[str, int]]:
        """The gRPC core arguments for these settings."""
        return [
            ("grpc.keepalive_time_ms", self.time_ms),
            ("grpc.keepalive_timeout_ms", self.timeout_ms),
            ("grpc.http2.min_recv_ping_interval_without_data_ms", self.min_client_ping_interval_ms),
            ("grpc.keepalive_permit_without_calls", 1),
            ("grpc.http2.max_pings_without_data", 0),
        ]


@dataclass(frozen=True, kw_only=True)
class StateConfig:
    """Where job records and events live (see docs/durability.md).

    ``durable``: in the store inside the data directory, surviving restarts
    and crashes; otherwise in memory only.  ``power_loss``: an fsync per
    commit, so that even a power cut loses nothing acknowledged.
    ``event_max_age``: seconds after which events are dropped even within
    the retention count (None: by count only).
    """

    durable: bool = True
    power_loss: bool = False
    event_max_age: float | None = None

    def __post_init__(self) -> None:
        if self.event_max_age is not None:
            _in_range("event max age", self.event_max_age, 1.0, 10 * 365 * MAX_INTERVAL)
        if self.power_loss and not self.durable:
            raise ConfigError("power-loss durability needs the durable store")


@dataclass(frozen=True, kw_only=True)
class ConnectionAgeConfig:
    """Connections older than ``max_age`` seconds get GOAWAY, so that clients
    spread over new backends; calls still open on them get ``grace`` seconds
    more before the connection closes (watchers then resume on a new one)."""

    max_age: float
    grace: float = 30.0

    def __post_init__(self) -> None:
        _in_range("maximum connection age", self.max_age, 0.001, MAX_INTERVAL)
        _in_range("connection age grace", self.grace, 0.0, MAX_INTERVAL)

    def channel_options(self) -> list[tuple[str, int]]:
        """The gRPC core arguments for these settings."""
        return [
            ("grpc.max_connection_age_ms", round(self.max_age * 1000)),
            ("grpc.max_connection_age_grace_ms", round(self.grace * 1000)),
        ]


@dataclass(frozen=True, kw_only=True)
class ServerConfig:
    """Everything :func:`~qapi_jobs.server.grpc.app.build_server` needs.

    ``listen`` addresses are ``host:port`` (port 0 picks a free port) or
    ``unix:PATH``.
    """

    data_dir: Path
    listen: tuple[str, ...] = (DEFAULT_LISTEN,)
    engine: str = "builtin"
    qemu_storage_daemon: str | None = None
    """The qemu engine's daemon executable (default: ``qemu-storage-daemon`` on PATH)."""
    qemu_keep_daemon: bool = False
    """Leave the daemon and its jobs running at shutdown, for the next server to take over."""
    tls: TlsConfig | None = None
    watch: WatchSettings = field(default_factory=WatchSettings)
    keepalive: KeepaliveConfig = field(default_factory=KeepaliveConfig)
    state: StateConfig = field(default_factory=StateConfig)
    event_retention: int = DEFAULT_RETENTION
    max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE
    shutdown_grace: float = DEFAULT_SHUTDOWN_GRACE
    metrics_listen: str | None = None
    """HOST:PORT serving Prometheus metrics at /metrics; None: no metrics."""
    connection_age: ConnectionAgeConfig | None = None
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    new_file_mode: int = DEFAULT_NEW_FILE_MODE
    allow_hard_links: bool = False
    policy: Path | None = None
    """The authorisation policy file (see :mod:`.policy`); None: everyone may do everything."""

    def __post_init__(self) -> None:
        if not self.listen:
            raise ConfigError("at least one listen address is needed")
        for address in self.listen:
            split_address(address)
        if self.engine not in ENGINES:
            raise ConfigError(f"unknown engine {self.engine!r}; choose one of {', '.join(ENGINES)}")
        _in_range("event retention", self.event_retention, 1, 10_000_000)
        _in_range("watcher max lag", self.watch.max_lag, 1, 10_000_000)
        _in_range("max message size", self.max_message_size, 1024, 1 << 30)
        _in_range("heartbeat interval", self.watch.heartbeat_interval, 0.001, MAX_INTERVAL)
        _in_range("job watch interval", self.watch.job_watch_interval, 0.001, MAX_INTERVAL)
        _in_range("shutdown grace", self.shutdown_grace, 0.0, MAX_SHUTDOWN_GRACE)
        if not 0 <= self.new_file_mode <= 0o777:
            raise ConfigError(
                f"the new file mode must be within 0 and 0777, not {self.new_file_mode:o}"
            )
        if self.metrics_listen is not None and split_address(self.metrics_listen) is None:
            raise ConfigError(f"metrics listen address {self.metrics_listen!r} must be HOST:PORT")
        if self.engine == "qemu" and (self.state.power_loss or self.state.event_max_age):
            # QEMU and the engine's journal hold the qemu engine's state, not the store.
            raise ConfigError(
                "--power-loss-safe and --event-max-age apply to the builtin engine's store; "
                "the qemu engine does not use it"
            )


def _in_range(what: str, value: float, low: float, high: float) -> None:
    # NaN fails both comparisons, so it is refused too.
    if not low <= value <= high:
        raise ConfigError(f"the {what} must be within {low:g} and {high:g}, not {value}")


def split_address(address: str) -> tuple[str, int] | None:
    """``(host, port)`` of a ``host:port`` address (IPv6 hosts in brackets); None for unix.

    Raises ConfigError for anything else.
    """
    if address.startswith(("unix:", "unix-abstract:")):
        return None
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ConfigError(f"listen address {address!r} is not HOST:PORT or unix:PATH")
    if ":" in host and not (host.startswith("[") and host.endswith("]")):
        raise ConfigError(f"listen address {address!r}: write IPv6 hosts in brackets, [::1]:PORT")
    return host, int(port)


def bound_address(address: str, port: int) -> str:
    """The address a client dials once ``address`` was bound to ``port``."""
    parts = split_address(address)
    if parts is None:
        return address
    return f"{parts[0]}:{port}"
