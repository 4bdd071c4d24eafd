"""Dialling the server: address, TLS and channel settings for long watches.

The settings here suit a client that keeps watch streams open for hours:

* keepalive pings every 30 s (the server accepts them from 10 s on, so it
  never answers GOAWAY "too_many_pings"), dropped connections are noticed
  within 10 s more, and pings go on while a watch stream is idle;
* reconnection backoff capped at 5 s, so a watcher is back soon after a
  server restart.

Unary calls carry a deadline (the client's ``timeout``); watch streams do
not, because they are meant to stay open.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import grpc
import grpc.aio

from qapi_jobs.client import tracing

if TYPE_CHECKING:
    from opentelemetry.trace import TracerProvider

ENV_SERVER = "QAPI_JOBS_SERVER"
"""The environment variable naming the server's address."""
DEFAULT_ADDRESS = "127.0.0.1:50051"
DEFAULT_TIMEOUT = 30.0
"""Seconds a unary call may take unless the caller says otherwise."""

ChannelOptions = Sequence[tuple[str, int | str]]

KEEPALIVE_OPTIONS: tuple[tuple[str, int], ...] = (
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 0),
    ("grpc.http2.max_pings_without_data", 0),
    ("grpc.initial_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 5_000),
)


DEFAULT_PORT = 50051
_GRPC_SCHEMES = ("unix:", "unix-abstract:", "dns:", "ipv4:", "ipv6:")
_WEB_SCHEMES = {"http": False, "https": True}
"""Schemes people paste from other tools, and whether each means TLS."""


def server_address(address: str | None = None) -> str:
    """``address``, else ``$QAPI_JOBS_SERVER``, else ``127.0.0.1:50051``, as given."""
    return address or os.environ.get(ENV_SERVER) or DEFAULT_ADDRESS


def target(address: str | None = None, *, tls: bool = False) -> str:
    """The gRPC target for :func:`server_address` of ``address``.

    ``HOST`` gets the default port 50051 (``[::1]`` too); ``http://HOST:PORT``
    and, with ``tls``, ``https://HOST:PORT`` are accepted for addresses
    pasted from elsewhere; gRPC's own targets (``unix:PATH``, ``dns:...``)
    pass unchanged.  ValueError for a port outside 1..65535, another
    scheme, a path, or ``https://`` without TLS.
    """
    text = server_address(address).strip()
    if text.startswith(_GRPC_SCHEMES):
        return text
    scheme, found, rest = text.partition("://")
    if found:
        if scheme.lower() not in _WEB_SCHEMES:
            raise ValueError(f"server address {text!r}: unknown scheme {scheme!r}; give HOST:PORT")
        if _WEB_SCHEMES[scheme.lower()] and not tls:
            raise ValueError(
                f"server address {text!r} asks for TLS: add --tls (or tls=Tls()), "
                "or give HOST:PORT for plaintext"
            )
        text = rest.rstrip("/")
        if "/" in text:
            raise ValueError(
                f"server address {address!r}: a gRPC server has no path; give HOST:PORT"
            )
    host, port = _split_host_port(text)
    if not host:
        raise ValueError(f"server address {text!r} has no host")
    return f"{host}:{port}"


def _split_host_port(text: str) -> tuple[str, int]:
    if text.startswith("["):
        bracket = text.find("]")
        if bracket < 0:
            raise ValueError(f"server address {text!r}: unclosed '['")
        host, rest = text[: bracket + 1], text[bracket + 1 :]
        if not rest:
            return host, DEFAULT_PORT
        if not rest.startswith(":"):
            raise ValueError(f"server address {text!r}: expected ':PORT' after ']'")
        return host, _port(text, rest[1:])
    if text.count(":") > 1:  # a bare IPv6 address
        return f"[{text}]", DEFAULT_PORT
    host, colon, port = text.partition(":")
    return host, _port(text, port) if colon else DEFAULT_PORT


def _port(text: str, port: str) -> int:
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(f"server address {text!r}: the port must be a number from 1 to 65535")
    return int(port)


@dataclass(frozen=True)
class Tls:
    """TLS settings: the CA that signed the server's certificate (None: the
    system's roots) and, for mutual TLS, the client's certificate and key.

    Each may be PEM bytes or a path to a PEM file.  ``server_name``
    overrides the name checked against the certificate (useful when
    dialling an IP address).
    """

    ca: bytes | Path | None = None
    cert: bytes | Path | None = None
    key: bytes | Path | None = None
    server_name: str | None = None

    def credentials(self) -> grpc.ChannelCredentials:
        """The channel credentials (reads the files)."""
        if (self.cert is None) != (self.key is None):
            raise ValueError("mutual TLS needs both a client certificate and its key")
        return grpc.ssl_channel_credentials(
            root_certificates=_pem(self.ca),
            private_key=_pem(self.key),
            certificate_chain=_pem(self.cert),
        )

    def options(self) -> list[tuple[str, int | str]]:
        """Channel options TLS needs (the name override)."""
        if self.server_name is None:
            return []
        return [("grpc.ssl_target_name_override", self.server_name)]


def _pem(value: bytes | Path | None) -> bytes | None:
    if value is None or isinstance(value, bytes):
        return value
    return Path(value).read_bytes()


def channel_options(tls: Tls | None, extra: ChannelOptions = ()) -> list[tuple[str, int | str]]:
    """The options every channel of the client gets; ``extra`` ones win."""
    options: dict[str, int | str] = dict(KEEPALIVE_OPTIONS)
    if tls is not None:
        options.update(tls.options())
    options.update(extra)
    return sorted(options.items())


def sync_channel(
    address: str | None = None,
    *,
    tls: Tls | None = None,
    options: ChannelOptions = (),
    tracer_provider: TracerProvider | None = None,
) -> grpc.Channel:
    """A synchronous channel to the server (see :func:`target` for ``address``;
    traced as :mod:`.tracing` says)."""
    where = target(address, tls=tls is not None)
    opts = channel_options(tls, options)
    if tls is None:
        return tracing.intercept(grpc.insecure_channel(where, options=opts), tracer_provider)
    channel = grpc.secure_channel(where, tls.credentials(), options=opts)
    return tracing.intercept(channel, tracer_provider)


def aio_channel(
    address: str | None = None,
    *,
    tls: Tls | None = None,
    options: ChannelOptions = (),
    tracer_provider: TracerProvider | None = None,
) -> grpc.aio.Channel:
    """An asyncio channel to the server; create it inside the running event loop."""
    where = target(address, tls=tls is not None)
    opts = channel_options(tls, options)
    traced = tracing.aio_interceptors(tracer_provider)
    if tls is None:
        return grpc.aio.insecure_channel(where, options=opts, interceptors=traced)
    return grpc.aio.secure_channel(where, tls.credentials(), options=opts, interceptors=traced)
