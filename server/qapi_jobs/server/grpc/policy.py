"""The authorisation policy: who the caller is, and what each role may do.

A policy file (TOML) maps identities to roles::

    # Everyone without an entry below, including clients with no identity.
    [anyone]
    roles = []

    [[principal]]
    uri = "spiffe://example.org/ns/backup/sa/agent"   # a URI SAN of the client certificate
    roles = ["operator"]

    [[principal]]
    dns = "monitor.example.org"                       # a DNS SAN of the client certificate
    roles = ["read-only"]

    [[principal]]
    name = "ci"                                      # how logs name this principal
    token_sha256 = "<sha256 of the bearer token, in hex>"
    roles = ["operator"]

Identities come from the verified client certificate (its URI and DNS
subject alternative names) or from an ``authorization: Bearer TOKEN``
header; the file holds only a token's SHA-256, never the token.  The
roles are ``read-only`` (queries, watches, event streams, reflection) and
``operator`` (all of that, plus starting jobs and every verb on them).
With ``owner_only = true`` at the top, an operator may use verbs only on
the jobs it started itself (see :mod:`.owners`).  Health checks need no
role: probes are always answered.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from qapi_jobs.server.grpc.config import ConfigError


class Permission(enum.Enum):
    """What a call needs."""

    READ = "read"
    """Queries, watches, event streams, reflection."""
    OPERATE = "operate"
    """Starting jobs and every verb on them."""


ROLES: Final[Mapping[str, frozenset[Permission]]] = {
    "read-only": frozenset({Permission.READ}),
    "operator": frozenset({Permission.READ, Permission.OPERATE}),
}


@dataclass(frozen=True)
class Caller:
    """Who made a call: every identity it proved, and the permissions they give."""

    identities: tuple[str, ...]
    permissions: frozenset[Permission]

    @property
    def name(self) -> str:
        """The caller's first identity, for messages and logs ("anonymous" without one)."""
        return self.identities[0] if self.identities else "anonymous"


@dataclass(frozen=True)
class Policy:
    """Roles by identity (``uri:...``, ``dns:...``, ``token:NAME``), and everyone else's."""

    by_identity: Mapping[str, frozenset[Permission]]
    tokens: Mapping[str, str]
    """Token SHA-256 (hex) to the identity it proves."""
    anyone: frozenset[Permission] = frozenset()
    owner_only: bool = False

    def caller(self, certificate_identities: Iterable[str], bearer: str | None) -> Caller:
        """The caller proving ``certificate_identities`` and presenting ``bearer`` (a token)."""
        proved = list(certificate_identities)
        if bearer is not None:
            digest = hashlib.sha256(bearer.encode()).hexdigest()
            for known, identity in self.tokens.items():
                if hmac.compare_digest(known, digest):
                    proved.append(identity)
        permissions = set(self.anyone)
        for identity in proved:
            permissions |= self.by_identity.get(identity, frozenset())
        return Caller(tuple(proved), frozenset(permissions))


def _roles(entry: Mapping[str, Any], where: str) -> frozenset[Permission]:
    roles = entry.get("roles", [])
    if not isinstance(roles, list) or not all(isinstance(role, str) for role in roles):
        raise ConfigError(f"{where}: 'roles' must be a list of role names")
    permissions: set[Permission] = set()
    for role in roles:
        if role not in ROLES:
            raise ConfigError(f"{where}: unknown role {role!r}; roles are {', '.join(ROLES)}")
        permissions |= ROLES[role]
    return frozenset(permissions)


def _identity(entry: Mapping[str, Any], where: str) -> tuple[str, str | None]:
    """The identity an entry names, and the token digest if it is a token."""
    kinds = [key for key in ("uri", "dns", "token_sha256") if key in entry]
    if len(kinds) != 1:
        raise ConfigError(f"{where}: give exactly one of uri, dns and token_sha256")
    value = entry[kinds[0]]
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{where}: {kinds[0]} must be a non-empty string")
    if kinds[0] == "token_sha256":
        digest = value.lower()
        if len(digest) != 64 or any(char not in "0123456789abcdef" for char in digest):
            raise ConfigError(f"{where}: token_sha256 must be 64 hex digits")
        return f"token:{entry.get('name', digest[:12])}", digest
    return f"{kinds[0]}:{value}", None


def parse_policy(data: Mapping[str, Any]) -> Policy:
    """A policy from the parsed TOML document; ConfigError says what is wrong."""
    unknown = set(data) - {"anyone", "principal", "owner_only"}
    if unknown:
        raise ConfigError(f"policy: unknown keys {', '.join(sorted(unknown))}")
    by_identity: dict[str, frozenset[Permission]] = {}
    tokens: dict[str, str] = {}
    principals = data.get("principal", [])
    if not isinstance(principals, list):
        raise ConfigError("policy: write principals as [[principal]] tables")
    for number, entry in enumerate(principals, 1):
        where = f"policy: principal {number}"
        identity, digest = _identity(entry, where)
        if identity in by_identity:
            raise ConfigError(f"{where}: {identity} is listed twice")
        by_identity[identity] = _roles(entry, where)
        if digest is not None:
            tokens[digest] = identity
    owner_only = data.get("owner_only", False)
    if not isinstance(owner_only, bool):
        raise ConfigError("policy: owner_only must be true or false")
    anyone = _roles(data.get("anyone", {}), "policy: [anyone]")
    return Policy(by_identity, tokens, anyone=anyone, owner_only=owner_only)


def load_policy(path: Path) -> Policy:
    """Read and check the policy file at ``path`` (blocking)."""
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except OSError as exc:
        raise ConfigError(f"cannot read the policy {str(path)!r}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"the policy {str(path)!r} is not valid TOML: {exc}") from exc
    return parse_policy(data)
