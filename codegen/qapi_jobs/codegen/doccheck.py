"""Third checking pass: doc blocks against the definitions they describe.

A description of something that does not exist is always an error, and
so is an undocumented feature of a documented definition (as in every QEMU
release).  A missing member description matters only under pragma
``doc-required`` and outside pragma ``documentation-exceptions``; it is
one of the newer rules (see :mod:`releases`), as are a ``Returns:``
section on a command that returns nothing and a tagged section after a
free paragraph that follows another tagged section.
"""

from __future__ import annotations

from dataclasses import dataclass

from qapi_jobs.codegen.docparse import ParsedDoc
from qapi_jobs.codegen.errors import SchemaError
from qapi_jobs.codegen.model import (
    Alternate,
    Command,
    Definition,
    Enum,
    Event,
    Feature,
    SourceInfo,
    Struct,
    Union,
    struct_chain,
)
from qapi_jobs.codegen.table import DefinitionTable, kind_of


@dataclass(frozen=True)
class _Item:
    """Something a doc block may describe."""

    name: str
    what: str
    info: SourceInfo | None
    required: bool


def check_docs(table: DefinitionTable) -> None:
    """Check every doc block against its definition, in schema order."""
    for name in table.order:
        parsed = table.docs.get(name)
        if parsed is not None:
            try:
                _check_one(table, table.defs[name], parsed)
            except SchemaError as error:
                raise table.in_definition(error, name) from None


def _check_one(table: DefinitionTable, defn: Definition, parsed: ParsedDoc) -> None:
    items, noun = _describable(table, defn)
    features = _features(table, defn)
    kind = kind_of(defn)
    by_name = {item.name: item for item in items}
    for entry in parsed.members:
        if entry.name not in by_name:
            raise SchemaError(
                entry.info,
                f"doc block of {kind} '{defn.name}' describes '@{entry.name}', but there is "
                f"no {noun} '{entry.name}'; {_fix_description(table, defn)}",
            )
    feature_names = {f.name for f, _ in features}
    for entry in parsed.features:
        if entry.name not in feature_names:
            raise SchemaError(
                entry.info,
                f"doc block of {kind} '{defn.name}' describes feature '@{entry.name}', but "
                f"'{defn.name}' has no feature '{entry.name}'; remove it or fix its name",
            )
    if parsed.deindents and not table.rules.legacy:
        info, indent = parsed.deindents[0]
        raise SchemaError(
            info,
            f"unexpected de-indent (expected at least {indent} spaces); indent every "
            "continuation line at least as far as the first one",
        )
    for info, tag in parsed.late_sections:
        table.rules.newer(
            SchemaError(
                info,
                f"'{tag}:' section follows a free paragraph that comes after another "
                "tagged section; move it up, before that paragraph",
            )
        )
    _check_sections(table, defn, parsed)
    described_features = {entry.name for entry in parsed.features}
    for feature, what in features:
        if feature.name not in described_features:
            assert feature.info is not None
            raise SchemaError(
                feature.info,
                f"feature '{feature.name}' of {what} is not documented; add "
                f"'@{feature.name}: ...' after a 'Features:' line in the doc block of "
                f"'{defn.name}'",
            )
    pragmas = table.pragmas
    if not pragmas.doc_required or defn.name in pragmas.documentation_exceptions:
        return
    described = {entry.name for entry in parsed.members}
    for item in items:
        if item.required and item.name not in described:
            assert item.info is not None
            table.rules.newer(
                SchemaError(
                    item.info,
                    f"{item.what} is not documented; add '@{item.name}: ...' to the doc block "
                    f"of '{defn.name}' (pragma 'doc-required' is true), or list "
                    f"'{defn.name}' in pragma 'documentation-exceptions'",
                )
            )


def _fix_description(table: DefinitionTable, defn: Definition) -> str:
    if isinstance(defn, Command | Event) and defn.boxed and defn.arg_type is not None:
        return (
            f"a boxed {kind_of(defn)} does not describe its arguments: describe them in "
            f"the doc block of '{defn.arg_type}' and remove them here"
        )
    return "remove the description or fix its name"


def _check_sections(table: DefinitionTable, defn: Definition, parsed: ParsedDoc) -> None:
    """Sections only a command may have."""
    for section in parsed.sections:
        if section.tag not in ("Returns", "Errors"):
            continue
        assert section.info is not None
        if not isinstance(defn, Command):
            raise SchemaError(
                section.info,
                f"'{section.tag}:' section in the doc block of {kind_of(defn)} "
                f"'{defn.name}'; only commands have one, so remove it",
            )
        if section.tag == "Returns" and defn.returns is None:
            table.rules.newer(
                SchemaError(
                    section.info,
                    f"'Returns:' section, but command '{defn.name}' returns nothing; "
                    "remove the section or declare what it returns with 'returns'",
                )
            )


def _describable(table: DefinitionTable, defn: Definition) -> tuple[list[_Item], str]:
    """What the doc block of ``defn`` may describe, and the noun for it."""
    if isinstance(defn, Enum):
        what = f"value '{{}}' of enum '{defn.name}'"
        return [_Item(v.name, what.format(v.name), v.info, True) for v in defn.values], "value"
    if isinstance(defn, Struct):
        return _own_members(table, defn.name, required=True), "member"
    if isinstance(defn, Alternate):
        what = f"branch '{{}}' of alternate '{defn.name}'"
        items = [_Item(b.name, what.format(b.name), b.info, True) for b in defn.branches]
        return items, "branch"
    if isinstance(defn, Union):
        base = table.defs[defn.base]
        items = []
        if base.implicit:
            items = _own_members(table, base.name, required=base.name not in table.synthetic)
        items += [_Item(b.name, "", b.info, False) for b in defn.branches]
        return items, "base member or branch"
    assert isinstance(defn, Command | Event)
    if defn.arg_type is None or defn.boxed:
        return [], "argument"
    arg = table.defs[defn.arg_type]
    if arg.implicit:
        return _own_members(table, arg.name, required=True), "argument"
    return _all_arguments(table, arg), "argument"


def _own_members(table: DefinitionTable, struct_name: str, *, required: bool) -> list[_Item]:
    struct = table.defs[struct_name]
    assert isinstance(struct, Struct)
    return [
        _Item(m.name, table.describe_member(struct_name, m.name), m.info, required)
        for m in struct.members
    ]


def _all_arguments(table: DefinitionTable, arg: Definition) -> list[_Item]:
    """Members of a named argument type; documenting them is optional."""
    assert isinstance(arg, Struct | Union)
    return [
        item
        for struct in reversed(struct_chain(arg, table.defs.__getitem__))
        for item in _own_members(table, struct.name, required=False)
    ]


def _features(table: DefinitionTable, defn: Definition) -> list[tuple[Feature, str]]:
    """Features the doc block of ``defn`` must describe, each with its owner."""
    what = f"{kind_of(defn)} '{defn.name}'"
    result = [(f, what) for f in defn.features]
    if isinstance(defn, Enum):
        for value in defn.values:
            result += [(f, f"value '{value.name}' of {what}") for f in value.features]
        return result
    owner: str | None = None
    if isinstance(defn, Struct):
        owner = defn.name
    elif isinstance(defn, Union) and table.defs[defn.base].implicit:
        owner = defn.base
    elif (
        isinstance(defn, Command | Event)
        and defn.arg_type is not None
        and table.defs[defn.arg_type].implicit
    ):
        owner = defn.arg_type
    if owner is not None:
        struct = table.defs[owner]
        assert isinstance(struct, Struct)
        for member in struct.members:
            described = table.describe_member(owner, member.name)
            result += [(f, described) for f in member.features]
    return result
