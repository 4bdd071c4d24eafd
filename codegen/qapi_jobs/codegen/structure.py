"""First checking pass: each expression on its own.

Checks keys, value shapes, names, conditions and features, and turns every
expression into model objects (types still referred to by name), adding the
implicit argument and base structs in front of their owners.  Nothing here
looks at other definitions except to catch a second definition of a name.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

from qapi_jobs.codegen.docparse import ParsedDoc
from qapi_jobs.codegen.elements import ElementReader
from qapi_jobs.codegen.errors import SchemaError
from qapi_jobs.codegen.loader import LoadedExpr
from qapi_jobs.codegen.model import (
    Alternate,
    Branch,
    Command,
    Condition,
    Definition,
    Doc,
    Enum,
    EnumValue,
    Event,
    Feature,
    Member,
    SourceInfo,
    Struct,
    TypeRef,
    Union,
)
from qapi_jobs.codegen.qapi_names import (
    c_name,
    check_camel,
    check_enum_value,
    check_lower,
    check_upper,
)
from qapi_jobs.codegen.releases import refuse_list_conditions
from qapi_jobs.codegen.shapes import (
    branch_type,
    check_keys,
    expect_str,
    optional_condition,
    required,
    type_ref,
)
from qapi_jobs.codegen.syntax import Arr, Bool, Obj, Str, Value, describe
from qapi_jobs.codegen.table import DefinitionTable

META_KEYS = ("enum", "struct", "union", "alternate", "command", "event")
TYPE_KINDS = frozenset({"enum", "struct", "union", "alternate"})

_COMMAND_FLAGS = ("gen", "success-response", "allow-oob", "allow-preconfig", "coroutine")
_KEYS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "enum": (("enum", "data"), ("prefix", "if", "features")),
    "struct": (("struct", "data"), ("base", "if", "features")),
    "union": (("union", "base", "discriminator", "data"), ("if", "features")),
    "alternate": (("alternate", "data"), ("if", "features")),
    "command": (("command",), ("data", "returns", "boxed", "if", "features", *_COMMAND_FLAGS)),
    "event": (("event",), ("data", "boxed", "if", "features")),
}
# Before QEMU 6.2 a union without 'base' and 'discriminator' was a
# "simple union"; it is still read, see _simple_union().
_SIMPLE_UNION_KEYS = (("union", "data"), ("if", "features"))
_FLAG_VALUES = {
    "gen": False,
    "success-response": False,
    "boxed": True,
    "allow-oob": True,
    "allow-preconfig": True,
    "coroutine": True,
}


def make_doc(parsed: ParsedDoc) -> Doc:
    """The model form of a definition doc block."""
    assert parsed.symbol is not None
    return Doc(
        symbol=parsed.symbol,
        body=parsed.body,
        members=tuple((e.name, e.text) for e in parsed.members),
        features=tuple((e.name, e.text) for e in parsed.features),
        sections=parsed.sections,
        info=parsed.info,
    )


class StructurePass:
    """Builds model objects from expressions into a :class:`DefinitionTable`."""

    def __init__(self, table: DefinitionTable) -> None:
        self.table = table
        self.pragmas = table.pragmas
        self.elements = ElementReader(table)

    def run(self, exprs: list[LoadedExpr]) -> None:
        """Check and add every definition expression, in order."""
        for expr in exprs:
            self.definition(expr)

    # --- one definition -----------------------------------------------------

    def definition(self, expr: LoadedExpr) -> None:
        """Check one definition expression and add it (and its implicit types)."""
        obj = expr.obj
        metas = [key.value for key, _ in obj.entries if key.value in META_KEYS]
        if len(metas) != 1:
            if metas:
                raise SchemaError(
                    obj.key(metas[1]).info,
                    f"expression has both '{metas[0]}' and '{metas[1]}'; "
                    "write one definition per expression",
                )
            hint = " ('type' was renamed 'struct' in QEMU 2.4)" if "type" in obj else ""
            raise SchemaError(
                obj.info,
                "expression must have exactly one of the keys 'enum', 'struct', 'union', "
                f"'alternate', 'command', 'event', or be an include or pragma{hint}",
            )
        meta = metas[0]
        name_node = obj.get(meta)
        assert name_node is not None
        if not isinstance(name_node, Str):
            raise SchemaError(
                name_node.info,
                f"'{meta}' must be followed by a name string, not {describe(name_node)}",
            )
        self.table.current = (meta, name_node.value)
        try:
            self._definition(expr, meta, name_node)
        except SchemaError as error:
            raise error.in_definition(meta, name_node.value) from None
        finally:
            self.table.current = None

    def _definition(self, expr: LoadedExpr, meta: str, name_node: Str) -> None:
        obj = expr.obj
        if not self.table.rules.legacy:
            refuse_list_conditions(obj)
        name, info = name_node.value, name_node.info
        self._check_name(meta, name, info)
        self.table.check_free(name, info)
        doc = self._doc(expr.doc, name, info)
        simple_union = meta == "union" and "base" not in obj and "discriminator" not in obj
        required_keys, optional_keys = _SIMPLE_UNION_KEYS if simple_union else _KEYS[meta]
        what = f"{meta} '{name}'"
        check_keys(obj, what, required_keys, optional_keys)
        cond = optional_condition(obj, what)
        features = self.elements.features(obj.get("features"), what, on_type=meta in TYPE_KINDS)
        self._check_flags(obj, meta)
        defn: Definition
        if meta == "enum":
            defn = self._enum(obj, name, info)
        elif meta == "struct":
            defn = self._struct(obj, name, info)
        elif simple_union:
            defn = self._simple_union(obj, name, info, expr.module)
        elif meta == "union":
            defn = self._union(obj, name, info, expr.module, cond)
        elif meta == "alternate":
            defn = self._alternate(obj, name, info)
        else:
            defn = self._command_or_event(obj, meta, name, info, expr.module, cond)
        defn = replace(defn, module=expr.module, doc=doc, cond=cond, features=features)
        if expr.doc is not None:
            self.table.docs[name] = expr.doc
        self.table.add(defn, info)

    def _check_name(self, meta: str, name: str, info: SourceInfo) -> None:
        what = f"{meta} name '{name}'"
        if meta == "event":
            check_upper(name, info, what)
        elif meta == "command":
            check_lower(
                name,
                info,
                what,
                permit_underscore=name in self.pragmas.command_name_exceptions,
                exception_pragma="command-name-exceptions",
            )
        else:
            check_camel(name, info, what)

    def _doc(self, parsed: ParsedDoc | None, name: str, info: SourceInfo) -> Doc | None:
        if parsed is None:
            if self.pragmas.doc_required:
                raise SchemaError(
                    info,
                    f"'{name}' has no doc block, which pragma 'doc-required' demands; "
                    f"add one starting with '# @{name}:' above it",
                )
            return None
        if parsed.symbol != name:
            assert parsed.symbol_info is not None
            raise SchemaError(
                parsed.symbol_info,
                f"doc block is for '{parsed.symbol}', but the definition below it is "
                f"'{name}'; fix the '@{parsed.symbol}:' line or move the block",
            )
        return make_doc(parsed)

    def _check_flags(self, obj: Obj, meta: str) -> None:
        for key, value in obj.entries:
            wanted = _FLAG_VALUES.get(key.value)
            if wanted is None or meta not in ("command", "event"):
                continue
            if not isinstance(value, Bool) or value.value is not wanted:
                word = "true" if wanted else "false"
                raise SchemaError(
                    value.info,
                    f"flag '{key.value}' may only be {word}; "
                    f"remove it to get the default ({str(not wanted).lower()})",
                )
        if "allow-oob" in obj and "coroutine" in obj:
            raise SchemaError(
                obj.key("coroutine").info,
                "flags 'allow-oob' and 'coroutine' cannot be combined; remove one of them",
            )

    # --- kinds -----------------------------------------------------------------

    def _enum(self, obj: Obj, name: str, info: SourceInfo) -> Enum:
        data = required(obj, "data")
        if not isinstance(data, Arr):
            raise SchemaError(
                data.info,
                f"'data' of enum '{name}' must be an array of values, not {describe(data)}",
            )
        prefix = obj.get("prefix")
        if prefix is not None:
            expect_str(prefix, f"'prefix' of enum '{name}'")
        permissive = name in self.pragmas.member_name_exceptions
        values: list[EnumValue] = []
        seen: dict[str, EnumValue] = {}
        for item in data.items:
            cond: Condition | None = None
            features: tuple[Feature, ...] = ()
            if isinstance(item, Obj):
                check_keys(item, f"value of enum '{name}'", ("name",), ("if", "features"))
                name_node = expect_str(
                    required(item, "name"), f"'name' of a value of enum '{name}'"
                )
                what = f"value '{name_node.value}' of enum '{name}'"
                cond = optional_condition(item, what)
                features = self.elements.features(item.get("features"), what)
            elif isinstance(item, Str):
                name_node = item
            else:
                raise SchemaError(
                    item.info,
                    f"a value of enum '{name}' must be a string or an object "
                    f"{{'name': ..., 'if': ..., 'features': ...}}, not {describe(item)}",
                )
            what = f"value '{name_node.value}' of enum '{name}'"
            check_enum_value(name_node.value, name_node.info, what, permissive=permissive)
            cname = c_name(name_node.value)
            previous = seen.get(cname)
            if previous is not None and previous.name == name_node.value:
                raise SchemaError(name_node.info, f"{what} is listed twice; remove one")
            if previous is not None:
                raise SchemaError(
                    name_node.info,
                    f"{what} clashes with value '{previous.name}' (both are '{cname}' in C); "
                    "rename one of them",
                )
            value = EnumValue(name_node.value, cond, features, name_node.info)
            seen[cname] = value
            values.append(value)
        return Enum(
            name,
            info,
            values=tuple(values),
            prefix=prefix.value if isinstance(prefix, Str) else None,
        )

    def _struct(self, obj: Obj, name: str, info: SourceInfo) -> Struct:
        data = required(obj, "data")
        permissive = name in self.pragmas.member_name_exceptions
        members = self.elements.members(
            data, "data", "member", f"struct '{name}'", permissive=permissive, pragma_hint=True
        )
        base = obj.get("base")
        base_name: str | None = None
        if base is not None:
            base_name = type_ref(base, f"'base' of struct '{name}'", allow_array=False)[0].name
            self.table.key_pos[(name, "base")] = base.info
        return Struct(name, info, base=base_name, members=members)

    def _union(
        self, obj: Obj, name: str, info: SourceInfo, module: str, cond: Condition | None
    ) -> Union:
        base = required(obj, "base")
        if isinstance(base, Obj):
            members = self.elements.members(
                base,
                "base",
                "base member",
                f"union '{name}'",
                permissive=name in self.pragmas.member_name_exceptions,
                pragma_hint=True,
            )
            base_name = f"q_obj_{name}-base"
            self.table.owner[base_name] = ("base member", f"union '{name}'")
            implicit = Struct(
                base_name, base.info, module, cond=cond, members=members, implicit=True
            )
            self.table.add(implicit, base.info)
        elif isinstance(base, Str):
            base_name = base.value
        else:
            raise SchemaError(
                base.info,
                f"'base' of union '{name}' must be a struct name or an object of members, "
                f"not {describe(base)}",
            )
        self.table.key_pos[(name, "base")] = base.info
        discriminator = required(obj, "discriminator")
        disc = expect_str(discriminator, f"'discriminator' of union '{name}'")
        self.table.key_pos[(name, "discriminator")] = disc.info
        data = required(obj, "data")
        if not isinstance(data, Obj):
            raise SchemaError(
                data.info,
                f"'data' of union '{name}' must be an object mapping discriminator values "
                f"to branch types, not {describe(data)}",
            )
        branches: list[Branch] = []
        for key_node, value in data.entries:
            what = f"branch '{key_node.value}' of union '{name}'"
            ref, ref_info, branch_cond = branch_type(value, what, allow_array=False)
            branch = Branch(key_node.value, ref, branch_cond, info=key_node.info)
            self.table.note_ref(branch, ref_info)
            branches.append(branch)
        return Union(name, info, base=base_name, discriminator=disc.value, branches=tuple(branches))

    def _simple_union(self, obj: Obj, name: str, info: SourceInfo, module: str) -> Union:
        """A pre-6.2 simple union, rewritten as the flat union it stands for:
        an implicit enum ``<Name>Kind`` of the branch names, an implicit base
        holding ``type``, and branches wrapping their type in ``data``."""
        data = _branch_data(obj, "union", name)
        values: list[EnumValue] = []
        branches: list[Branch] = []
        for key_node, value, what in _named_branches(data, "union", name):
            ref, ref_info, branch_cond = branch_type(value, what, allow_array=True)
            wrapper = f"q_obj_{ref.name}{'List' if ref.is_array else ''}-wrapper"
            if self.table.get(wrapper) is None:
                member = Member("data", ref, info=key_node.info)
                self.table.note_ref(member, ref_info)
                self.table.owner[wrapper] = ("member", f"union '{name}' (branch wrapper)")
                self.table.add(
                    Struct(wrapper, key_node.info, module, members=(member,), implicit=True)
                )
            values.append(EnumValue(key_node.value, branch_cond, info=key_node.info))
            branches.append(
                Branch(key_node.value, TypeRef(wrapper), branch_cond, info=key_node.info)
            )
        kind_name = f"{name}Kind"
        self.table.check_free(kind_name, info)
        self.table.add(Enum(kind_name, info, module, values=tuple(values), implicit=True))
        base_name = f"q_obj_{name}-base"
        self.table.owner[base_name] = ("base member", f"union '{name}'")
        self.table.synthetic.add(base_name)
        tag = Member("type", TypeRef(kind_name), info=info)
        self.table.add(Struct(base_name, info, module, members=(tag,), implicit=True), info)
        self.table.key_pos[(name, "base")] = info
        self.table.key_pos[(name, "discriminator")] = info
        return Union(name, info, base=base_name, discriminator="type", branches=tuple(branches))

    def _alternate(self, obj: Obj, name: str, info: SourceInfo) -> Alternate:
        data = _branch_data(obj, "alternate", name)
        if not data.entries:
            raise SchemaError(
                data.info, f"'data' of alternate '{name}' is empty; give at least one branch"
            )
        branches: list[Branch] = []
        for key_node, value, what in _named_branches(data, "alternate", name):
            ref, ref_info, branch_cond = branch_type(value, what, allow_array=True)
            branch = Branch(key_node.value, ref, branch_cond, info=key_node.info)
            self.table.note_ref(branch, ref_info)
            branches.append(branch)
        return Alternate(name, info, branches=tuple(branches))

    def _command_or_event(
        self,
        obj: Obj,
        meta: str,
        name: str,
        info: SourceInfo,
        module: str,
        cond: Condition | None,
    ) -> Command | Event:
        boxed = "boxed" in obj
        arg_type = self._arguments(obj, meta, name, module, cond, boxed)
        if meta == "event":
            return Event(name, info, arg_type=arg_type, boxed=boxed)
        returns: TypeRef | None = None
        returns_value = obj.get("returns")
        if returns_value is not None:
            returns, ref_info = type_ref(
                returns_value, f"'returns' of command '{name}'", allow_array=True
            )
            self.table.key_pos[(name, "returns")] = ref_info
        return Command(
            name,
            info,
            arg_type=arg_type,
            boxed=boxed,
            returns=returns,
            gen="gen" not in obj,
            success_response="success-response" not in obj,
            allow_oob="allow-oob" in obj,
            allow_preconfig="allow-preconfig" in obj,
            coroutine="coroutine" in obj,
        )

    def _arguments(
        self,
        obj: Obj,
        meta: str,
        name: str,
        module: str,
        cond: Condition | None,
        boxed: bool,
    ) -> str | None:
        data = obj.get("data")
        if data is None:
            if boxed:
                raise SchemaError(
                    obj.key("boxed").info,
                    f"'boxed': true needs 'data' naming a struct or union; add 'data' to "
                    f"{meta} '{name}' or remove 'boxed'",
                )
            return None
        self.table.key_pos[(name, "data")] = data.info
        if isinstance(data, Str):
            return data.value
        if boxed:
            raise SchemaError(
                data.info,
                f"with 'boxed': true, 'data' of {meta} '{name}' must name a struct or union, "
                f"not be {describe(data)}; define a type for the arguments",
            )
        if not isinstance(data, Obj):
            raise SchemaError(
                data.info,
                f"'data' of {meta} '{name}' must be an object of arguments or a type name, "
                f"not {describe(data)}",
            )
        members = self.elements.members(
            data, "data", "argument", f"{meta} '{name}'", permissive=False, pragma_hint=False
        )
        if not members:
            return None
        arg_name = f"q_obj_{name}-arg"
        self.table.owner[arg_name] = ("argument", f"{meta} '{name}'")
        self.table.add(
            Struct(arg_name, data.info, module, cond=cond, members=members, implicit=True),
            data.info,
        )
        return arg_name


def _branch_data(obj: Obj, kind: str, name: str) -> Obj:
    """The ``data`` object of a simple union or an alternate."""
    data = required(obj, "data")
    if not isinstance(data, Obj):
        raise SchemaError(
            data.info,
            f"'data' of {kind} '{name}' must be an object mapping branch names to "
            f"types, not {describe(data)}",
        )
    return data


def _named_branches(data: Obj, kind: str, name: str) -> Iterator[tuple[Str, Value, str]]:
    """Each branch entry with a description of it, once its name is checked.

    Branch names must be lower case and distinct in their C form.
    """
    seen: dict[str, str] = {}
    for key_node, value in data.entries:
        what = f"branch '{key_node.value}' of {kind} '{name}'"
        check_lower(key_node.value, key_node.info, what)
        cname = c_name(key_node.value)
        if cname in seen:
            raise SchemaError(
                key_node.info,
                f"{what} clashes with branch '{seen[cname]}' (both are '{cname}' in C); "
                "rename one of them",
            )
        seen[cname] = key_node.value
        yield key_node, value, what
