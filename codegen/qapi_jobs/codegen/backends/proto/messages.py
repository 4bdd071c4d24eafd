"""Messages for structs, unions, alternates and list wrappers (qapi-to-proto.md,
"Structs and members" to "Alternates"), and the machinery every message goes
through: field naming against the lock, numbering, ``reserved``.

A message is first described as a :class:`Layout` (fields with their lock
keys, natural names and types) and then *finished*: names and numbers come
from the lock file, and the result is an :class:`ir.Message`.  Layouts are
shared: a request, an event and a struct with the same members are laid out
by the same code, so they stay alike (qapi-to-proto.md, "Commands": arguments are flattened
whatever way the schema spells them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from qapi_jobs.codegen.backends.proto import comments, ir
from qapi_jobs.codegen.backends.proto.collisions import (
    Claim,
    ConflictKey,
    KeyFunction,
    Namespace,
    resolve,
)
from qapi_jobs.codegen.backends.proto.context import Context
from qapi_jobs.codegen.backends.proto.option_writer import (
    deprecated,
    member_option,
    type_option,
    with_deprecation,
)
from qapi_jobs.codegen.backends.proto.render import quote
from qapi_jobs.codegen.backends.proto.symbols import lock_entry
from qapi_jobs.codegen.backends.proto.typemap import ProtoType, symbol_of, wrapper_symbol
from qapi_jobs.codegen.lockfile import Element, assign_numbers, reserved
from qapi_jobs.codegen.model import (
    Alternate,
    Doc,
    Member,
    SourceInfo,
    Struct,
    Union,
)
from qapi_jobs.codegen.proto_names import field_name, json_default_name


@dataclass
class FieldSpec:
    """A field before naming and numbering.

    ``key`` is its lock key: the member's wire name, ``branch:<name>`` for
    a oneof branch, ``event:<NAME>`` for an envelope field, ``*<word>`` for
    fields the backend adds (``*return``, ``*items`` ...).
    """

    key: str
    natural: str
    fallback: str
    type: ProtoType
    label: str = ""
    json_name: str = ""
    qapi_option: ir.Aggregate | None = None
    deprecated: bool = False
    comment: list[str] = field(default_factory=list)
    info: SourceInfo | None = None

    @property
    def signature(self) -> str:
        """The lock file's type signature of the field."""
        return self.type.signature(repeated=self.label == "repeated")


@dataclass
class Layout:
    """The fields of a message; ``branches`` go into a oneof named ``oneof``."""

    fields: list[FieldSpec] = field(default_factory=list)
    branches: list[FieldSpec] = field(default_factory=list)
    oneof: str = ""
    oneof_comment: list[str] = field(default_factory=list)
    discriminator: str = ""


def _first_description(docs: Sequence[Doc | None], name: str) -> str:
    return next((d.member(name) for d in docs if d is not None and d.member(name)), "")


def member_field(ctx: Context, member: Member, docs: Sequence[Doc | None]) -> FieldSpec:
    """The field of one member (struct member, argument, event data)."""
    proto, label = ctx.types.member(member.type, member.optional)
    return FieldSpec(
        key=member.name,
        natural=field_name(member.name),
        fallback="_member",
        type=proto,
        label=label,
        json_name=member.name,
        qapi_option=member_option(
            str(member.type),
            cond=member.cond,
            features=member.features,
            optional=member.optional,
        ),
        deprecated=deprecated(member.features),
        comment=comments.element(
            _first_description(docs, member.name),
            cond=member.cond,
            features=member.features,
            docs=docs,
        ),
        info=member.info,
    )


def object_layout(
    ctx: Context, obj: Struct | Union, owner_docs: Sequence[Doc | None] = ()
) -> Layout:
    """The layout of a struct or union: flattened base members first, then
    (for a union) a oneof with one field per branch that is not implicit.

    ``owner_docs`` describe members an implicit struct has no doc for: the
    command or event whose arguments it holds, the union whose inline base
    it is.
    """
    layout = Layout()
    for member, declarer in ctx.schema.declared_members(obj):
        docs = [declarer.doc, *owner_docs, obj.doc]
        layout.fields.append(member_field(ctx, member, docs))
    if isinstance(obj, Union):
        disc = obj.discriminator
        layout.discriminator = disc
        layout.oneof = f"{field_name(disc)}_branch"
        layout.oneof_comment = [f"The members that depend on {disc}."]
        for branch in obj.branches:
            if branch.implicit:
                continue
            natural = field_name(branch.name)
            if natural[:1].isdigit():
                natural = f"{field_name(disc)}_{natural}"
            layout.branches.append(
                FieldSpec(
                    key=f"branch:{branch.name}",
                    natural=natural,
                    fallback="_branch",
                    type=ctx.types.element(branch.type.name),
                    qapi_option=member_option(
                        branch.type.name, cond=branch.cond, branch=branch.name
                    ),
                    comment=comments.element(
                        f"The members for {disc} {branch.name} ({branch.type.name}).",
                        cond=branch.cond,
                    ),
                    info=branch.info,
                )
            )
    return layout


def alternate_layout(ctx: Context, alternate: Alternate) -> Layout:
    """One oneof over the branches; array branches use their wrapper."""
    layout = Layout(oneof="value", oneof_comment=["The branch the value belongs to."])
    for branch in alternate.branches:
        layout.branches.append(
            FieldSpec(
                key=f"branch:{branch.name}",
                natural=field_name(branch.name),
                fallback="_branch",
                type=ctx.types.branch(branch.type),
                qapi_option=member_option(str(branch.type), cond=branch.cond, branch=branch.name),
                comment=comments.element(
                    alternate.doc.member(branch.name) if alternate.doc else "",
                    cond=branch.cond,
                ),
                info=branch.info,
            )
        )
    return layout


def _field_keys(json_name: str) -> KeyFunction:
    """The keys a field name takes.

    protoc rejects equal default JSON names (lowerCamel of the name) and
    equal JSON names in effect; the Python runtime also rejects a JSON name
    equal to another field's name, because its JSON parser accepts both.
    So names and JSON names share one key space.  A set ``json_name`` is
    reserved up front (see :func:`finish`); otherwise the default JSON
    name is the one in effect.
    """

    def keys(name: str) -> tuple[ConflictKey, ...]:
        default = json_default_name(name)
        own = (("json-or-name", name), ("default-json", default))
        return own if json_name else (*own, ("json-or-name", default))

    return keys


def _oneof_keys(name: str) -> tuple[ConflictKey, ...]:
    return (("json-or-name", name),)


def finish(
    ctx: Context,
    symbol: str,
    layout: Layout,
    *,
    options: Sequence[ir.Option] = (),
    comment: Sequence[str] = (),
) -> ir.Message:
    """Name and number the fields of ``layout`` and build the message."""
    name = ctx.names[symbol]
    entry = lock_entry(ctx, symbol)
    specs = layout.fields + layout.branches
    claims = [
        Claim(
            f"field for {spec.key!r} of message {name}",
            [spec.natural, spec.natural + spec.fallback],
            locked=entry.slots[spec.key].name if spec.key in entry.slots else "",
            sep="_",
            keys=_field_keys(spec.json_name),
            info=spec.info,
        )
        for spec in specs
    ]
    if layout.branches:
        claims.append(
            Claim(
                f"the oneof of message {name}",
                [layout.oneof, f"{layout.oneof}_oneof"],
                locked=entry.oneof,
                sep="_",
                keys=_oneof_keys,
            )
        )
    names = Namespace(f"message {name}")
    for spec, claim in zip(specs, claims, strict=False):
        if spec.json_name:
            names.reserve(claim.owner, (("json-or-name", spec.json_name),))
    chosen = resolve(names, claims)
    field_names = chosen[: len(specs)]
    assign_numbers(
        entry,
        [Element(s.key, s.signature, n) for s, n in zip(specs, field_names, strict=True)],
    )
    fields = [
        _ir_field(spec, n, entry.slots[spec.key].number)
        for spec, n in zip(specs, field_names, strict=True)
    ]
    message = ir.Message(symbol, name, options=list(options), comment=list(comment))
    message.fields = fields[: len(layout.fields)]
    if layout.branches:
        entry.oneof = chosen[-1]
        message.oneof = ir.Oneof(chosen[-1], fields[len(layout.fields) :], layout.oneof_comment)
    else:
        entry.oneof = ""
    message.reserved_numbers, message.reserved_names = reserved(entry, chosen)
    for spec in specs:
        if spec.type.symbol:
            message.refs.add(spec.type.symbol)
        if spec.type.import_path:
            message.imports.add(spec.type.import_path)
    return message


def _ir_field(spec: FieldSpec, name: str, number: int) -> ir.Field:
    options: list[ir.Option] = []
    if spec.json_name:
        options.append(f"json_name = {quote(spec.json_name)}")
    if spec.deprecated:
        options.append("deprecated = true")
    if spec.qapi_option is not None:
        options.append(spec.qapi_option)
    return ir.Field(name, spec.type.text, number, spec.label, options, spec.comment)


def type_message(ctx: Context, definition: Struct | Union | Alternate) -> ir.Message:
    """The message of a struct, union or alternate."""
    if isinstance(definition, Alternate):
        layout, meta = alternate_layout(ctx, definition), "alternate"
    else:
        layout = object_layout(ctx, definition, [definition.doc])
        meta = "union" if isinstance(definition, Union) else "struct"
    options = with_deprecation(
        definition.features,
        type_option(
            definition.name,
            meta,
            discriminator=layout.discriminator,
            cond=definition.cond,
            features=definition.features,
        ),
    )
    comment = comments.definition(
        definition.doc, cond=definition.cond, features=definition.features
    )
    return finish(ctx, symbol_of(definition), layout, options=options, comment=comment)


def wrapper_message(ctx: Context, element: str) -> ir.Message:
    """``message TList { repeated T items = 1; }`` for an optional array."""
    layout = Layout(
        fields=[
            FieldSpec(
                key="*items",
                natural="items",
                fallback="_items",
                type=ctx.types.element(element),
                label="repeated",
                qapi_option=member_option(element),
                comment=["The elements, in order."],
            )
        ]
    )
    return finish(
        ctx,
        wrapper_symbol(element),
        layout,
        options=[type_option(f"[{element}]", "array")],
        comment=[
            f"An array of {element} as a message of its own, so that a field",
            "holding it tells an absent array from an empty one.",
        ],
    )
