"""What every builder of the Protobuf backend needs to see."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from qapi_jobs.codegen.backends import BackendError
from qapi_jobs.codegen.backends.proto.collisions import Namespace
from qapi_jobs.codegen.backends.proto.inventory import Inventory
from qapi_jobs.codegen.backends.proto.option_writer import OPTIONS_PACKAGE
from qapi_jobs.codegen.backends.proto.typemap import TypeMapper
from qapi_jobs.codegen.lockfile import Lock
from qapi_jobs.codegen.model import Schema

_PACKAGE = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*")
_IDENTIFIER = re.compile(r"[A-Z][A-Za-z0-9]*")

SERVICE_SYMBOL = "service"
ENVELOPE_SYMBOL = "envelope"
STREAM_RPC_KEY = "stream-events"
STREAM_REQUEST_SYMBOL = "stream-events:request"
STREAM_RESPONSE_SYMBOL = "stream-events:response"


def request_symbol(command: str) -> str:
    """Symbol (and lock key) of a command's request message."""
    return f"command:{command}:request"


def response_symbol(command: str) -> str:
    """Symbol (and lock key) of a command's response message."""
    return f"command:{command}:response"


def rpc_key(command: str) -> str:
    """Lock key of a command's rpc name."""
    return f"command:{command}"


def event_symbol(event: str) -> str:
    """Symbol (and lock key) of an event's message."""
    return f"event:{event}"


@dataclass(frozen=True)
class Settings:
    """The command line's choices: proto package and service name."""

    package: str
    service: str

    def __post_init__(self) -> None:
        if not _PACKAGE.fullmatch(self.package):
            raise BackendError(
                f"package {self.package!r} is not a dotted lower_snake_case name "
                "(e.g. qapi_jobs.v1)"
            )
        if self.package == OPTIONS_PACKAGE:
            raise BackendError(f"package {self.package!r} is the custom options' own package")
        if not _IDENTIFIER.fullmatch(self.service):
            raise BackendError(f"service name {self.service!r} is not a PascalCase identifier")


@dataclass
class Context:
    """The schema, the lock and the names chosen so far."""

    schema: Schema
    settings: Settings
    lock: Lock
    inventory: Inventory
    package_names: Namespace
    names: dict[str, str] = field(default_factory=dict)
    rpc_names: dict[str, str] = field(default_factory=dict)

    @property
    def types(self) -> TypeMapper:
        """The type mapper over the names chosen so far."""
        return TypeMapper(self.schema, self.names)
