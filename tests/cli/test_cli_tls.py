"""TLS and mutual TLS, from the command line and from the client."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from qapi_jobs.client import JobsClient, Tls, Unavailable
from qapi_jobs.server.grpc.config import TlsConfig

from .conftest import Cli, servers

if TYPE_CHECKING:
    from tests.client.servers import ThreadedServer


def _openssl(*args: str | Path) -> None:
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True)


def _issue(directory: Path, name: str, extensions: str) -> None:
    key, csr, ext = (directory / f"{name}.{suffix}" for suffix in ("key", "csr", "ext"))
    ext.write_text(extensions)
    _openssl(
        "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", key, "-out", csr, "-subj", f"/CN={name}",
    )  # fmt: skip
    _openssl(
        "x509", "-req", "-in", csr, "-CA", directory / "ca.pem", "-CAkey", directory / "ca.key",
        "-CAcreateserial", "-out", directory / f"{name}.pem", "-days", "2", "-extfile", ext,
    )  # fmt: skip


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA, a server certificate for 127.0.0.1 and a client certificate."""
    directory = tmp_path_factory.mktemp("pki")
    _openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", directory / "ca.key", "-out", directory / "ca.pem", "-days", "2",
        "-subj", "/CN=qapi-jobs client test CA",
    )  # fmt: skip
    _issue(directory, "server", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    _issue(directory, "client", "extendedKeyUsage=clientAuth\n")
    return directory


@pytest.fixture(scope="module")
def server(pki: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedServer]:
    """A server that requires client certificates signed by the test CA."""
    tls = TlsConfig(
        cert=pki / "server.pem",
        key=pki / "server.key",
        client_ca=pki / "ca.pem",
        require_client_auth=True,
    )
    started: ThreadedServer = servers.ThreadedServer(tmp_path_factory.mktemp("data"), tls=tls)
    started.start()
    try:
        yield started
    finally:
        started.stop()


def test_the_command_line_speaks_mutual_tls(cli: Cli, pki: Path) -> None:
    options = ["--tls-ca", str(pki / "ca.pem"), "--timeout", "5"]
    client_cert = ["--tls-cert", str(pki / "client.pem"), "--tls-key", str(pki / "client.key")]
    listed = cli(*options, *client_cert, "--json", "jobs")
    assert (listed.code, listed.out) == (0, "[]\n")
    without_certificate = cli(*options, "jobs")
    assert without_certificate.code == 3
    plaintext = cli("--timeout", "2", "jobs")
    assert plaintext.code == 3
    assert "hint: the server may expect TLS: add --tls" in plaintext.err, plaintext.err
    half = cli("--tls-ca", str(pki / "ca.pem"), "--tls-cert", str(pki / "client.pem"), "jobs")
    assert half.code == 2 and "--tls-cert and --tls-key go together" in half.err


def test_the_client_speaks_mutual_tls(server: ThreadedServer, pki: Path) -> None:
    tls = Tls(ca=pki / "ca.pem", cert=pki / "client.pem", key=pki / "client.key")
    with JobsClient(server.address, tls=tls, timeout=5) as client:
        assert client.query_jobs() == []
    anonymous = Tls(ca=pki / "ca.pem")
    with JobsClient(server.address, tls=anonymous, timeout=5) as client, pytest.raises(Unavailable):
        client.query_jobs()
    with pytest.raises(ValueError, match="both a client certificate and its key"):
        JobsClient(server.address, tls=Tls(ca=pki / "ca.pem", cert=pki / "client.pem"))
