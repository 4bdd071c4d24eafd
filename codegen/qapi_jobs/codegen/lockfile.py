"""The field-number lock file (qapi-to-proto.md, "Field numbers: the lock file").

Protobuf identifies fields and enum values by number, QAPI by name, and QAPI
lets a schema reorder members, insert new ones anywhere and move members
into a base type without any client noticing.  Numbering by position would
silently change the meaning of bytes on the wire, so numbers come from this
file instead, keyed by QAPI *wire* names:

* a known element keeps its number and its proto name;
* a new element gets one more than the highest number ever used there;
* an element that disappears is *retired*: its number (and, unless a live
  field took it over, its name) is reserved and never handed out again;
* an element whose proto type changes in a way the wire cannot carry (say
  ``string`` to a message) retires its old number and gets a new one.

The file is JSON with sorted keys, so regenerating an unchanged schema
rewrites it byte for byte.  Entries of elements that vanished entirely are
kept: should the element come back, it gets its old numbers again.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FORMAT_VERSION = 1
MAX_FIELD_NUMBER = 536_870_911
# Numbers protoc keeps for itself.
_RESERVED_RANGE = range(19_000, 20_000)
_VARINT_SCALARS = frozenset({"int32", "int64", "uint32", "uint64", "bool"})


class LockError(Exception):
    """The lock file cannot be read, or contradicts itself."""


@dataclass
class Slot:
    """A numbered element of a message or enum, as last generated."""

    number: int
    name: str
    type: str = ""


@dataclass
class Retired:
    """A number no longer used: ``key`` is the element's wire key."""

    key: str
    number: int
    name: str
    type: str = ""


@dataclass
class Entry:
    """The numbering of one message or enum.

    ``slots`` maps element keys (member wire names, ``branch:<name>``,
    ``event:<NAME>`` ...) to their numbers; ``name`` is the proto name the
    message or enum was given; ``oneof`` the name of its oneof, if any.
    """

    name: str = ""
    slots: dict[str, Slot] = field(default_factory=dict)
    retired: list[Retired] = field(default_factory=list)
    oneof: str = ""


@dataclass(frozen=True)
class Element:
    """An element that needs a number: its key, proto type signature and the
    proto name it is about to get (a retired number remembers the name)."""

    key: str
    type: str
    name: str


@dataclass
class Lock:
    """The whole lock file: entries for messages and enums, rpc names."""

    messages: dict[str, Entry] = field(default_factory=dict)
    enums: dict[str, Entry] = field(default_factory=dict)
    rpcs: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> Lock:
        """Read ``path``; a missing file is an empty lock (first run)."""
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return cls()
        return cls.loads(text, str(path))

    @classmethod
    def loads(cls, text: str, origin: str = "<lock>") -> Lock:
        """Parse the JSON form written by :meth:`dumps`."""
        try:
            data = json.loads(text)
            if data.get("version") != FORMAT_VERSION:
                raise LockError(f"{origin}: unsupported lock format {data.get('version')!r}")
            return cls(
                messages={k: _entry_from(v) for k, v in data.get("messages", {}).items()},
                enums={k: _entry_from(v) for k, v in data.get("enums", {}).items()},
                rpcs=dict(data.get("rpcs", {})),
            )
        except (ValueError, TypeError, KeyError, AttributeError) as err:
            raise LockError(f"{origin}: malformed lock file: {err}") from err

    def dumps(self) -> str:
        """The JSON text: sorted keys, two-space indent, final newline."""
        data = {
            "version": FORMAT_VERSION,
            "messages": {k: _entry_to(v, typed=True) for k, v in self.messages.items()},
            "enums": {k: _entry_to(v, typed=False) for k, v in self.enums.items()},
            "rpcs": self.rpcs,
        }
        return json.dumps(data, indent=2, sort_keys=True) + "\n"

    def save(self, path: Path) -> None:
        """Write the lock to ``path`` (parents created)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.dumps(), encoding="utf-8")


def _entry_from(data: Mapping[str, Any]) -> Entry:
    return Entry(
        name=str(data.get("name", "")),
        slots={
            key: Slot(int(s["number"]), str(s["name"]), str(s.get("type", "")))
            for key, s in data.get("slots", {}).items()
        },
        retired=[
            Retired(str(r["key"]), int(r["number"]), str(r["name"]), str(r.get("type", "")))
            for r in data.get("retired", [])
        ],
        oneof=str(data.get("oneof", "")),
    )


def _entry_to(entry: Entry, *, typed: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"name": entry.name, "slots": {}}
    for key, slot in entry.slots.items():
        out["slots"][key] = {"number": slot.number, "name": slot.name}
        if typed:
            out["slots"][key]["type"] = slot.type
    if entry.retired:
        out["retired"] = []
        for r in sorted(entry.retired, key=lambda r: (r.number, r.key)):
            item: dict[str, Any] = {"key": r.key, "number": r.number, "name": r.name}
            if typed:
                item["type"] = r.type
            out["retired"].append(item)
    if entry.oneof:
        out["oneof"] = entry.oneof
    return out


def wire_compatible(old: str, new: str) -> bool:
    """Whether bytes written for proto type ``old`` read correctly as ``new``.

    Signatures look like ``int64``, ``repeated string``, ``enum JobStatus``,
    ``message JobInfo``.  The varint family (int32, int64, uint32, uint64,
    bool, enums) is one class, as are string and bytes; a message only
    matches itself.  Repetition must agree.
    """
    if old == new:
        return True
    old_rep, old_base = _split_label(old)
    new_rep, new_base = _split_label(new)
    if old_rep != new_rep:
        return False
    return _wire_class(old_base) == _wire_class(new_base)


def _split_label(signature: str) -> tuple[bool, str]:
    if signature.startswith("repeated "):
        return True, signature[len("repeated ") :]
    return False, signature


def _wire_class(base: str) -> str:
    if base in _VARINT_SCALARS or base.startswith("enum "):
        return "varint"
    if base in ("string", "bytes"):
        return "bytes"
    return base


def _next_number(used: Iterable[int], *, fields: bool) -> int:
    number = max(used, default=0) + 1
    if fields and number in _RESERVED_RANGE:
        number = _RESERVED_RANGE.stop
    if fields and number > MAX_FIELD_NUMBER:
        raise LockError("no field numbers left")
    return number


def assign_numbers(entry: Entry, elements: Iterable[Element], *, fields: bool = True) -> None:
    """Give every element of one message (or enum) its number, in ``entry``.

    ``elements`` is in declaration order, which decides the numbers of new
    elements.  Afterwards ``entry.slots`` holds exactly the live elements;
    everything else that had a number is in ``entry.retired``.  With
    ``fields=False`` (enums) type signatures are ignored and the field-only
    reserved range is not skipped.
    """
    live = list(elements)
    live_keys = {e.key for e in live}
    for key in [k for k in entry.slots if k not in live_keys]:
        _retire(entry, key)
    for element in live:
        slot = entry.slots.get(element.key)
        if slot is not None and fields and not wire_compatible(slot.type, element.type):
            _retire(entry, element.key)
            slot = None
        if slot is None:
            slot = _restore(entry, element, fields=fields)
        slot.name = element.name
        slot.type = element.type if fields else ""
        entry.slots[element.key] = slot


def _retire(entry: Entry, key: str) -> None:
    slot = entry.slots.pop(key)
    entry.retired.append(Retired(key, slot.number, slot.name, slot.type))


def _restore(entry: Entry, element: Element, *, fields: bool) -> Slot:
    """A retired number of the same element and a compatible type, else a new one."""
    for old in entry.retired:
        if old.key == element.key and (not fields or wire_compatible(old.type, element.type)):
            entry.retired.remove(old)
            return Slot(old.number, element.name, element.type)
    used = [s.number for s in entry.slots.values()] + [r.number for r in entry.retired]
    return Slot(_next_number(used, fields=fields), element.name, element.type)


def reserved(entry: Entry, live_names: Iterable[str]) -> tuple[list[int], list[str]]:
    """The numbers and names to declare ``reserved`` for ``entry``.

    Every retired number is reserved.  A retired name is reserved only when
    no live element uses it: a member whose type changed lives on under its
    old name with a new number.
    """
    taken = set(live_names)
    numbers = sorted({r.number for r in entry.retired})
    names = sorted({r.name for r in entry.retired if r.name and r.name not in taken})
    return numbers, names
