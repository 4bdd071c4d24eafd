"""The checker's working state: definitions in order, plus positions.

The model objects keep one position each (their name).  Messages about a
reference should point at the referring value instead, so the table keeps
those positions on the side, keyed by the model object's identity.
"""

from __future__ import annotations

from qapi_jobs.codegen.docparse import ParsedDoc
from qapi_jobs.codegen.errors import SchemaError
from qapi_jobs.codegen.model import (
    BUILTIN_JSON_TYPES,
    Builtin,
    Definition,
    Enum,
    EnumValue,
    Pragmas,
    SourceInfo,
    Struct,
)
from qapi_jobs.codegen.releases import Rules

QTYPE_VALUES = ("none", "qnull", "qnum", "qstring", "qdict", "qlist", "qbool")
EMPTY = "q_empty"


def kind_of(defn: Definition) -> str:
    """The kind of a definition as the schema spells it."""
    if isinstance(defn, Builtin):
        return "built-in type"
    if defn.implicit and isinstance(defn, Struct):
        return "implicit struct"
    return type(defn).__name__.lower()


class DefinitionTable:
    """Definitions in schema order with lookup by name."""

    def __init__(self, pragmas: Pragmas, rules: Rules | None = None) -> None:
        self.pragmas = pragmas
        self.rules = rules or Rules()
        self.order: list[str] = []
        self.defs: dict[str, Definition] = {}
        # Position of the value naming a type, per Member/Branch (by id),
        # and of a definition's keys such as 'base' or 'data'.
        self.ref_pos: dict[int, SourceInfo] = {}
        self.key_pos: dict[tuple[str, str], SourceInfo] = {}
        # For implicit types: how their members are described ("argument",
        # "command 'foo'"), so messages name what the author wrote.
        self.owner: dict[str, tuple[str, str]] = {}
        # Implicit structs whose members the author never wrote (those of
        # simple unions); their members need no documentation.
        self.synthetic: set[str] = set()
        # Parsed doc blocks, for the doc checks after the semantic ones.
        self.docs: dict[str, ParsedDoc] = {}
        # The definition expression (kind, name) that wrote each definition,
        # implicit ones included, for the "In struct 'Foo':" context line.
        self.current: tuple[str, str] | None = None
        self.written_by: dict[str, tuple[str, str]] = {}
        # Keeps replaced objects alive so that their ids are never reused.
        self._keep: list[object] = []
        self._add_predefined()

    def _add_predefined(self) -> None:
        for name, json_type in BUILTIN_JSON_TYPES.items():
            self.add(Builtin(name, json_type=json_type))
        values = tuple(EnumValue(v) for v in QTYPE_VALUES)
        self.add(Enum("QType", values=values, prefix="QTYPE", implicit=True))
        self.add(Struct(EMPTY, implicit=True))

    def check_free(self, name: str, info: SourceInfo) -> None:
        """Fail if ``name`` is already defined."""
        previous = self.defs.get(name)
        if previous is not None:
            where = f"at {previous.info}" if previous.info else "as a built-in"
            raise SchemaError(
                info,
                f"'{name}' is already defined ({kind_of(previous)} {where}); "
                "types, commands and events share one namespace, so rename one of them",
            )

    def add(self, defn: Definition, info: SourceInfo | None = None) -> None:
        """Append a definition; a second definition of a name is an error."""
        if info is not None:
            self.check_free(defn.name, info)
        assert defn.name not in self.defs
        if self.current is not None:
            self.written_by[defn.name] = self.current
        self.order.append(defn.name)
        self.defs[defn.name] = defn

    def replace(self, defn: Definition) -> None:
        """Swap in a new version of an existing definition."""
        self._keep.append(self.defs[defn.name])
        self.defs[defn.name] = defn

    def in_definition(self, error: SchemaError, name: str) -> SchemaError:
        """``error`` with the definition that wrote ``name`` as its context."""
        written_by = self.written_by.get(name)
        return error.in_definition(*written_by) if written_by else error

    def get(self, name: str) -> Definition | None:
        """The definition called ``name``, if any."""
        return self.defs.get(name)

    def ordered(self) -> list[Definition]:
        """All definitions in schema order."""
        return [self.defs[name] for name in self.order]

    def note_ref(self, item: object, info: SourceInfo) -> None:
        """Remember where the type of a member or branch was written."""
        self._keep.append(item)
        self.ref_pos[id(item)] = info

    def ref_info(self, item: object, fallback: SourceInfo | None) -> SourceInfo:
        """Where the type of ``item`` was written."""
        info = self.ref_pos.get(id(item), fallback)
        assert info is not None
        return info

    def describe_member(self, owner: str, member: str) -> str:
        """``member 'x' of struct 'S'``, ``argument 'x' of command 'c'``..."""
        role, of = self.owner.get(owner, ("member", ""))
        if not of:
            of = f"{kind_of(self.defs[owner])} '{owner}'"
        return f"{role} '{member}' of {of}"
