"""Channel settings: addresses, and keepalive the server accepts."""

from __future__ import annotations

import pytest

from qapi_jobs.client.channel import (
    DEFAULT_ADDRESS,
    ENV_SERVER,
    KEEPALIVE_OPTIONS,
    Tls,
    channel_options,
    server_address,
)
from qapi_jobs.server.grpc.config import KeepaliveConfig


def test_keepalive_pings_are_never_too_many_for_the_server() -> None:
    options = dict(KEEPALIVE_OPTIONS)
    server = KeepaliveConfig()
    assert options["grpc.keepalive_time_ms"] >= server.min_client_ping_interval_ms
    # Pings go on while a watch stream is idle (no data), which the server allows.
    assert options["grpc.http2.max_pings_without_data"] == 0


def test_address_from_argument_environment_or_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_SERVER, raising=False)
    assert server_address() == DEFAULT_ADDRESS
    monkeypatch.setenv(ENV_SERVER, "jobs.example:443")
    assert server_address() == "jobs.example:443"
    assert server_address("10.0.0.1:1") == "10.0.0.1:1"


def test_extra_options_win() -> None:
    tls = Tls(server_name="jobs.internal")
    options = dict(channel_options(tls, [("grpc.keepalive_time_ms", 60_000)]))
    assert options["grpc.keepalive_time_ms"] == 60_000
    assert options["grpc.ssl_target_name_override"] == "jobs.internal"


def test_a_missing_port_is_the_default_and_bad_ones_are_refused() -> None:
    from qapi_jobs.client.channel import target

    assert target("127.0.0.1") == "127.0.0.1:50051"
    assert target("localhost") == "localhost:50051"
    assert target("[::1]") == target("::1") == "[::1]:50051"
    assert target("[::1]:7") == "[::1]:7"
    assert target("http://127.0.0.1:8080/") == "127.0.0.1:8080"
    assert target("https://jobs.example", tls=True) == "jobs.example:50051"
    assert target("unix:/run/jobs.sock") == "unix:/run/jobs.sock"
    for bad, text in (
        ("127.0.0.1:99999", "from 1 to 65535"),
        ("127.0.0.1:0", "from 1 to 65535"),
        ("127.0.0.1:http", "from 1 to 65535"),
        ("https://jobs.example", "asks for TLS"),
        ("grpc://jobs.example", "unknown scheme"),
        ("http://jobs.example/api", "no path"),
        (":50051", "no host"),
    ):
        with pytest.raises(ValueError, match=text):
            target(bad)
