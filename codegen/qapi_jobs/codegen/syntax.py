"""The parse tree: QAPI values that remember where they were written.

Every node carries the :class:`SourceInfo` of its first character so that
the checker can point at the exact key or value it complains about.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from qapi_jobs.codegen.model import SourceInfo


@dataclass(frozen=True, slots=True)
class Str:
    """A string value or an object key."""

    value: str
    info: SourceInfo


@dataclass(frozen=True, slots=True)
class Bool:
    """``true`` or ``false``."""

    value: bool
    info: SourceInfo


@dataclass(frozen=True, slots=True)
class Arr:
    """A list of values."""

    items: tuple[Value, ...]
    info: SourceInfo


@dataclass(frozen=True, slots=True)
class Obj:
    """An object: keys (with their positions) mapped to values, in order."""

    entries: tuple[tuple[Str, Value], ...]
    info: SourceInfo
    _index: dict[str, int] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        for i, (key, _) in enumerate(self.entries):
            self._index[key.value] = i

    def __contains__(self, key: str) -> bool:
        return key in self._index

    def get(self, key: str) -> Value | None:
        """The value of ``key``, or None when absent."""
        i = self._index.get(key)
        return None if i is None else self.entries[i][1]

    def key(self, key: str) -> Str:
        """The key node ``key`` (which must be present)."""
        return self.entries[self._index[key]][0]

    def keys(self) -> list[str]:
        """The keys in source order."""
        return [key.value for key, _ in self.entries]


Value = Str | Bool | Arr | Obj


def describe(value: Value) -> str:
    """How a value looks, for messages (``a string``, ``an array``...)."""
    if isinstance(value, Str):
        return f"the string '{value.value}'"
    if isinstance(value, Bool):
        return "true" if value.value else "false"
    if isinstance(value, Arr):
        return "an array"
    return "an object"
