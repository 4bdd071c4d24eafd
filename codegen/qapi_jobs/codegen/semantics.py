"""Second checking pass: definitions against each other.

Resolves every type reference, checks bases, discriminators, branch types,
clashes between inherited and own members, alternate distinguishability
and command/event argument and return types.  Union branches come out
complete: one per discriminator value, in enum order.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import replace

from qapi_jobs.codegen.errors import SchemaError
from qapi_jobs.codegen.model import (
    Alternate,
    Branch,
    Builtin,
    Command,
    Definition,
    Enum,
    Event,
    Member,
    SourceInfo,
    Struct,
    TypeDefinition,
    TypeRef,
    Union,
)
from qapi_jobs.codegen.qapi_names import c_name
from qapi_jobs.codegen.table import EMPTY, DefinitionTable, kind_of

_BUILTIN_CATEGORY = {
    "string": "string",
    "number": "number",
    "int": "number",
    "boolean": "boolean",
    "null": "null",
}
_NUMERIC_START = re.compile(r"[-+0-9.]")


def _a(defn: Definition) -> str:
    kind = kind_of(defn)
    article = "an" if kind[0] in "aeiou" else "a"
    return f"{article} {kind}"


class SemanticPass:
    """Checks every definition of a table against the others, in order."""

    def __init__(self, table: DefinitionTable) -> None:
        self.table = table

    def run(self) -> None:
        """Check all definitions; the first problem raises SchemaError."""
        for name in list(self.table.order):
            try:
                self._check(self.table.defs[name])
            except SchemaError as error:
                raise self.table.in_definition(error, name) from None

    def _check(self, defn: Definition) -> None:
        if isinstance(defn, Struct):
            self._struct(defn)
        elif isinstance(defn, Union):
            self._union(defn)
        elif isinstance(defn, Alternate):
            self._alternate(defn)
        elif isinstance(defn, Command | Event):
            self._command_or_event(defn)

    # --- references --------------------------------------------------------------

    def resolve(self, ref: TypeRef, info: SourceInfo, what: str) -> TypeDefinition:
        """The type ``ref`` names (its element type for an array)."""
        defn = self.table.get(ref.name)
        if defn is None:
            raise SchemaError(
                info, f"{what} uses unknown type '{ref.name}'; {self._unknown_hint(ref.name)}"
            )
        if isinstance(defn, Command | Event):
            raise SchemaError(
                info,
                f"{what} uses '{ref.name}', which is {_a(defn)}, not a type; name a type",
            )
        return defn

    def _unknown_hint(self, name: str) -> str:
        element = name[: -len("List")]
        if name.endswith("List") and self.table.get(element) is not None:
            return f"for an array of '{element}' write ['{element}']"
        types = [
            n
            for n, d in self.table.defs.items()
            if not isinstance(d, Command | Event) and not d.implicit
        ]
        close = difflib.get_close_matches(name, types, n=1)
        guess = f" (did you mean '{close[0]}'?)" if close else ""
        return f"define '{name}' or fix the spelling{guess}"

    def base_chain(self, start: Struct) -> list[Struct]:
        """The bases of ``start``, nearest first."""
        chain: list[Struct] = []
        names = [start.name]
        current = start
        while current.base is not None:
            pos = self.table.key_pos[(current.name, "base")]
            what = f"'base' of {kind_of(current)} '{current.name}'"
            base = self.resolve(TypeRef(current.base), pos, what)
            if not isinstance(base, Struct):
                raise SchemaError(
                    pos,
                    f"{what} must be a struct, but '{base.name}' is {_a(base)}; name a struct",
                )
            if base.name in names:
                loop = " -> ".join([*names, base.name])
                if base.name == start.name:
                    message = f"struct '{start.name}' contains itself through its bases"
                else:
                    message = f"the bases of struct '{start.name}' form a loop"
                raise SchemaError(
                    self.table.key_pos[(start.name, "base")],
                    f"{message} ({loop}); break the cycle",
                )
            names.append(base.name)
            chain.append(base)
            current = base
        return chain

    def members_with_bases(self, struct: Struct) -> list[tuple[Member, str]]:
        """All members of a struct, inherited first, with the struct defining each."""
        structs = [*reversed(self.base_chain(struct)), struct]
        return [(member, s.name) for s in structs for member in s.members]

    # --- kinds -----------------------------------------------------------------

    def _struct(self, struct: Struct) -> None:
        inherited = {
            c_name(member.name): (member, base.name)
            for base in reversed(self.base_chain(struct))
            for member in base.members
        }
        for member in struct.members:
            what = self.table.describe_member(struct.name, member.name)
            self.resolve(member.type, self.table.ref_info(member, member.info), what)
            clash = inherited.get(c_name(member.name))
            if clash is not None:
                other, owner = clash
                assert member.info is not None
                raise SchemaError(
                    member.info,
                    f"{what} clashes with member '{other.name}' inherited from '{owner}' "
                    f"(both are '{c_name(member.name)}' in C); rename one of them",
                )

    def _union(self, union: Union) -> None:
        base_pos = self.table.key_pos[(union.name, "base")]
        base = self.resolve(TypeRef(union.base), base_pos, f"'base' of union '{union.name}'")
        if not isinstance(base, Struct):
            raise SchemaError(
                base_pos,
                f"'base' of union '{union.name}' must be a struct, but '{base.name}' is "
                f"{_a(base)}; name a struct or write the base members inline",
            )
        base_members = self.members_with_bases(base)
        tag_type = self._discriminator(union, base, [m for m, _ in base_members])
        values = {v.name: v for v in tag_type.values}
        listed = {b.name: b for b in union.branches}
        for branch in union.branches:
            what = f"branch '{branch.name}' of union '{union.name}'"
            if branch.name not in values:
                assert branch.info is not None
                shown = ", ".join(f"'{v}'" for v in values) or "none"
                raise SchemaError(
                    branch.info,
                    f"{what} is not a value of enum '{tag_type.name}' (the type of "
                    f"discriminator '{union.discriminator}'); its values are {shown}",
                )
            pos = self.table.ref_info(branch, branch.info)
            target = self.resolve(branch.type, pos, what)
            if not isinstance(target, Struct | Union):
                raise SchemaError(
                    pos,
                    f"{what} must be a struct or union, but '{target.name}' is {_a(target)}; "
                    "wrap it in a struct",
                )
        if not values:
            raise SchemaError(
                self.table.key_pos[(union.name, "discriminator")],
                f"union '{union.name}' has no branches: enum '{tag_type.name}' of "
                f"discriminator '{union.discriminator}' has no values; add values to it",
            )
        self._check_branch_clashes(union, base_members)
        branches = tuple(
            listed.get(value.name) or Branch(value.name, TypeRef(EMPTY), value.cond, implicit=True)
            for value in tag_type.values
        )
        self.table.replace(replace(union, branches=branches))

    def _discriminator(self, union: Union, base: Struct, members: list[Member]) -> Enum:
        pos = self.table.key_pos[(union.name, "discriminator")]
        name = union.discriminator
        what = f"discriminator '{name}' of union '{union.name}'"
        tag = next((m for m in members if m.name == name), None)
        if tag is None:
            shown = ", ".join(f"'{m.name}'" for m in members) or "none"
            where = "its base" if base.implicit else f"its base '{base.name}'"
            raise SchemaError(
                pos,
                f"{what} is not a member of {where}; base members are {shown}",
            )
        tag_type = self.resolve(
            tag.type,
            self.table.ref_info(tag, tag.info),
            self.table.describe_member(base.name, tag.name),
        )
        if tag.type.is_array or not isinstance(tag_type, Enum):
            raise SchemaError(
                pos,
                f"{what} must have an enum type, but its type is '{tag.type}'; "
                "make the member an enum",
            )
        if tag.optional:
            raise SchemaError(pos, f"{what} must not be optional; remove the '*' from '*{name}'")
        if tag.cond is not None:
            raise SchemaError(pos, f"{what} must not be conditional; remove its 'if'")
        return tag_type

    def _check_branch_clashes(self, union: Union, base_members: list[tuple[Member, str]]) -> None:
        seen = {c_name(m.name): m for m, _ in base_members}
        for branch in union.branches:
            pos = self.table.ref_info(branch, branch.info)
            for member, owner in self._flatten(branch.type.name, [union.name], pos):
                other = seen.get(c_name(member.name))
                if other is not None:
                    raise SchemaError(
                        pos,
                        f"branch '{branch.name}' of union '{union.name}' clashes with the base: "
                        f"its member '{member.name}' (from '{owner}') and base member "
                        f"'{other.name}' are both '{c_name(member.name)}' in C, and a union "
                        "carries branch members beside base members; rename one of them",
                    )

    def _flatten(self, name: str, stack: list[str], pos: SourceInfo) -> list[tuple[Member, str]]:
        """Members a value of object type ``name`` can carry, nested unions spliced."""
        defn = self.table.get(name)
        if isinstance(defn, Struct):
            return self.members_with_bases(defn)
        if not isinstance(defn, Union):
            return []
        if name in stack:
            loop = " -> ".join([*stack, name])
            raise SchemaError(
                pos,
                f"union '{stack[0]}' contains itself through its branches ({loop}); "
                "break the cycle",
            )
        base = self.table.get(defn.base)
        result = self.members_with_bases(base) if isinstance(base, Struct) else []
        for branch in defn.branches:
            result.extend(self._flatten(branch.type.name, [*stack, name], pos))
        return result

    def _alternate(self, alternate: Alternate) -> None:
        claimed: dict[str, tuple[str, str]] = {}
        for branch in alternate.branches:
            what = f"branch '{branch.name}' of alternate '{alternate.name}'"
            pos = self.table.ref_info(branch, branch.info)
            target = self.resolve(branch.type, pos, what)
            category, extra = self._json_categories(branch, target, what, pos)
            claims = [(category, ""), *extra]
            for cat, why in claims:
                previous = claimed.get(cat)
                if previous is not None:
                    other, other_why = previous
                    reason = why or other_why
                    assert branch.info is not None
                    raise SchemaError(
                        branch.info,
                        f"{what} cannot be told apart from branch '{other}': both can take a "
                        f"JSON {cat}{reason}; remove or change one of them",
                    )
            for cat, why in claims:
                claimed[cat] = (branch.name, why)

    def _json_categories(
        self, branch: Branch, target: TypeDefinition, what: str, pos: SourceInfo
    ) -> tuple[str, list[tuple[str, str]]]:
        """The JSON type a branch accepts, plus the ones QEMU's command-line
        parser would confuse with it (each with the reason)."""
        if branch.type.is_array:
            return "array", []
        if isinstance(target, Struct | Union):
            return "object", []
        if isinstance(target, Alternate) or (
            isinstance(target, Builtin) and target.json_type == "value"
        ):
            raise SchemaError(
                pos,
                f"{what} cannot use {_a(target)} '{target.name}'; an alternate branch must "
                "have one definite JSON type",
            )
        if isinstance(target, Builtin):
            category = _BUILTIN_CATEGORY[target.json_type]
            if category != "string":
                return category, []
            why = (
                " (the command-line parser reads a 'str' branch's text as numbers and booleans too)"
            )
            return "string", [("number", why), ("boolean", why)]
        assert isinstance(target, Enum)
        extra: list[tuple[str, str]] = []
        names = target.value_names()
        if any(v in ("on", "off") for v in names):
            why = (
                f" (enum '{target.name}' has value 'on' or 'off', which the command-line "
                "parser reads as a boolean)"
            )
            extra.append(("boolean", why))
        if any(_NUMERIC_START.match(v) for v in names):
            why = (
                f" (enum '{target.name}' has a value that looks like a number to the "
                "command-line parser)"
            )
            extra.append(("number", why))
        return "string", extra

    def _command_or_event(self, defn: Command | Event) -> None:
        meta = "command" if isinstance(defn, Command) else "event"
        if defn.arg_type is not None:
            self._arguments(defn, meta, defn.arg_type)
        if isinstance(defn, Command) and defn.returns is not None:
            self._returns(defn, defn.returns)

    def _arguments(self, defn: Command | Event, meta: str, arg_type: str) -> None:
        pos = self.table.key_pos[(defn.name, "data")]
        what = f"'data' of {meta} '{defn.name}'"
        target = self.resolve(TypeRef(arg_type), pos, what)
        if not isinstance(target, Struct | Union):
            raise SchemaError(
                pos,
                f"{what} must name a struct (or a union, with 'boxed': true), but "
                f"'{target.name}' is {_a(target)}",
            )
        if defn.boxed:
            return
        if isinstance(target, Union):
            raise SchemaError(
                pos, f"{what} names union '{target.name}', which needs 'boxed': true; add it"
            )
        # Added after QEMU 7.2, whose own test schema has conditional arguments.
        for member, _ in self.members_with_bases(target):
            if member.cond is None:
                continue
            if target.implicit:
                assert member.info is not None
                error = SchemaError(
                    member.info,
                    f"argument '{member.name}' of {meta} '{defn.name}' is conditional, which "
                    "needs 'boxed': true; move the arguments into a struct, name it in "
                    "'data' and add 'boxed': true",
                )
            else:
                error = SchemaError(
                    pos,
                    f"{what} names struct '{target.name}', whose member '{member.name}' is "
                    "conditional; conditional arguments need 'boxed': true",
                )
            self.table.rules.newer(error)
            return

    def _returns(self, command: Command, returns: TypeRef) -> None:
        pos = self.table.key_pos[(command.name, "returns")]
        what = f"'returns' of command '{command.name}'"
        target = self.resolve(returns, pos, what)
        if command.name in self.table.pragmas.command_returns_exceptions:
            return
        if not isinstance(target, Struct | Union):
            raise SchemaError(
                pos,
                f"command '{command.name}' returns '{returns}'; a command must return a "
                "struct, a union or an array of one: wrap the value in a struct, or list "
                f"'{command.name}' in pragma 'command-returns-exceptions'",
            )
