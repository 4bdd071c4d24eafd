"""Server credentials for TLS and mutual TLS, read from PEM files.

With a client CA, client certificates are always required and verified:
gRPC's other mode with a CA asks for no certificate at all, so a client
could never prove an identity, and the CA option would silently mean
nothing.
"""

from __future__ import annotations

from pathlib import Path

import grpc

from qapi_jobs.server.grpc.config import ConfigError, TlsConfig


def _read(path: Path, what: str) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read the {what} {str(path)!r}: {exc.strerror}") from exc
    if b"-----BEGIN " not in data:
        raise ConfigError(f"the {what} {str(path)!r} is not in PEM format")
    return data


def server_credentials(tls: TlsConfig) -> grpc.ServerCredentials:
    """Credentials for a TLS port (blocking: reads the files)."""
    key = _read(tls.key, "TLS key")
    cert = _read(tls.cert, "TLS certificate")
    client_ca = None if tls.client_ca is None else _read(tls.client_ca, "client CA")
    return grpc.ssl_server_credentials(
        [(key, cert)],
        root_certificates=client_ca,
        require_client_auth=client_ca is not None,
    )
