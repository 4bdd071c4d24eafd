"""Names protoc (or the Python runtime, or buf) would reject twice, resolved
deterministically, kept stable through the lock, or reported (qapi-to-proto.md, "Names").

One schema holds every collision; it is translated, compiled by protoc,
imported by the Python runtime and linted by buf, so a resolution that only
looks right fails here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from qapi_jobs.codegen.backends import BackendError
from qapi_jobs.codegen.backends.proto import generate
from qapi_jobs.codegen.backends.proto.context import Settings
from qapi_jobs.codegen.backends.proto.translate import translate
from qapi_jobs.codegen.lockfile import Lock
from qapi_jobs.codegen.model import Schema, Struct
from qapi_jobs.codegen.protoc import compile_python

from .models import alternate, command, enum, event, members, schema, struct, union
from .tools import buf_lint, describe

PACKAGE = "collide.v1"
SERVICE = "CollideService"


def collision_schema() -> Schema:
    kinds = ["file", "2_5", "other"]
    return schema(
        # Field names and JSON names.
        struct("Ids", {"UUID": "str", "uuid": "str", "foo2": "int", "foo-2": "int"}),
        # Enum values: look-alikes, the synthetic zero, package-wide scope.
        enum("Speed", ["2_5", "25", "unspecified", "fast"]),
        enum("FooBar", ["baz"]),
        enum("Foo", ["bar-baz"]),
        # buf's prefix algorithm on awkward enum names.
        enum("ABC2x", ["a"]),
        enum("HTTPServer2", ["b"]),
        enum("X86CPURegister32", ["EAX"]),
        # Union: branch named like a base member, digit-leading branch,
        # oneof name taken by a member.
        enum("Kind", kinds),
        struct("FileOpts", {"path": "str"}),
        *union(
            "Opts",
            {"kind": "Kind", "file": "str", "kind-branch": "int"},
            "kind",
            {"file": "FileOpts", "2_5": "FileOpts"},
            kinds,
        ),
        # Alternate with a branch called value.
        alternate("Whence", {"name": "str", "value": "int"}),
        # Types against generated names.
        struct("GoRequest", {"a": "int"}),
        struct("BoomEvent", {"b": "int"}),
        struct("Event", {"c": "int"}),
        struct("__org.qemu_Thing", {"d": "int"}),
        struct("OrgQemuThing", {"e": "int"}),
        *command("go"),
        *command("stream-events"),
        *event("BOOM"),
    )


@pytest.fixture(scope="module")
def described(tmp_path_factory: pytest.TempPathFactory) -> Any:
    root = tmp_path_factory.mktemp("collide")
    generate(collision_schema(), root, package=PACKAGE, service=SERVICE)
    assert buf_lint(root) == ""
    compile_python(root)
    return describe(root, PACKAGE)


def test_field_and_json_name_clashes(described: Any) -> None:
    fields = described["messages"]["Ids"]["fields"]
    assert {name: f["json_name"] for name, f in fields.items()} == {
        "uuid_member": "UUID",
        "uuid": "uuid",
        "foo2": "foo2",
        "foo_2_member": "foo-2",
    }


def test_enum_value_clashes(described: Any) -> None:
    speed = described["enums"]["Speed"]["values"]
    assert {name: v["qapi"].get("name") for name, v in speed.items()} == {
        "SPEED_UNSPECIFIED": None,
        "SPEED_2_5": "2_5",
        "SPEED_25_VALUE": "25",
        "SPEED_UNSPECIFIED_VALUE": "unspecified",
        "SPEED_FAST": "fast",
    }
    assert "FOO_BAR_BAZ" in described["enums"]["FooBar"]["values"]
    assert "FOO_BAR_BAZ_VALUE" in described["enums"]["Foo"]["values"]
    assert "ABC2X_A" in described["enums"]["ABC2x"]["values"]
    assert "X86CPU_REGISTER32_EAX" in described["enums"]["X86CPURegister32"]["values"]


def test_union_clashes(described: Any) -> None:
    fields = described["messages"]["Opts"]["fields"]
    assert fields["file"]["json_name"] == "file"
    assert fields["file_branch"]["oneof"] == "kind_branch_oneof"
    assert fields["file_branch"]["qapi"]["branch"] == "file"
    assert fields["kind_2_5"]["qapi"]["branch"] == "2_5"
    assert fields["kind_branch"]["json_name"] == "kind-branch"


def test_alternate_oneof_named_value(described: Any) -> None:
    fields = described["messages"]["Whence"]["fields"]
    assert fields["value"]["oneof"] == "value_oneof"


def test_generated_names_yield_to_schema_types(described: Any) -> None:
    messages = described["messages"]
    assert messages["GoRequest"]["qapi"] == {"name": "GoRequest", "meta": "struct"}
    assert described["rpcs"]["Go"]["input"] == "CollideServiceGoRequest"
    assert messages["BoomEventData"]["qapi"] == {"name": "BOOM", "meta": "event"}
    assert messages["Event"]["qapi"]["name"] == "Event"
    assert messages["EventEnvelope"]["qapi"] == {"meta": "event-envelope"}
    assert messages["OrgQemuThing"]["qapi"]["name"] == "__org.qemu_Thing"
    assert messages["OrgQemuThingType"]["qapi"]["name"] == "OrgQemuThing"


def test_command_named_like_the_event_stream(described: Any) -> None:
    rpcs = described["rpcs"]
    assert rpcs["StreamEvents"]["streaming"]
    assert rpcs["StreamEvents"]["output"] == "StreamEventsResponse"
    assert rpcs["StreamEventsCommand"]["qapi"]["name"] == "stream-events"
    assert rpcs["StreamEventsCommand"]["input"] == "StreamEventsCommandRequest"


def test_resolutions_are_recorded_and_kept(tmp_path: Path) -> None:
    """Once ``UUID`` is ``uuid_member``, it stays so even when the member that
    pushed it aside is gone."""
    lock = Lock()
    settings = Settings(PACKAGE, SERVICE)
    translate(schema(struct("Ids", {"UUID": "str", "uuid": "str"})), settings, lock)
    assert lock.messages["type:Ids"].slots["UUID"].name == "uuid_member"
    files = translate(schema(struct("Ids", {"UUID": "str"})), settings, lock)
    assert "string uuid_member = 1" in "".join(files.values())


def test_new_element_yields_to_an_existing_one() -> None:
    lock = Lock()
    settings = Settings(PACKAGE, SERVICE)
    translate(schema(*command("go")), settings, lock)
    files = translate(schema(struct("GoRequest", {"a": "int"}), *command("go")), settings, lock)
    text = "".join(files.values())
    assert "rpc Go(GoRequest) returns (GoResponse)" in text
    assert "message GoRequestType {" in text


def test_unresolvable_clash_with_a_locked_name_is_an_error() -> None:
    """A new member ``uuid`` needs JSON name "uuid", which the Python runtime
    forbids while another field is *called* uuid; that field is in the lock,
    so renaming it would break users: fail, naming both."""
    lock = Lock()
    settings = Settings(PACKAGE, SERVICE)
    translate(schema(struct("Ids", {"UUID": "str"})), settings, lock)
    with pytest.raises(BackendError, match=r"message Ids: field for 'UUID'.*'uuid'.*'uuid'"):
        translate(schema(struct("Ids", {"UUID": "str", "uuid": "str"})), settings, lock)


def test_bad_package_and_service_names() -> None:
    with pytest.raises(BackendError, match="lower_snake_case"):
        Settings("Bad.V1", SERVICE)
    with pytest.raises(BackendError, match="PascalCase"):
        Settings(PACKAGE, "bad-service")
    with pytest.raises(BackendError, match="options"):
        Settings("qapi_jobs.qapi.v1", SERVICE)


def test_members_helper_matches_model() -> None:
    # Guards the test models themselves: '*' marks optional members.
    assert [m.optional for m in members({"a": "str", "*b": "int"})] == [False, True]
    assert isinstance(schema().lookup("q_empty"), Struct)
