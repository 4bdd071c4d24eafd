"""Field numbers through the lock file (qapi-to-proto.md, "Field numbers"): each
compatible schema edit is applied to a first version, both are translated with the same
lock, and the numbers are compared."""

from __future__ import annotations

import re

import pytest

from qapi_jobs.codegen.backends.proto.context import Settings
from qapi_jobs.codegen.backends.proto.translate import translate
from qapi_jobs.codegen.lockfile import (
    Element,
    Entry,
    Lock,
    LockError,
    assign_numbers,
    wire_compatible,
)
from qapi_jobs.codegen.model import Schema

from .models import alternate, command, enum, event, schema, struct, union

SETTINGS = Settings("numbering.v1", "NumberingService")


def run(model: Schema, lock: Lock) -> dict[str, str]:
    """Translate ``model`` with ``lock``, then round-trip the lock through JSON
    (as a real second run would read it from disk)."""
    files = translate(model, SETTINGS, lock)
    reread = Lock.loads(lock.dumps())
    lock.messages, lock.enums, lock.rpcs = reread.messages, reread.enums, reread.rpcs
    return files


def numbers(lock: Lock, symbol: str) -> dict[str, int]:
    entry = lock.messages[symbol] if not symbol.startswith("enum:") else lock.enums[symbol[5:]]
    return {key: slot.number for key, slot in entry.slots.items()}


def message_text(files: dict[str, str], name: str) -> str:
    text = "".join(files.values())
    match = re.search(rf"^message {name} \{{.*?^\}}", text, re.S | re.M)
    assert match, name
    return match.group(0)


def test_first_run_numbers_in_declaration_order_base_first() -> None:
    lock = Lock()
    run(
        schema(
            struct("Base", {"x": "str"}),
            struct("S", {"a": "str", "b": "int"}, base="Base"),
        ),
        lock,
    )
    assert numbers(lock, "type:S") == {"x": 1, "a": 2, "b": 3}


def test_reordering_members_keeps_numbers() -> None:
    lock = Lock()
    run(schema(struct("S", {"a": "str", "b": "int", "c": "bool"})), lock)
    before = numbers(lock, "type:S")
    files = run(schema(struct("S", {"c": "bool", "a": "str", "b": "int"})), lock)
    assert numbers(lock, "type:S") == before
    # Fields are written in the new declaration order, with their old numbers.
    assert re.findall(r"= (\d+) \[", message_text(files, "S")) == ["3", "1", "2"]


def test_adding_a_member_in_the_middle_appends_a_number() -> None:
    lock = Lock()
    run(schema(struct("S", {"a": "str", "b": "int"})), lock)
    run(schema(struct("S", {"a": "str", "*new": "str", "b": "int"})), lock)
    assert numbers(lock, "type:S") == {"a": 1, "b": 2, "new": 3}


def test_moving_members_into_a_base_keeps_numbers() -> None:
    lock = Lock()
    run(schema(struct("S", {"a": "str", "b": "int", "c": "bool"})), lock)
    before = numbers(lock, "type:S")
    run(
        schema(
            struct("Common", {"b": "int", "a": "str"}),
            struct("S", {"c": "bool"}, base="Common"),
        ),
        lock,
    )
    assert numbers(lock, "type:S") == before


def test_adding_an_enum_value_keeps_the_others() -> None:
    lock = Lock()
    run(schema(enum("E", ["one", "two", "three"])), lock)
    files = run(schema(enum("E", ["zero", "one", "two", "three"])), lock)
    assert numbers(lock, "enum:E") == {"one": 1, "two": 2, "three": 3, "zero": 4}
    assert "E_UNSPECIFIED = 0;" in "".join(files.values())
    assert "E_ZERO = 4" in "".join(files.values())


def test_removed_member_is_reserved_and_never_reused() -> None:
    lock = Lock()
    run(schema(struct("S", {"a": "str", "old-name": "int", "c": "bool"})), lock)
    files = run(schema(struct("S", {"a": "str", "c": "bool"})), lock)
    text = message_text(files, "S")
    assert "reserved 2;" in text
    assert 'reserved "old_name";' in text
    run(schema(struct("S", {"a": "str", "c": "bool", "d": "str"})), lock)
    assert numbers(lock, "type:S") == {"a": 1, "c": 3, "d": 4}


def test_removed_member_that_comes_back_gets_its_number_again() -> None:
    lock = Lock()
    run(schema(struct("S", {"a": "str", "b": "int"})), lock)
    run(schema(struct("S", {"a": "str"})), lock)
    files = run(schema(struct("S", {"a": "str", "b": "int"})), lock)
    assert numbers(lock, "type:S") == {"a": 1, "b": 2}
    assert "reserved" not in message_text(files, "S")


def test_removed_enum_value_is_reserved() -> None:
    lock = Lock()
    run(schema(enum("E", ["one", "two", "three"])), lock)
    files = run(schema(enum("E", ["one", "three"])), lock)
    text = "".join(files.values())
    assert "reserved 2;" in text
    assert 'reserved "E_TWO";' in text
    run(schema(enum("E", ["one", "three", "four"])), lock)
    assert numbers(lock, "enum:E")["four"] == 4


def test_incompatible_type_change_gets_a_new_number() -> None:
    """str → alternate: compatible for QMP, not for protobuf (qapi-to-proto.md, "Field numbers")."""
    lock = Lock()
    run(schema(struct("S", {"a": "str", "ref": "str"})), lock)
    files = run(
        schema(
            alternate("StrOrNull", {"s": "str", "n": "null"}),
            struct("S", {"a": "str", "ref": "StrOrNull"}),
        ),
        lock,
    )
    assert numbers(lock, "type:S") == {"a": 1, "ref": 3}
    text = message_text(files, "S")
    assert "reserved 2;" in text
    # The name lives on with the new number, so it is not reserved.
    assert 'reserved "ref"' not in text
    assert "StrOrNull ref = 3" in text


def test_array_to_optional_array_is_incompatible() -> None:
    lock = Lock()
    run(schema(struct("S", {"list": "[str]"})), lock)
    run(schema(struct("S", {"*list": "[str]"})), lock)
    assert numbers(lock, "type:S") == {"list": 2}


@pytest.mark.parametrize(
    ("old", "new"),
    [("int32", "int"), ("uint8", "uint64"), ("bool", "int"), ("E", "int"), ("str", "*str")],
)
def test_wire_compatible_type_change_keeps_the_number(old: str, new: str) -> None:
    lock = Lock()
    e = enum("E", ["x"])
    run(schema(e, struct("S", {"a": "str", "v": old})), lock)
    optional = new.startswith("*")
    run(schema(e, struct("S", {"a": "str", ("*v" if optional else "v"): new.lstrip("*")})), lock)
    assert numbers(lock, "type:S") == {"a": 1, "v": 2}


def test_inline_to_named_to_boxed_arguments_keep_numbers() -> None:
    lock = Lock()
    run(schema(*command("go", {"id": "str", "*speed": "int"})), lock)
    before = numbers(lock, "command:go:request")
    run(schema(struct("GoArgs", {"*speed": "int", "id": "str"}), *command("go", "GoArgs")), lock)
    assert numbers(lock, "command:go:request") == before
    run(
        schema(
            struct("GoArgs", {"*speed": "int", "id": "str"}), *command("go", "GoArgs", boxed=True)
        ),
        lock,
    )
    assert numbers(lock, "command:go:request") == before


def test_union_branches_share_the_number_space_and_survive_additions() -> None:
    lock = Lock()
    kinds = ["a", "b", "c"]
    run(
        schema(
            enum("Kind", kinds),
            struct("A", {"x": "int"}),
            *union("U", {"kind": "Kind", "common": "str"}, "kind", {"a": "A"}, kinds),
        ),
        lock,
    )
    assert numbers(lock, "type:U") == {"kind": 1, "common": 2, "branch:a": 3}
    run(
        schema(
            enum("Kind", kinds),
            struct("A", {"x": "int"}),
            struct("C", {"y": "int"}),
            *union(
                "U",
                {"kind": "Kind", "*extra": "int", "common": "str"},
                "kind",
                {"c": "C", "a": "A"},
                kinds,
            ),
        ),
        lock,
    )
    assert numbers(lock, "type:U") == {
        "kind": 1,
        "common": 2,
        "branch:a": 3,
        "extra": 4,
        "branch:c": 5,
    }


def test_events_keep_their_envelope_numbers() -> None:
    lock = Lock()
    run(schema(*event("FIRST"), *event("SECOND", {"id": "str"})), lock)
    run(schema(*event("ZERO"), *event("SECOND", {"id": "str"}), *event("FIRST")), lock)
    assert numbers(lock, "envelope") == {
        "*timestamp": 1,
        "event:FIRST": 2,
        "event:SECOND": 3,
        "event:ZERO": 4,
    }


def test_unchanged_schema_gives_identical_files_and_lock() -> None:
    model = schema(
        enum("E", ["x", "y"]),
        struct("S", {"a": "str", "*b": "[E]"}),
        *command("go", {"s": "S"}, returns="S"),
        *event("HAPPENED", {"e": "E"}),
    )
    lock = Lock()
    first = run(model, lock)
    first_lock = lock.dumps()
    second = run(model, lock)
    assert first == second
    assert lock.dumps() == first_lock
    fresh = Lock()
    assert run(model, fresh) == first
    assert fresh.dumps() == first_lock


def test_lock_json_is_sorted() -> None:
    lock = Lock()
    run(schema(struct("Zed", {"b": "str", "a": "str"}), struct("Alpha", {"z": "int"})), lock)
    text = lock.dumps()
    assert text.index('"type:Alpha"') < text.index('"type:Zed"')
    assert text.endswith("}\n")


def test_lock_rejects_unknown_format() -> None:
    with pytest.raises(LockError, match="unsupported lock format"):
        Lock.loads('{"version": 99}')
    with pytest.raises(LockError, match="malformed"):
        Lock.loads("[1, 2")


def test_numbers_skip_protoc_reserved_range() -> None:
    entry = Entry()
    assign_numbers(entry, [Element("a", "string", "a")])
    entry.slots["a"].number = 18_999
    assign_numbers(entry, [Element("a", "string", "a"), Element("b", "string", "b")])
    assert entry.slots["b"].number == 20_000


def test_wire_compatibility_classes() -> None:
    assert wire_compatible("int32", "enum Foo")
    assert wire_compatible("repeated uint64", "repeated int32")
    assert wire_compatible("string", "bytes")
    assert not wire_compatible("string", "message StrOrNull")
    assert not wire_compatible("message A", "message B")
    assert not wire_compatible("int64", "repeated int64")
    assert not wire_compatible("double", "int64")
