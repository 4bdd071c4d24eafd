"""Throwaway CAs and certificates, made with ``openssl``.

:func:`make_pki` gives one CA with a server and a client certificate;
:func:`make_identities` the CAs and clients with subjectAltNames that the
authorisation tests name in their policies.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Pki:
    """The PEM files of a test CA and of the certificates it signed."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path

    def read(self, path: Path) -> bytes:
        """A file's bytes, as the grpc credential functions take them."""
        return path.read_bytes()


def make_ca(directory: Path, name: str) -> None:
    """A self-signed CA: ``name``.pem and ``name``.key in ``directory``."""
    _openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", directory / f"{name}.key", "-out", directory / f"{name}.pem", "-days", "2",
        "-subj", f"/CN={name}",
    )  # fmt: skip


def issue(directory: Path, ca: str, name: str, extensions: str) -> None:
    """A certificate ``name``.pem (key ``name``.key) signed by the CA ``ca`` of ``directory``."""
    key, csr, ext = (directory / f"{name}.{suffix}" for suffix in ("key", "csr", "ext"))
    ext.write_text(extensions)
    _openssl(
        "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", key, "-out", csr, "-subj", f"/CN={name}",
    )  # fmt: skip
    _openssl(
        "x509", "-req", "-in", csr, "-CA", directory / f"{ca}.pem", "-CAkey",
        directory / f"{ca}.key", "-CAcreateserial", "-out", directory / f"{name}.pem",
        "-days", "2", "-extfile", ext,
    )  # fmt: skip


def client_extensions(*sans: str) -> str:
    """Extensions of a client certificate with the given subjectAltNames (``URI:...``)."""
    names = f"subjectAltName={','.join(sans)}\n" if sans else ""
    return f"{names}extendedKeyUsage=clientAuth\n"


SERVER_EXTENSIONS = "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n"


def make_pki(directory: Path) -> Pki:
    """A CA, a server certificate for 127.0.0.1 and localhost, and a client certificate."""
    make_ca(directory, "ca")
    issue(directory, "ca", "server", SERVER_EXTENSIONS)
    issue(directory, "ca", "client", client_extensions())
    return Pki(
        ca=directory / "ca.pem",
        server_cert=directory / "server.pem",
        server_key=directory / "server.key",
        client_cert=directory / "client.pem",
        client_key=directory / "client.key",
    )


def make_identities(directory: Path) -> Path:
    """The test CA, a rogue CA, a server for 127.0.0.1 and three clients; returns ``directory``.

    ``operator`` has a SPIFFE id, ``reader`` a DNS name, ``other`` another
    SPIFFE id, ``rogue`` the operator's SPIFFE id but from the rogue CA.
    """
    make_ca(directory, "ca")
    make_ca(directory, "rogue-ca")
    issue(directory, "ca", "server", SERVER_EXTENSIONS)
    issue(directory, "ca", "operator", client_extensions("URI:spiffe://test.example/operator"))
    issue(directory, "ca", "reader", client_extensions("DNS:reader.test.example"))
    issue(directory, "ca", "other", client_extensions("URI:spiffe://test.example/other"))
    issue(directory, "rogue-ca", "rogue", client_extensions("URI:spiffe://test.example/operator"))
    return directory


def _openssl(*args: str | Path) -> None:
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True)
