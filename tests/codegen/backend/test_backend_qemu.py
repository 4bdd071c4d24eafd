"""Acceptance: QEMU's whole schema (1009 definitions) translates, compiles
with protoc, imports, passes buf lint, and nothing is lost on the way."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from qapi_jobs.codegen.model import Alternate, Command, Enum, Event, Schema, Struct, Union

from .tools import QEMU_PACKAGE, buf_lint, describe


@pytest.fixture(scope="module")
def described(qemu_tree: Path) -> Any:
    return describe(qemu_tree, QEMU_PACKAGE)


def test_buf_lint_standard_is_clean(qemu_tree: Path) -> None:
    assert buf_lint(qemu_tree) == ""


def test_every_enum(described: Any, qemu_schema: Schema) -> None:
    explicit = {e.name for e in qemu_schema.of_kind(Enum) if not e.implicit}
    assert len(explicit) == 182
    generated = {e["qapi"]["name"] for e in described["enums"].values()}
    # QType is only emitted when something refers to it.
    assert generated - explicit <= {"QType"}
    assert explicit <= generated
    for enum in described["enums"].values():
        values = list(enum["values"].values())
        assert values[0]["number"] == 0 and values[0]["qapi"] == {}
        assert all(v["qapi"]["name"] for v in values[1:])


def test_every_type_is_a_message(described: Any, qemu_schema: Schema) -> None:
    for kind, meta, count in (
        (Struct, "struct", 478),
        (Union, "union", 43),
        (Alternate, "alternate", 6),
    ):
        expected = {
            d.name for d in qemu_schema.definitions if isinstance(d, kind) and not d.implicit
        }
        assert len(expected) == count
        generated = {
            m["qapi"]["name"]
            for m in described["messages"].values()
            if m["qapi"].get("meta") == meta
        }
        assert generated == expected, meta


def test_every_command_is_an_rpc(described: Any, qemu_schema: Schema) -> None:
    commands = {c.name for c in qemu_schema.of_kind(Command)}
    assert len(commands) == 243
    rpcs = described["rpcs"]
    assert {r["qapi"]["name"] for r in rpcs.values() if r["qapi"]} == commands
    assert len(rpcs) == 244
    messages = described["messages"]
    for rpc in rpcs.values():
        if rpc["qapi"]:
            assert messages[rpc["input"]]["qapi"]["meta"] == "command-arguments"
            assert messages[rpc["output"]]["qapi"]["meta"] == "command-result"


def test_every_event_is_in_the_envelope(described: Any, qemu_schema: Schema) -> None:
    events = {e.name for e in qemu_schema.of_kind(Event)}
    assert len(events) == 57
    envelope = described["messages"]["Event"]
    assert envelope["qapi"] == {"meta": "event-envelope"}
    in_envelope = {f["qapi"]["event"] for f in envelope["fields"].values() if f["oneof"] == "kind"}
    assert in_envelope == events
    assert described["rpcs"]["StreamEvents"]["streaming"]


def test_every_member_keeps_its_wire_name(described: Any, qemu_schema: Schema) -> None:
    by_name = {m["qapi"].get("name"): m for m in described["messages"].values()}
    for struct in qemu_schema.of_kind(Struct):
        if struct.implicit:
            continue
        fields = by_name[struct.name]["fields"].values()
        assert {f["json_name"] for f in fields} == {m.name for m in qemu_schema.all_members(struct)}


def test_the_two_unspecified_values(described: Any) -> None:
    assert "ENDIAN_MODE_UNSPECIFIED_VALUE" in described["enums"]["EndianMode"]["values"]
    assert (
        "VM_APPLE_VIRTIO_BLK_VARIANT_UNSPECIFIED_VALUE"
        in (described["enums"]["VMAppleVirtioBlkVariant"]["values"])
    )
