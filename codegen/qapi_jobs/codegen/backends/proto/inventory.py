"""Which QAPI definitions become proto elements.

Every type the schema's author wrote becomes a message or enum, used or
not (the default of qapi-to-proto.md, "Files": keep everything).  Implicit types (``QType``,
``q_obj_…``) become elements only when a field refers to them; implicit
argument structs and inline union bases never do, because their members
are flattened into the messages that use them.  Arrays that need a
wrapper message (optional arrays and alternate branches; qapi-to-proto.md,
"Structs and members") are collected here too.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from qapi_jobs.codegen.model import (
    Alternate,
    Builtin,
    Command,
    Definition,
    Enum,
    Event,
    Schema,
    Struct,
    TypeRef,
    Union,
)

TypeDef = Enum | Struct | Union | Alternate


@dataclass(frozen=True)
class Inventory:
    """The definitions the Protobuf output is made of, in schema order."""

    types: tuple[TypeDef, ...]
    commands: tuple[Command, ...]
    events: tuple[Event, ...]
    wrapped: tuple[str, ...]


def _layout_refs(schema: Schema, obj: Struct | Union) -> Iterator[tuple[TypeRef, bool]]:
    for member in schema.all_members(obj):
        yield member.type, member.optional
    if isinstance(obj, Union):
        for branch in obj.branches:
            if not branch.implicit:
                yield branch.type, False


def references(schema: Schema, definition: Definition) -> Iterator[tuple[TypeRef, bool]]:
    """The types the element(s) of ``definition`` refer to, each with whether
    an array there needs a wrapper message."""
    if isinstance(definition, Struct | Union):
        yield from _layout_refs(schema, definition)
    elif isinstance(definition, Alternate):
        for branch in definition.branches:
            yield branch.type, True
    elif isinstance(definition, Command | Event):
        if definition.arg_type is not None:
            args = schema.lookup(definition.arg_type)
            assert isinstance(args, Struct | Union)
            yield from _layout_refs(schema, args)
        if isinstance(definition, Command) and definition.returns is not None:
            yield definition.returns, False


def take_inventory(schema: Schema) -> Inventory:
    """Walk the schema from what its author wrote to everything referenced."""
    chosen: set[str] = set()
    wrapped: set[str] = set()
    pending: list[Definition] = []
    for definition in schema.definitions:
        if isinstance(definition, Command | Event):
            pending.append(definition)
        elif isinstance(definition, TypeDef) and not definition.implicit:
            chosen.add(definition.name)
            pending.append(definition)
    while pending:
        for ref, wrap in references(schema, pending.pop()):
            if ref.is_array and wrap:
                wrapped.add(ref.name)
            target = schema.lookup(ref.name)
            if isinstance(target, TypeDef) and target.name not in chosen:
                chosen.add(target.name)
                pending.append(target)
    return Inventory(
        types=tuple(d for d in schema.definitions if isinstance(d, TypeDef) and d.name in chosen),
        commands=tuple(schema.of_kind(Command)),
        events=tuple(schema.of_kind(Event)),
        wrapped=tuple(
            d.name
            for d in schema.definitions
            if d.name in wrapped and isinstance(d, Builtin | TypeDef)
        ),
    )
