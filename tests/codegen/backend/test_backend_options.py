"""The QAPI facts in custom options and comments (qapi-to-proto.md, "Documentation ..."
to "Custom options"), read back from compiled descriptors the way the transcoder reads them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from qapi_jobs.codegen.backends.proto import generate
from qapi_jobs.codegen.model import (
    Branch,
    Command,
    Definition,
    Doc,
    DocSection,
    Enum,
    EnumValue,
    Event,
    Feature,
    IfAll,
    IfAny,
    IfName,
    IfNot,
    Member,
    Schema,
    Struct,
    TypeRef,
    Union,
)
from qapi_jobs.codegen.protoc import compile_python

from .models import MODULE, alternate, schema
from .tools import buf_lint, describe

PACKAGE = "opts.v1"
DEPRECATED = Feature("deprecated")
UNSTABLE = Feature("unstable")


def rich_schema() -> Schema:
    color = Enum(
        "Color",
        module=MODULE,
        values=(
            EnumValue("red"),
            EnumValue("old", features=(DEPRECATED,)),
            EnumValue("blue", cond=IfName("CONFIG_BLUE"), features=(UNSTABLE,)),
        ),
        cond=IfAll((IfName("CONFIG_A"), IfNot(IfName("CONFIG_B")))),
        doc=Doc(
            "Color",
            body="The colours a job can be painted.",
            members=(("red", "the red one"), ("old", "a retired colour")),
            features=(("deprecated", "Use red instead."), ("unstable", "Experimental.")),
            sections=(DocSection("Since", "1.0"), DocSection("TODO", "drop old")),
        ),
    )
    paint = Struct(
        "Paint",
        module=MODULE,
        members=(
            Member("color", TypeRef("Color")),
            Member("size", TypeRef("size"), optional=True),
            Member("x-old", TypeRef("str"), features=(DEPRECATED, Feature("json-cli"))),
            Member("tags", TypeRef("str", is_array=True), optional=True),
            Member("layers", TypeRef("int8", is_array=True)),
            Member("extra", TypeRef("any"), optional=True),
            Member("odd", TypeRef("int"), cond=IfAny((IfName("CONFIG_X"), IfName("CONFIG_Y")))),
            Member("where", TypeRef("Spot"), optional=True),
        ),
        doc=Doc(
            "Paint",
            body="How to paint.",
            members=(("color", "which colour"), ("size", "how much, in bytes")),
            features=(("deprecated", "Member x-old is going away."),),
            sections=(
                DocSection("", "More about painting."),
                DocSection("Note", "Paint dries."),
                DocSection("Since", "2.0"),
            ),
        ),
    )
    kinds = ("brush", "spray")
    opts_base = Struct(
        "q_obj_PaintOpts-base",
        module=MODULE,
        members=(Member("kind", TypeRef("Kind")), Member("id", TypeRef("str"))),
        implicit=True,
    )
    opts = Union(
        "PaintOpts",
        module=MODULE,
        base=opts_base.name,
        discriminator="kind",
        branches=(
            Branch("brush", TypeRef("Paint"), cond=IfName("CONFIG_BRUSH")),
            Branch("spray", TypeRef("q_empty"), implicit=True),
        ),
        doc=Doc("PaintOpts", body="Options.", members=(("id", "the job"),)),
    )
    definitions: list[Definition] = [
        color,
        Enum("Kind", module=MODULE, values=tuple(EnumValue(k) for k in kinds)),
        alternate("Spot", {"name": "str", "none": "null", "many": "[int]"}),
        paint,
        opts_base,
        opts,
        Command(
            "paint",
            module=MODULE,
            arg_type="Paint",
            returns=TypeRef("Paint"),
            allow_preconfig=True,
            coroutine=True,
            features=(DEPRECATED, UNSTABLE),
            cond=IfName("CONFIG_PAINT"),
            doc=Doc(
                "paint",
                body="Paint something.",
                sections=(
                    DocSection("Returns", "the paint used"),
                    DocSection("Errors", "- when out of paint"),
                    DocSection("Since", "3.0"),
                    DocSection("TODO", "secret developer note"),
                ),
            ),
        ),
        Command("paint-any", module=MODULE, gen=False, success_response=False, allow_oob=True),
        Command("paint-boxed", module=MODULE, arg_type="PaintOpts", boxed=True),
        Event("PAINTED", module=MODULE, arg_type="Paint", features=(DEPRECATED,)),
        Event("OPTS_CHANGED", module=MODULE, arg_type="PaintOpts", boxed=True),
    ]
    return schema(*definitions)


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("opts")
    generate(rich_schema(), root, package=PACKAGE, service="OptsService")
    assert buf_lint(root) == ""
    compile_python(root)
    return root


@pytest.fixture(scope="module")
def described(tree: Path) -> Any:
    return describe(tree, PACKAGE)


@pytest.fixture(scope="module")
def text(tree: Path) -> str:
    return "".join(p.read_text() for p in sorted((tree / "opts/v1").glob("*.proto")))


def test_message_meta(described: Any) -> None:
    metas = {name: m["qapi"].get("meta") for name, m in described["messages"].items()}
    assert metas == {
        "Spot": "alternate",
        "IntList": "array",
        "StrList": "array",
        "Paint": "struct",
        "PaintOpts": "union",
        "PaintedEvent": "event",
        "OptsChangedEvent": "event",
        "PaintRequest": "command-arguments",
        "PaintResponse": "command-result",
        "PaintAnyRequest": "command-arguments",
        "PaintAnyResponse": "command-result",
        "PaintBoxedRequest": "command-arguments",
        "PaintBoxedResponse": "command-result",
        "Event": "event-envelope",
        "StreamEventsRequest": None,
        "StreamEventsResponse": None,
    }
    assert described["messages"]["PaintOpts"]["qapi"]["discriminator"] == "kind"
    assert described["messages"]["PaintBoxedRequest"]["qapi"]["discriminator"] == "kind"
    assert described["messages"]["OptsChangedEvent"]["qapi"]["discriminator"] == "kind"
    assert described["messages"]["StrList"]["qapi"]["name"] == "[str]"


def test_member_options_and_presence(described: Any) -> None:
    fields = described["messages"]["Paint"]["fields"]
    assert fields["color"]["qapi"] == {"type": "Color"}
    assert not fields["color"]["presence"]
    assert fields["size"]["qapi"] == {"type": "size", "optional": True}
    assert fields["size"]["presence"]
    assert fields["x_old"] == {
        "number": 3,
        "json_name": "x-old",
        "oneof": None,
        "presence": False,
        "repeated": False,
        "deprecated": True,
        "qapi": {"type": "str", "features": ["deprecated", "json-cli"]},
    }
    assert fields["tags"]["qapi"] == {"type": "[str]", "optional": True}
    assert not fields["tags"]["repeated"]
    assert fields["layers"]["repeated"]
    assert fields["layers"]["qapi"] == {"type": "[int8]"}
    assert fields["extra"]["qapi"] == {"type": "any", "optional": True}
    assert fields["odd"]["qapi"] == {"type": "int", "if": "any(CONFIG_X, CONFIG_Y)"}
    assert fields["where"]["presence"]


def test_branch_options(described: Any) -> None:
    union = described["messages"]["PaintOpts"]["fields"]
    assert set(union) == {"kind", "id", "brush"}
    assert union["brush"]["oneof"] == "kind_branch"
    assert union["brush"]["qapi"] == {"type": "Paint", "if": "CONFIG_BRUSH", "branch": "brush"}
    spot = described["messages"]["Spot"]["fields"]
    assert {name: (f["oneof"], f["qapi"]) for name, f in spot.items()} == {
        "name": ("value", {"type": "str", "branch": "name"}),
        "none": ("value", {"type": "null", "branch": "none"}),
        "many": ("value", {"type": "[int]", "branch": "many"}),
    }


def test_enum_options(described: Any) -> None:
    color = described["enums"]["Color"]
    assert color["qapi"] == {"name": "Color", "if": "all(CONFIG_A, not(CONFIG_B))"}
    assert color["values"] == {
        "COLOR_UNSPECIFIED": {"number": 0, "deprecated": False, "qapi": {}},
        "COLOR_RED": {"number": 1, "deprecated": False, "qapi": {"name": "red"}},
        "COLOR_OLD": {
            "number": 2,
            "deprecated": True,
            "qapi": {"name": "old", "features": ["deprecated"]},
        },
        "COLOR_BLUE": {
            "number": 3,
            "deprecated": False,
            "qapi": {
                "name": "blue",
                "if": "CONFIG_BLUE",
                "features": ["unstable"],
                "unstable": True,
            },
        },
    }


def test_command_options(described: Any) -> None:
    rpcs = described["rpcs"]
    assert rpcs["Paint"]["deprecated"]
    assert rpcs["Paint"]["qapi"] == {
        "name": "paint",
        "allow_preconfig": True,
        "coroutine": True,
        "success_response": True,
        "gen": True,
        "if": "CONFIG_PAINT",
        "features": ["deprecated", "unstable"],
        "unstable": True,
    }
    assert rpcs["PaintAny"]["qapi"] == {"name": "paint-any", "allow_oob": True}
    assert rpcs["PaintBoxed"]["qapi"]["boxed"]
    assert rpcs["StreamEvents"] == {
        "service": "OptsService",
        "input": "StreamEventsRequest",
        "output": "StreamEventsResponse",
        "streaming": True,
        "deprecated": False,
        "qapi": {},
    }
    messages = described["messages"]
    assert messages["PaintRequest"]["deprecated"] and messages["PaintResponse"]["deprecated"]
    assert set(messages["PaintRequest"]["fields"]) == set(messages["Paint"]["fields"])
    assert messages["PaintResponse"]["fields"]["result"]["qapi"] == {"type": "Paint"}
    extra = messages["PaintAnyRequest"]["fields"]["extra_arguments"]
    assert extra["qapi"] == {"extra_arguments": True}
    assert messages["PaintAnyResponse"]["fields"] == {}


def test_envelope(described: Any) -> None:
    envelope = described["messages"]["Event"]["fields"]
    assert envelope["timestamp"]["number"] == 1
    assert envelope["painted"]["qapi"] == {"features": ["deprecated"], "event": "PAINTED"}
    assert envelope["painted"]["deprecated"]
    assert envelope["opts_changed"]["oneof"] == "kind"
    assert described["messages"]["PaintedEvent"]["deprecated"]
    response = described["messages"]["StreamEventsResponse"]["fields"]
    assert list(response) == ["event"]


def test_file_options(described: Any) -> None:
    assert described["files"] == {
        "builtins.proto": {"module": MODULE},
        "main.proto": {"module": MODULE},
        "service.proto": {"module": MODULE},
    }


def test_doc_comments(text: str) -> None:
    expected_enum = """\
// The colours a job can be painted.
//
// Only in builds where: all(CONFIG_A, not(CONFIG_B))
//
// Since: 1.0
enum Color {"""
    assert expected_enum in text
    assert "drop old" not in text
    assert "  // a retired colour\n  //\n  // Deprecated: Use red instead.\n  COLOR_OLD = 2" in text
    assert "  // Unstable: Experimental.\n  //\n  // Only in builds where: CONFIG_BLUE\n" in text
    expected_struct = """\
// How to paint.
//
// More about painting.
//
// Note:
// Paint dries.
//
// Since: 2.0
message Paint {"""
    assert expected_struct in text
    assert "  // how much, in bytes\n  optional uint64 size = 2" in text
    expected_rpc = """\
  // Paint something.
  //
  // Returns: the paint used
  //
  // Errors:
  // - when out of paint
  //
  // Deprecated.
  //
  // Unstable.
  //
  // Only in builds where: CONFIG_PAINT
  //
  // Since: 3.0
  rpc Paint(PaintRequest) returns (PaintResponse) {"""
    assert expected_rpc in text
    assert "secret developer note" not in text
    assert "  // the paint used\n  Paint result = 1" in text
    # Members of an inline union base are described by the union's doc, also
    # where the union is an event's data.
    assert text.count("  // the job\n  string id = 2") == 3
