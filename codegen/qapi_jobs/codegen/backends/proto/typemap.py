"""QAPI types to proto types (qapi-to-proto.md: "Built-in types", "Structs and members").

Elements the backend generates are named by *symbol*: a stable key such as
``type:JobInfo``, ``enum:JobStatus`` or ``wrapper:[str]`` that is also the
element's key in the lock file.  The proto name behind a symbol is only
known after collision resolution, so the mapper looks it up in ``names``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from qapi_jobs.codegen.model import Definition, Enum, Schema, TypeRef

STRUCT_PROTO = "google/protobuf/struct.proto"
TIMESTAMP_PROTO = "google/protobuf/timestamp.proto"

SCALARS: dict[str, str] = {
    "str": "string",
    "bool": "bool",
    "number": "double",
    "int": "int64",
    "int64": "int64",
    "int8": "int32",
    "int16": "int32",
    "int32": "int32",
    "uint8": "uint32",
    "uint16": "uint32",
    "uint32": "uint32",
    "uint64": "uint64",
    "size": "uint64",
}

Kind = Literal["scalar", "enum", "message"]


@dataclass(frozen=True)
class ProtoType:
    """A proto type as written in a field, plus what it depends on."""

    text: str
    kind: Kind
    symbol: str = ""
    import_path: str = ""

    def signature(self, repeated: bool = False) -> str:
        """The lock file's type signature (see :func:`lockfile.wire_compatible`)."""
        base = self.text if self.kind == "scalar" else f"{self.kind} {self.text}"
        return f"repeated {base}" if repeated else base


VALUE = ProtoType("google.protobuf.Value", "message", import_path=STRUCT_PROTO)
NULL_VALUE = ProtoType("google.protobuf.NullValue", "enum", import_path=STRUCT_PROTO)
STRUCT = ProtoType("google.protobuf.Struct", "message", import_path=STRUCT_PROTO)
TIMESTAMP = ProtoType("google.protobuf.Timestamp", "message", import_path=TIMESTAMP_PROTO)


def symbol_of(definition: Definition) -> str:
    """The symbol of the element a type definition becomes."""
    if isinstance(definition, Enum):
        return f"enum:{definition.name}"
    return f"type:{definition.name}"


def wrapper_symbol(element: str) -> str:
    """The symbol of the list wrapper of QAPI type ``element``."""
    return f"wrapper:[{element}]"


class TypeMapper:
    """Maps QAPI type references to proto types once names are known."""

    def __init__(self, schema: Schema, names: Mapping[str, str]) -> None:
        self.schema = schema
        self.names = names

    def element(self, name: str) -> ProtoType:
        """The proto type of one value of QAPI type ``name`` (no array)."""
        if name in SCALARS:
            return ProtoType(SCALARS[name], "scalar")
        if name == "any":
            return VALUE
        if name == "null":
            return NULL_VALUE
        definition = self.schema.lookup(name)
        symbol = symbol_of(definition)
        kind: Kind = "enum" if isinstance(definition, Enum) else "message"
        return ProtoType(self.names[symbol], kind, symbol=symbol)

    def wrapper(self, element: str) -> ProtoType:
        """The list wrapper message for arrays of ``element``."""
        symbol = wrapper_symbol(element)
        return ProtoType(self.names[symbol], "message", symbol=symbol)

    def member(self, ref: TypeRef, optional: bool) -> tuple[ProtoType, str]:
        """Type and label of a member field.

        Required arrays are ``repeated``; optional arrays use the wrapper so
        that absent and empty stay apart; optional scalars and enums get
        ``optional`` for presence (messages have presence anyway).
        """
        if ref.is_array:
            if optional:
                return self.wrapper(ref.name), ""
            return self.element(ref.name), "repeated"
        proto = self.element(ref.name)
        return proto, ("optional" if optional and proto.kind != "message" else "")

    def branch(self, ref: TypeRef) -> ProtoType:
        """Type of a oneof field (``repeated`` is not allowed in a oneof)."""
        return self.wrapper(ref.name) if ref.is_array else self.element(ref.name)
