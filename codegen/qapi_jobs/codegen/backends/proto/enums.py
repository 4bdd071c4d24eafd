"""Enums (qapi-to-proto.md, "Enums"): a synthetic ``PREFIX_UNSPECIFIED = 0``, then the QAPI
values numbered from 1 through the lock file.

Enum value names live in the package's scope (C++ rules), and protoc also
rejects two values of one enum that look alike once the enum prefix is
stripped and the rest PascalCased.  So all value names of all enums are
chosen together: every zero value first (buf fixes their names), then
the names the lock recorded, then new values; a clash adds ``_VALUE``
(``ENDIAN_MODE_UNSPECIFIED_VALUE`` for QAPI's ``unspecified``).
"""

from __future__ import annotations

from qapi_jobs.codegen.backends.proto import comments, ir
from qapi_jobs.codegen.backends.proto.collisions import Claim, ConflictKey, KeyFunction, resolve
from qapi_jobs.codegen.backends.proto.context import Context
from qapi_jobs.codegen.backends.proto.option_writer import (
    enum_option,
    value_option,
    with_deprecation,
)
from qapi_jobs.codegen.backends.proto.symbols import lock_entry
from qapi_jobs.codegen.backends.proto.typemap import symbol_of
from qapi_jobs.codegen.lockfile import Element, assign_numbers, reserved
from qapi_jobs.codegen.model import Enum
from qapi_jobs.codegen.proto_names import enum_value_name, enum_value_uniqueness_key, enum_zero_name

ValueNames = dict[tuple[str, str], str]


def _value_keys(enum_proto_name: str) -> KeyFunction:
    def keys(name: str) -> tuple[ConflictKey, ...]:
        look_alike = enum_value_uniqueness_key(enum_proto_name, name)
        return (("symbol", name), (f"look-alike in {enum_proto_name}", look_alike))

    return keys


def _enums(ctx: Context) -> list[Enum]:
    return [d for d in ctx.inventory.types if isinstance(d, Enum)]


def name_values(ctx: Context) -> ValueNames:
    """Proto names of every enum value, keyed by (enum, wire value).

    The zero value of each enum is under the key (enum, ``""``).
    """
    names: ValueNames = {}
    for enum in _enums(ctx):
        proto = ctx.names[symbol_of(enum)]
        names[enum.name, ""] = ctx.package_names.claim_new(
            Claim(
                f"the zero value of enum {proto}",
                [enum_zero_name(proto)],
                numbered=False,
                keys=_value_keys(proto),
                info=enum.info,
            )
        )
    keys: list[tuple[str, str]] = []
    claims: list[Claim] = []
    for enum in _enums(ctx):
        proto = ctx.names[symbol_of(enum)]
        entry = ctx.lock.enums.get(enum.name)
        for value in enum.values:
            natural = enum_value_name(proto, value.name)
            locked = entry.slots[value.name].name if entry and value.name in entry.slots else ""
            keys.append((enum.name, value.name))
            claims.append(
                Claim(
                    f"value {value.name!r} of enum {enum.name!r}",
                    [natural, f"{natural}_VALUE"],
                    locked=locked,
                    keys=_value_keys(proto),
                    info=value.info or enum.info,
                )
            )
    for key, name in zip(keys, resolve(ctx.package_names, claims), strict=True):
        names[key] = name
    return names


def enum_element(ctx: Context, enum: Enum, value_names: ValueNames) -> ir.Enum:
    """The enum with its values numbered through the lock file."""
    symbol = symbol_of(enum)
    entry = lock_entry(ctx, symbol)
    live = [value_names[enum.name, v.name] for v in enum.values]
    assign_numbers(
        entry,
        [Element(v.name, "", n) for v, n in zip(enum.values, live, strict=True)],
        fields=False,
    )
    doc = enum.doc
    values = [
        ir.EnumValue(
            value_names[enum.name, ""],
            0,
            comment=["Not set: proto3's default, which stands for no QAPI value."],
        )
    ]
    for value, name in zip(enum.values, live, strict=True):
        values.append(
            ir.EnumValue(
                name,
                entry.slots[value.name].number,
                with_deprecation(
                    value.features,
                    value_option(value.name, cond=value.cond, features=value.features),
                ),
                comments.element(
                    doc.member(value.name) if doc else "",
                    cond=value.cond,
                    features=value.features,
                    docs=[doc],
                ),
            )
        )
    options = with_deprecation(
        enum.features, enum_option(enum.name, cond=enum.cond, features=enum.features)
    )
    numbers, names = reserved(entry, [*live, value_names[enum.name, ""]])
    return ir.Enum(
        symbol,
        ctx.names[symbol],
        values,
        options,
        comments.definition(doc, cond=enum.cond, features=enum.features),
        numbers,
        names,
    )
