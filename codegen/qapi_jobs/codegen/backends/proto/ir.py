"""What the Protobuf backend is about to write: proto elements, fully named
and numbered, not yet text.

The builders fill these in; :mod:`.render` prints them; :mod:`.layout`
reads ``symbol`` and ``refs`` to decide which file each element goes to
and which files import which.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Aggregate:
    """A message-typed custom option: ``(extension) = {key: value, ...}``.

    ``fields`` hold values already in text-format syntax (quoted strings,
    ``true``, lists).
    """

    extension: str
    fields: tuple[tuple[str, str], ...]

    def __str__(self) -> str:
        body = ", ".join(f"{key}: {value}" for key, value in self.fields)
        return f"({self.extension}) = {{{body}}}"


Option = str | Aggregate


@dataclass
class Field:
    """One field: ``[label] type name = number [options];``."""

    name: str
    type: str
    number: int
    label: str = ""
    options: list[Option] = field(default_factory=list)
    comment: list[str] = field(default_factory=list)


@dataclass
class Oneof:
    """A oneof and its fields."""

    name: str
    fields: list[Field] = field(default_factory=list)
    comment: list[str] = field(default_factory=list)


@dataclass
class Message:
    """A message: plain fields first, then at most one oneof."""

    symbol: str
    name: str
    fields: list[Field] = field(default_factory=list)
    oneof: Oneof | None = None
    options: list[Option] = field(default_factory=list)
    comment: list[str] = field(default_factory=list)
    reserved_numbers: list[int] = field(default_factory=list)
    reserved_names: list[str] = field(default_factory=list)
    refs: set[str] = field(default_factory=set)
    imports: set[str] = field(default_factory=set)


@dataclass
class EnumValue:
    """``NAME = number [options];``."""

    name: str
    number: int
    options: list[Option] = field(default_factory=list)
    comment: list[str] = field(default_factory=list)


@dataclass
class Enum:
    """An enum, zero value included."""

    symbol: str
    name: str
    values: list[EnumValue] = field(default_factory=list)
    options: list[Option] = field(default_factory=list)
    comment: list[str] = field(default_factory=list)
    reserved_numbers: list[int] = field(default_factory=list)
    reserved_names: list[str] = field(default_factory=list)


@dataclass
class Rpc:
    """``rpc Name(Request) returns ([stream] Response)``."""

    name: str
    request: str
    response: str
    server_streaming: bool = False
    options: list[Option] = field(default_factory=list)
    comment: list[str] = field(default_factory=list)


@dataclass
class Service:
    """The service with one rpc per command (and the event stream)."""

    symbol: str
    name: str
    rpcs: list[Rpc] = field(default_factory=list)
    comment: list[str] = field(default_factory=list)
    refs: set[str] = field(default_factory=set)


Element = Message | Enum | Service


@dataclass
class ProtoFile:
    """One output file: ``path`` is relative to the output root."""

    path: str
    package: str
    header: list[str] = field(default_factory=list)
    imports: list[str] = field(default_factory=list)
    options: list[Option] = field(default_factory=list)
    elements: list[Element] = field(default_factory=list)
