"""Test certificates made with the openssl command: CAs, a server, clients with SANs."""

from __future__ import annotations

import subprocess
from pathlib import Path


def _openssl(*args: str | Path) -> None:
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True)


def make_ca(directory: Path, name: str) -> None:
    """A self-signed CA: ``name``.pem and ``name``.key in ``directory``."""
    _openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", directory / f"{name}.key", "-out", directory / f"{name}.pem", "-days", "2",
        "-subj", f"/CN={name}",
    )  # fmt: skip


def issue(directory: Path, ca: str, name: str, extensions: str) -> None:
    """A certificate ``name``.pem (key ``name``.key) signed by the CA ``ca``."""
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
    return f"subjectAltName={','.join(sans)}\nextendedKeyUsage=clientAuth\n"


def make_pki(directory: Path) -> Path:
    """The test CA, a rogue CA, a server for 127.0.0.1 and three clients.

    ``operator`` has a SPIFFE id, ``reader`` a DNS name, ``rogue`` the
    operator's SPIFFE id but from the rogue CA.
    """
    make_ca(directory, "ca")
    make_ca(directory, "rogue-ca")
    issue(directory, "ca", "server", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    issue(directory, "ca", "operator", client_extensions("URI:spiffe://test.example/operator"))
    issue(directory, "ca", "reader", client_extensions("DNS:reader.test.example"))
    issue(directory, "ca", "other", client_extensions("URI:spiffe://test.example/other"))
    issue(directory, "rogue-ca", "rogue", client_extensions("URI:spiffe://test.example/operator"))
    return directory
