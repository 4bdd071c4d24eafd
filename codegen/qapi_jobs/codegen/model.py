"""The immutable schema model that every backend walks.

The checker builds one :class:`Schema` from the parser's output; backends
never see raw parser data.  All objects here are frozen dataclasses holding
tuples, so a backend cannot change what another backend will see.

Types refer to each other *by name* (:class:`TypeRef`) rather than by object
reference: QAPI allows recursion through members (a struct holding a list of
itself), which frozen objects could not express directly.  The checker
guarantees that every name resolves, so :meth:`Schema.lookup` never fails on
a checked schema.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Literal, TypeVar

# --- source positions -------------------------------------------------------


@dataclass(frozen=True, order=True)
class SourceInfo:
    """Where something was written: file path, 1-based line and column."""

    file: str
    line: int
    col: int = 0

    def __str__(self) -> str:
        if self.col:
            return f"{self.file}:{self.line}:{self.col}"
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class SchemaWarning:
    """A rule the schema breaks that its own QEMU release did not have yet."""

    info: SourceInfo
    message: str

    def __str__(self) -> str:
        return f"{self.info}: warning: {self.message}"


# --- conditions ---------------------------------------------------------------


@dataclass(frozen=True)
class IfName:
    """A bare configuration symbol such as ``CONFIG_SPICE``.

    Old schemas (before QEMU 6.2) wrote C preprocessor expressions such as
    ``defined(CONFIG_SPICE)``; those are kept verbatim here too.
    """

    name: str


@dataclass(frozen=True)
class IfAll:
    """True when every operand is true."""

    operands: tuple[Condition, ...]


@dataclass(frozen=True)
class IfAny:
    """True when at least one operand is true."""

    operands: tuple[Condition, ...]


@dataclass(frozen=True)
class IfNot:
    """True when the operand is false."""

    operand: Condition


Condition = IfName | IfAll | IfAny | IfNot


def condition_text(cond: Condition | None) -> str:
    """Render a condition in QAPI's own notation, for comments and options."""
    if cond is None:
        return ""
    if isinstance(cond, IfName):
        return cond.name
    if isinstance(cond, IfNot):
        return f"not({condition_text(cond.operand)})"
    word = "all" if isinstance(cond, IfAll) else "any"
    return f"{word}({', '.join(condition_text(c) for c in cond.operands)})"


# --- features and documentation ---------------------------------------------------


@dataclass(frozen=True)
class Feature:
    """A feature flag such as ``deprecated`` or ``unstable``."""

    name: str
    cond: Condition | None = None
    info: SourceInfo | None = None


@dataclass(frozen=True)
class DocSection:
    """A tagged section of a doc comment (``Since``, ``Returns``, ``Errors``,
    ``TODO``, and the retired ``Note``/``Example`` family) or an untagged
    paragraph (tag ``""``)."""

    tag: str
    text: str
    info: SourceInfo | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Doc:
    """A definition's doc comment, split into its parts."""

    symbol: str
    body: str = ""
    members: tuple[tuple[str, str], ...] = ()
    features: tuple[tuple[str, str], ...] = ()
    sections: tuple[DocSection, ...] = ()
    info: SourceInfo | None = None

    def member(self, name: str) -> str:
        """The description of member, value or branch ``name`` ('' if none)."""
        for key, text in self.members:
            if key == name:
                return text
        return ""

    def feature(self, name: str) -> str:
        """The description of feature ``name`` ('' if none)."""
        for key, text in self.features:
            if key == name:
                return text
        return ""

    def section(self, tag: str) -> str:
        """The text of the first section tagged ``tag`` ('' if none)."""
        for section in self.sections:
            if section.tag == tag:
                return section.text
        return ""


@dataclass(frozen=True)
class FreeDoc:
    """A free-form doc block (headings, prose between definitions)."""

    text: str
    info: SourceInfo | None = None


# --- type references ----------------------------------------------------------------


@dataclass(frozen=True)
class TypeRef:
    """A reference to a type by name; ``is_array`` for QAPI's ``['T']``."""

    name: str
    is_array: bool = False

    def __str__(self) -> str:
        return f"[{self.name}]" if self.is_array else self.name


# --- definitions ------------------------------------------------------------------------

JsonType = Literal["string", "number", "int", "boolean", "null", "value"]

BUILTIN_JSON_TYPES: dict[str, JsonType] = {
    "str": "string",
    "number": "number",
    "int": "int",
    "int8": "int",
    "int16": "int",
    "int32": "int",
    "int64": "int",
    "uint8": "int",
    "uint16": "int",
    "uint32": "int",
    "uint64": "int",
    "size": "int",
    "bool": "boolean",
    "null": "null",
    "any": "value",
}


@dataclass(frozen=True)
class _Definition:
    name: str
    info: SourceInfo | None = field(default=None, compare=False)
    module: str = ""
    doc: Doc | None = field(default=None, compare=False)
    cond: Condition | None = None
    features: tuple[Feature, ...] = ()
    implicit: bool = False

    def has_feature(self, name: str) -> bool:
        """Whether the definition carries feature ``name``."""
        return any(f.name == name for f in self.features)


@dataclass(frozen=True)
class Builtin(_Definition):
    """A built-in type such as ``str``, ``uint64`` or ``any``."""

    json_type: JsonType = "value"


@dataclass(frozen=True)
class EnumValue:
    """One value of an enum, by its wire name."""

    name: str
    cond: Condition | None = None
    features: tuple[Feature, ...] = ()
    info: SourceInfo | None = field(default=None, compare=False)

    def has_feature(self, name: str) -> bool:
        """Whether the value carries feature ``name``."""
        return any(f.name == name for f in self.features)


@dataclass(frozen=True)
class Enum(_Definition):
    """An enumeration; ``prefix`` only matters to C, kept for completeness."""

    values: tuple[EnumValue, ...] = ()
    prefix: str | None = None

    def value_names(self) -> tuple[str, ...]:
        """The wire names of all values, in schema order."""
        return tuple(v.name for v in self.values)


@dataclass(frozen=True)
class Member:
    """A member of an object type, or an argument of a command or event."""

    name: str
    type: TypeRef
    optional: bool = False
    cond: Condition | None = None
    features: tuple[Feature, ...] = ()
    info: SourceInfo | None = field(default=None, compare=False)

    def has_feature(self, name: str) -> bool:
        """Whether the member carries feature ``name``."""
        return any(f.name == name for f in self.features)


@dataclass(frozen=True)
class Struct(_Definition):
    """A struct.  ``members`` are its own; :meth:`Schema.all_members` adds the
    base chain's members in front."""

    base: str | None = None
    members: tuple[Member, ...] = ()


@dataclass(frozen=True)
class Branch:
    """A union branch (``name`` is a discriminator value) or an alternate
    branch (``name`` is a free lower-case name).

    Union branches always name a struct or union.  ``implicit`` marks the
    empty branches QAPI adds for enum values the union does not list.
    """

    name: str
    type: TypeRef
    cond: Condition | None = None
    implicit: bool = False
    info: SourceInfo | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Union(_Definition):
    """A discriminated ("flat") union: base members, one of which (the
    discriminator, enum-typed) selects the branch whose members sit beside
    the base members on the wire."""

    base: str = ""
    discriminator: str = ""
    branches: tuple[Branch, ...] = ()


@dataclass(frozen=True)
class Alternate(_Definition):
    """An untagged choice between types told apart by their JSON type."""

    branches: tuple[Branch, ...] = ()


@dataclass(frozen=True)
class Command(_Definition):
    """A command.  ``arg_type`` names the (possibly implicit) struct holding
    its arguments, or a union when ``boxed``; ``None`` means no arguments."""

    arg_type: str | None = None
    boxed: bool = False
    returns: TypeRef | None = None
    gen: bool = True
    success_response: bool = True
    allow_oob: bool = False
    allow_preconfig: bool = False
    coroutine: bool = False


@dataclass(frozen=True)
class Event(_Definition):
    """An event.  ``arg_type`` as for :class:`Command`."""

    arg_type: str | None = None
    boxed: bool = False


Definition = Builtin | Enum | Struct | Union | Alternate | Command | Event
ObjectType = Struct | Union
_D = TypeVar("_D", Builtin, Enum, Struct, Union, Alternate, Command, Event)
TypeDefinition = Builtin | Enum | Struct | Union | Alternate


def struct_chain(obj: Struct | Union, lookup: Callable[[str], Definition]) -> list[Struct]:
    """The structs whose members ``obj`` carries before any branch, farthest
    base first: a struct's bases and itself, or a union's base and its bases.

    ``lookup`` resolves a name; the chain must be checked (no loops)."""
    current: Definition | None = lookup(obj.base) if isinstance(obj, Union) else obj
    chain: list[Struct] = []
    while isinstance(current, Struct):
        chain.append(current)
        current = lookup(current.base) if current.base is not None else None
    return chain[::-1]


@dataclass(frozen=True)
class Pragmas:
    """The schema-wide pragmas."""

    doc_required: bool = False
    command_name_exceptions: tuple[str, ...] = ()
    command_returns_exceptions: tuple[str, ...] = ()
    documentation_exceptions: tuple[str, ...] = ()
    member_name_exceptions: tuple[str, ...] = ()


@dataclass(frozen=True)
class Module:
    """A schema file, by its path relative to the root file's directory."""

    name: str
    includes: tuple[str, ...] = ()
    free_docs: tuple[FreeDoc, ...] = ()


@dataclass(frozen=True)
class Schema:
    """A checked schema: every definition in source order (implicit ones
    included, built-ins first), plus pragmas and modules."""

    definitions: tuple[Definition, ...]
    pragmas: Pragmas = Pragmas()
    modules: tuple[Module, ...] = ()
    warnings: tuple[SchemaWarning, ...] = field(default=(), compare=False)
    _index: dict[str, Definition] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False
    )

    def __post_init__(self) -> None:
        for definition in self.definitions:
            self._index[definition.name] = definition

    def lookup(self, name: str) -> Definition:
        """The definition called ``name``; KeyError if there is none."""
        return self._index[name]

    def get(self, name: str) -> Definition | None:
        """The definition called ``name``, or None."""
        return self._index.get(name)

    def __iter__(self) -> Iterator[Definition]:
        return iter(self.definitions)

    def explicit(self) -> Iterator[Definition]:
        """Definitions the schema's author wrote (no built-ins, no implicit types)."""
        return (d for d in self.definitions if not d.implicit and not isinstance(d, Builtin))

    def of_kind(self, kind: type[_D]) -> Iterator[_D]:
        """Definitions of one kind, in source order."""
        return (d for d in self.definitions if isinstance(d, kind))

    def declared_members(self, obj: Struct | Union) -> tuple[tuple[Member, Struct], ...]:
        """Members on the wire before any branch, each with the struct that
        declares it (whose doc describes it): the base chain's, then own."""
        return tuple((m, s) for s in struct_chain(obj, self.lookup) for m in s.members)

    def all_members(self, obj: Struct | Union) -> tuple[Member, ...]:
        """Members on the wire before any branch: the base chain's, then own."""
        return tuple(member for member, _ in self.declared_members(obj))

    def arguments(self, owner: Command | Event) -> tuple[Member, ...]:
        """A command's or event's arguments (a boxed union's base members)."""
        if owner.arg_type is None:
            return ()
        arg = self.lookup(owner.arg_type)
        assert isinstance(arg, Struct | Union)
        return self.all_members(arg)
