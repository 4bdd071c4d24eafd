"""Hand-built schema models for the backend's tests, following the front
end's conventions: built-ins (and ``QType``) first, implicit ``q_empty``,
``q_obj_<name>-arg`` and ``q_obj_<union>-base`` structs, one union branch
per enum value (unlisted ones implicit with type ``q_empty``)."""

from __future__ import annotations

from collections.abc import Sequence

from qapi_jobs.codegen.model import (
    BUILTIN_JSON_TYPES,
    Alternate,
    Branch,
    Builtin,
    Command,
    Definition,
    Doc,
    Enum,
    EnumValue,
    Event,
    Feature,
    Member,
    Module,
    Schema,
    Struct,
    TypeRef,
    Union,
)

MODULE = "main.json"
QTYPE_VALUES = ("none", "qnull", "qnum", "qstring", "qdict", "qlist", "qbool")


def builtins() -> list[Definition]:
    """The built-in types and the implicit enum QType."""
    found: list[Definition] = [
        Builtin(name, json_type=json_type) for name, json_type in BUILTIN_JSON_TYPES.items()
    ]
    found.append(Enum("QType", values=tuple(EnumValue(v) for v in QTYPE_VALUES), implicit=True))
    found.append(Struct("q_empty", implicit=True))
    return found


def ref(text: str) -> TypeRef:
    """``'T'`` or ``'[T]'`` as a TypeRef."""
    if text.startswith("["):
        return TypeRef(text[1:-1], is_array=True)
    return TypeRef(text)


def members(
    spec: dict[str, str], features: dict[str, Sequence[str]] | None = None
) -> tuple[Member, ...]:
    """Members in QAPI's short form: ``{'*name': 'type'}``."""
    result = []
    for key, type_text in spec.items():
        name = key.lstrip("*")
        feats = tuple(Feature(f) for f in (features or {}).get(name, ()))
        result.append(Member(name, ref(type_text), optional=key.startswith("*"), features=feats))
    return tuple(result)


def enum(name: str, values: Sequence[str], module: str = MODULE, doc: Doc | None = None) -> Enum:
    """An enum with plain values."""
    return Enum(name, module=module, values=tuple(EnumValue(v) for v in values), doc=doc)


def struct(
    name: str,
    spec: dict[str, str],
    *,
    base: str | None = None,
    module: str = MODULE,
    doc: Doc | None = None,
) -> Struct:
    """A struct."""
    return Struct(name, module=module, base=base, members=members(spec), doc=doc)


def union(
    name: str,
    base: dict[str, str],
    discriminator: str,
    branches: dict[str, str],
    enum_values: Sequence[str],
    module: str = MODULE,
) -> list[Definition]:
    """A union with an inline base (returns the implicit base struct too)."""
    base_name = f"q_obj_{name}-base"
    all_branches = tuple(
        Branch(v, TypeRef(branches[v]))
        if v in branches
        else Branch(v, TypeRef("q_empty"), implicit=True)
        for v in enum_values
    )
    return [
        Struct(base_name, module=module, members=members(base), implicit=True),
        Union(
            name, module=module, base=base_name, discriminator=discriminator, branches=all_branches
        ),
    ]


def alternate(name: str, branches: dict[str, str], module: str = MODULE) -> Alternate:
    """An alternate."""
    return Alternate(
        name, module=module, branches=tuple(Branch(k, ref(v)) for k, v in branches.items())
    )


def command(
    name: str,
    args: dict[str, str] | str | None = None,
    *,
    returns: str | None = None,
    module: str = MODULE,
    **flags: bool,
) -> list[Definition]:
    """A command with inline (dict) or named (str) arguments."""
    result: list[Definition] = []
    arg_type: str | None = None
    if isinstance(args, dict):
        arg_type = f"q_obj_{name}-arg"
        result.append(Struct(arg_type, module=module, members=members(args), implicit=True))
    elif isinstance(args, str):
        arg_type = args
    result.append(
        Command(
            name,
            module=module,
            arg_type=arg_type,
            returns=ref(returns) if returns else None,
            **flags,  # type: ignore[arg-type]
        )
    )
    return result


def event(name: str, args: dict[str, str] | None = None, module: str = MODULE) -> list[Definition]:
    """An event with inline data."""
    result: list[Definition] = []
    arg_type: str | None = None
    if args is not None:
        arg_type = f"q_obj_{name}-arg"
        result.append(Struct(arg_type, module=module, members=members(args), implicit=True))
    result.append(Event(name, module=module, arg_type=arg_type))
    return result


def schema(*parts: Definition | list[Definition], modules: Sequence[str] = (MODULE,)) -> Schema:
    """A schema of built-ins plus ``parts`` (definitions or lists of them)."""
    definitions = builtins()
    for part in parts:
        definitions.extend(part if isinstance(part, list) else [part])
    return Schema(tuple(definitions), modules=tuple(Module(m) for m in modules))
