"""TLS and mutual TLS, from the command line and from the client."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from qapi_jobs.client import JobsClient, Tls, Unavailable
from qapi_jobs.server.grpc.config import TlsConfig
from tests.support.cli import Cli
from tests.support.pki import Pki
from tests.support.servers import ThreadedServer


@pytest.fixture(scope="module")
def threaded_server(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedServer]:
    """A server that requires client certificates signed by the test CA."""
    tls = TlsConfig(
        cert=pki.server_cert,
        key=pki.server_key,
        client_ca=pki.ca,
        require_client_auth=True,
    )
    started = ThreadedServer(tmp_path_factory.mktemp("data"), tls=tls)
    started.start()
    try:
        yield started
    finally:
        started.stop()


def test_the_command_line_speaks_mutual_tls(cli: Cli, pki: Pki) -> None:
    options = ["--tls-ca", str(pki.ca), "--timeout", "5"]
    client_cert = ["--tls-cert", str(pki.client_cert), "--tls-key", str(pki.client_key)]
    listed = cli(*options, *client_cert, "--json", "jobs")
    assert (listed.code, listed.out) == (0, "[]\n")
    without_certificate = cli(*options, "jobs")
    assert without_certificate.code == 3
    plaintext = cli("--timeout", "2", "jobs")
    assert plaintext.code == 3
    assert "hint: the server may expect TLS: add --tls" in plaintext.err, plaintext.err
    half = cli("--tls-ca", str(pki.ca), "--tls-cert", str(pki.client_cert), "jobs")
    assert half.code == 2 and "--tls-cert and --tls-key go together" in half.err


def test_the_client_speaks_mutual_tls(threaded_server: ThreadedServer, pki: Pki) -> None:
    tls = Tls(ca=pki.ca, cert=pki.client_cert, key=pki.client_key)
    with JobsClient(threaded_server.address, tls=tls, timeout=5) as client:
        assert client.query_jobs() == []
    anonymous = Tls(ca=pki.ca)
    with (
        JobsClient(threaded_server.address, tls=anonymous, timeout=5) as client,
        pytest.raises(Unavailable),
    ):
        client.query_jobs()
    with pytest.raises(ValueError, match="both a client certificate and its key"):
        JobsClient(threaded_server.address, tls=Tls(ca=pki.ca, cert=pki.client_cert))
