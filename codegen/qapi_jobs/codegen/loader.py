"""Reads a schema's files: follows includes and collects pragmas.

Included files are parsed where the ``include`` directive stands, so the
definitions come out in documentation order.  A file already read is
skipped silently; a file that includes itself (directly or not) is an
error.
"""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass, field
from pathlib import Path

from qapi_jobs.codegen.docparse import ParsedDoc
from qapi_jobs.codegen.errors import SchemaError
from qapi_jobs.codegen.model import FreeDoc, Module, Pragmas, SourceInfo
from qapi_jobs.codegen.parser import parse_source
from qapi_jobs.codegen.syntax import Arr, Bool, Obj, Str, Value, describe


@dataclass(frozen=True)
class LoadedExpr:
    """A definition expression, its doc block and its module name."""

    obj: Obj
    doc: ParsedDoc | None
    module: str


@dataclass
class LoadedSchema:
    """Everything read from the files, before any semantic check."""

    exprs: list[LoadedExpr] = field(default_factory=list)
    modules: list[Module] = field(default_factory=list)
    pragmas: Pragmas = field(default_factory=Pragmas)
    # Pragma names as written, for the rules that depend on a schema's age.
    pragma_names: set[str] = field(default_factory=set)
    # Where each included file was first included, by its path in positions.
    included_at: dict[str, SourceInfo] = field(default_factory=dict)

    def include_chain(self, file: str) -> tuple[SourceInfo, ...]:
        """The include directives that lead to ``file``, outermost first."""
        chain: list[SourceInfo] = []
        while (at := self.included_at.get(file)) is not None and at not in chain:
            chain.append(at)
            file = at.file
        return tuple(reversed(chain))


_LIST_PRAGMAS = {
    "command-name-exceptions": ("command_name_exceptions",),
    "command-returns-exceptions": ("command_returns_exceptions",),
    "documentation-exceptions": ("documentation_exceptions",),
    "member-name-exceptions": ("member_name_exceptions",),
    # Names used up to QEMU 5.2.  The old case list also excused commands
    # with '_', which needed no exception back then.
    "returns-whitelist": ("command_returns_exceptions",),
    "name-case-whitelist": ("member_name_exceptions", "command_name_exceptions"),
}
_KNOWN_PRAGMAS = ", ".join(f"'{p}'" for p in ["doc-required", *_LIST_PRAGMAS])


def read_text(path: str, info: SourceInfo | None, what: str) -> str:
    """Read a schema file as UTF-8, turning failures into SchemaError."""
    where = info or SourceInfo(path, 1)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise SchemaError(where, f"cannot read {what} '{path}': {exc.strerror}") from exc
    try:
        # A byte-order mark is harmless; editors on some systems add one.
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise SchemaError(
            SourceInfo(path, line),
            f"file is not valid UTF-8 (byte 0x{data[exc.start]:02x}); save it as UTF-8",
        ) from exc


def load(root: str | Path) -> LoadedSchema:
    """Read ``root`` and every file it includes."""
    loader = _Loader()
    root_file = os.fspath(root)
    try:
        loader.read(root_file, posixpath.basename(root_file.replace(os.sep, "/")), None)
    except SchemaError as error:
        error.included_from = loader.result.include_chain(error.info.file)
        raise
    lists = {attr: tuple(names) for attr, names in loader.lists.items()}
    loader.result.pragmas = Pragmas(
        doc_required=loader.doc_required,
        command_name_exceptions=lists["command_name_exceptions"],
        command_returns_exceptions=lists["command_returns_exceptions"],
        documentation_exceptions=lists["documentation_exceptions"],
        member_name_exceptions=lists["member_name_exceptions"],
    )
    return loader.result


class _Loader:
    def __init__(self) -> None:
        self.result = LoadedSchema()
        self.done: set[str] = set()
        self.stack: list[str] = []
        self.doc_required = False
        self.lists: dict[str, list[str]] = {
            attr: [] for attrs in _LIST_PRAGMAS.values() for attr in attrs
        }

    def read(self, file: str, module: str, info: SourceInfo | None) -> None:
        real = os.path.realpath(file)
        self.stack.append(real)
        self.done.add(real)
        parsed = parse_source(read_text(file, info, "schema file"), file)
        includes: list[str] = []
        slot = len(self.result.modules)
        self.result.modules.append(Module(module))
        for top in parsed.exprs:
            if "include" in top.obj:
                target = self.include(top.obj, file, module)
                if target not in includes:
                    includes.append(target)
            elif "pragma" in top.obj:
                self.pragma(top.obj)
            else:
                self.result.exprs.append(LoadedExpr(top.obj, top.doc, module))
        self.result.modules[slot] = Module(
            module,
            tuple(includes),
            tuple(FreeDoc(doc.text, doc.info) for doc in parsed.free_docs),
        )
        self.stack.pop()

    def include(self, obj: Obj, file: str, module: str) -> str:
        _only_key(obj, "include")
        value = obj.get("include")
        if not isinstance(value, Str):
            assert value is not None
            raise SchemaError(
                value.info,
                f"'include' takes a file name string, not {describe(value)}",
            )
        path = os.path.normpath(os.path.join(os.path.dirname(file), value.value))
        target = posixpath.normpath(posixpath.join(posixpath.dirname(module), value.value))
        real = os.path.realpath(path)
        if real in self.stack:
            raise SchemaError(
                value.info,
                f"inclusion loop: '{value.value}' is already being read (it includes "
                "this file, directly or indirectly); remove one of the includes",
            )
        if real not in self.done:
            self.result.included_at.setdefault(path, value.info)
            self.read(path, target, value.info)
        return target

    def pragma(self, obj: Obj) -> None:
        _only_key(obj, "pragma")
        value = obj.get("pragma")
        if not isinstance(value, Obj):
            assert value is not None
            raise SchemaError(
                value.info,
                f"'pragma' takes an object of pragma settings, not {describe(value)}",
            )
        for key, setting in value.entries:
            self.result.pragma_names.add(key.value)
            if key.value == "doc-required":
                if not isinstance(setting, Bool):
                    raise SchemaError(
                        setting.info,
                        f"pragma 'doc-required' must be true or false, not {describe(setting)}",
                    )
                self.doc_required = setting.value
            elif key.value in _LIST_PRAGMAS:
                names = _string_list(setting, key.value)
                for attr in _LIST_PRAGMAS[key.value]:
                    self.lists[attr].extend(n for n in names if n not in self.lists[attr])
            else:
                raise SchemaError(
                    key.info,
                    f"unknown pragma '{key.value}'; known pragmas are {_KNOWN_PRAGMAS}",
                )


def _only_key(obj: Obj, directive: str) -> None:
    article = "an" if directive == "include" else "a"
    for key, _ in obj.entries:
        if key.value != directive:
            raise SchemaError(
                key.info,
                f"{article} '{directive}' directive takes no other key; remove '{key.value}'",
            )


def _string_list(value: Value, pragma: str) -> list[str]:
    if not isinstance(value, Arr):
        raise SchemaError(
            value.info,
            f"pragma '{pragma}' must be a list of names, not {describe(value)}",
        )
    names: list[str] = []
    for item in value.items:
        if not isinstance(item, Str):
            raise SchemaError(
                item.info,
                f"pragma '{pragma}' must list names as strings, not {describe(item)}",
            )
        names.append(item.value)
    return names
