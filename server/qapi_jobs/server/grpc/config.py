"""What a server is built from: addresses, engine, TLS, limits and timings."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from qapi_jobs.server.grpc.watch import WatchSettings
from qapi_jobs.server.jobs.events import DEFAULT_RETENTION

DEFAULT_LISTEN = "127.0.0.1:50051"
DEFAULT_MAX_MESSAGE_SIZE = 16 << 20
DEFAULT_SHUTDOWN_GRACE = 5.0
ENGINES = ("builtin", "qemu")


class ConfigError(ValueError):
    """A configuration the server cannot run with; the message says why."""


@dataclass(frozen=True, kw_only=True)
class TlsConfig:
    """Server certificate and key, and optionally the CA that client certificates need.

    With ``client_ca`` set, client certificates are verified when presented;
    ``require_client_auth`` makes them mandatory (mutual TLS).
    """

    cert: Path
    key: Path
    client_ca: Path | None = None
    require_client_auth: bool = False

    def __post_init__(self) -> None:
        if self.require_client_auth and self.client_ca is None:
            raise ConfigError("requiring client certificates needs a client CA (--tls-client-ca)")


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
            _positive("event max age", self.event_max_age)
        if self.power_loss and not self.durable:
            raise ConfigError("power-loss durability needs the durable store")


@dataclass(frozen=True, kw_only=True)
class ServerConfig:
    """Everything :func:`~qapi_jobs.server.grpc.app.build_server` needs.

    ``listen`` addresses are ``host:port`` (port 0 picks a free port) or
    ``unix:PATH``.
    """

    data_dir: Path
    listen: tuple[str, ...] = (DEFAULT_LISTEN,)
    engine: str = "builtin"
    tls: TlsConfig | None = None
    watch: WatchSettings = field(default_factory=WatchSettings)
    keepalive: KeepaliveConfig = field(default_factory=KeepaliveConfig)
    state: StateConfig = field(default_factory=StateConfig)
    event_retention: int = DEFAULT_RETENTION
    max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE
    shutdown_grace: float = DEFAULT_SHUTDOWN_GRACE

    def __post_init__(self) -> None:
        if not self.listen:
            raise ConfigError("at least one listen address is needed")
        for address in self.listen:
            split_address(address)
        if self.engine not in ENGINES:
            raise ConfigError(f"unknown engine {self.engine!r}; choose one of {', '.join(ENGINES)}")
        _positive("event retention", self.event_retention)
        _positive("watcher max lag", self.watch.max_lag)
        _positive("max message size", self.max_message_size)
        _positive("heartbeat interval", self.watch.heartbeat_interval)
        _positive("job watch interval", self.watch.job_watch_interval)
        if self.shutdown_grace < 0:
            raise ConfigError("the shutdown grace cannot be negative")


def _positive(what: str, value: float) -> None:
    if value <= 0:
        raise ConfigError(f"the {what} must be positive, not {value}")


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
