"""Alternates: branch chosen by JSON type, null and array branches, enum branch."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest

from qapi_jobs.transcoder import TranscodeError, message_to_qmp, qmp_to_message

RAW = {"driver": "raw", "filename": "disk.img", "size": 4096}


@pytest.mark.parametrize(
    ("type_name", "value", "branch"),
    [
        ("StrOrNull", "text", "s"),
        ("StrOrNull", "", "s"),
        ("StrOrNull", None, "n"),
        ("BlockdevRef", "node0", "reference"),
        ("BlockdevRef", RAW, "definition"),
        ("BlockdevRefOrNull", None, "null"),
        ("BlockdevRefOrNull", "node0", "reference"),
        ("BlockdevRefOrNull", {"driver": "file"}, "definition"),
        ("StatsValue", 0, "scalar"),
        ("StatsValue", 2**64 - 1, "scalar"),
        ("StatsValue", True, "boolean"),
        ("StatsValue", False, "boolean"),
        ("StatsValue", [1, 2, 3], "list"),
        ("StatsValue", [], "list"),
        ("EndianOrFlags", "little", "mode"),
        ("EndianOrFlags", "unspecified", "mode"),
        ("EndianOrFlags", {}, "flags"),
        ("EndianOrFlags", {"template": True, "main-header": False}, "flags"),
        ("NumberOrBool", 2.5, "num"),
        ("NumberOrBool", -0.0, "num"),
        ("NumberOrBool", True, "flag"),
        ("SmallOrNull", -128, "small"),
        ("SmallOrNull", None, "none"),
    ],
)
def test_alternate_round_trip(pb: ModuleType, type_name: str, value: Any, branch: str) -> None:
    message = qmp_to_message(value, getattr(pb, type_name))
    assert message.WhichOneof("value") == branch
    out = message_to_qmp(message)
    assert out == value
    assert type(out) is type(value)


def test_integer_goes_to_a_number_branch(pb: ModuleType) -> None:
    message = qmp_to_message(3, pb.NumberOrBool)
    assert message.WhichOneof("value") == "num"
    out = message_to_qmp(message)
    assert out == 3.0
    assert isinstance(out, float)


def test_boolean_never_goes_to_an_integer_branch(pb: ModuleType) -> None:
    assert qmp_to_message(True, pb.StatsValue).WhichOneof("value") == "boolean"
    with pytest.raises(TranscodeError, match="no branch for a JSON boolean"):
        qmp_to_message(True, pb.SmallOrNull)


def test_enum_branch_uses_wire_names(pb: ModuleType) -> None:
    message = qmp_to_message("unspecified", pb.EndianOrFlags)
    assert message.mode == pb.ENDIAN_MODE_UNSPECIFIED_VALUE
    with pytest.raises(TranscodeError) as caught:
        qmp_to_message("middle", pb.EndianOrFlags)
    assert str(caught.value) == "$: 'middle' is not a value of EndianMode"


@pytest.mark.parametrize(
    ("type_name", "value", "json_type", "accepted"),
    [
        ("StrOrNull", 5, "integer", "null, string"),
        ("StrOrNull", {}, "object", "null, string"),
        ("BlockdevRef", None, "null", "object, string"),
        ("StatsValue", 1.5, "number", "array, boolean, integer"),
        ("StatsValue", "1", "string", "array, boolean, integer"),
        ("SmallOrNull", 1.0, "number", "integer, null"),
        ("NumberOrBool", [], "array", "boolean, number"),
    ],
)
def test_alternate_without_a_matching_branch(
    pb: ModuleType, type_name: str, value: Any, json_type: str, accepted: str
) -> None:
    with pytest.raises(TranscodeError) as caught:
        qmp_to_message(value, getattr(pb, type_name))
    assert str(caught.value) == (
        f"$: alternate {type_name} has no branch for a JSON {json_type} (it accepts: {accepted})"
    )


@pytest.mark.parametrize(
    ("type_name", "value", "message"),
    [
        ("StatsValue", -1, "-1 is out of range for uint64"),
        ("SmallOrNull", 128, "128 is out of range for int8"),
    ],
)
def test_alternate_branch_range(pb: ModuleType, type_name: str, value: Any, message: str) -> None:
    with pytest.raises(TranscodeError) as caught:
        qmp_to_message(value, getattr(pb, type_name))
    assert str(caught.value) == f"$: {message}"


def test_array_branch_element_error(pb: ModuleType) -> None:
    with pytest.raises(TranscodeError) as caught:
        qmp_to_message([1, "2"], pb.StatsValue)
    assert str(caught.value) == "$[1]: expected integer (uint64), got string"


def test_object_branch_error_path(pb: ModuleType) -> None:
    with pytest.raises(TranscodeError) as caught:
        qmp_to_message({"ref": {"driver": "raw", "filename": 1}}, pb.Alternates)
    assert str(caught.value) == "$.ref.filename: expected string, got integer"


def test_optional_alternate_has_three_states(pb: ModuleType) -> None:
    absent = qmp_to_message({"ref": "r", "refs": []}, pb.Alternates)
    assert not absent.HasField("maybe_ref")
    assert "maybe-ref" not in message_to_qmp(absent)

    null = qmp_to_message({"ref": "r", "refs": [], "maybe-ref": None}, pb.Alternates)
    assert null.HasField("maybe_ref")
    assert null.maybe_ref.WhichOneof("value") == "null"
    assert message_to_qmp(null)["maybe-ref"] is None

    value = qmp_to_message({"ref": "r", "refs": [], "maybe-ref": "node"}, pb.Alternates)
    assert value.maybe_ref.reference == "node"
    assert message_to_qmp(value)["maybe-ref"] == "node"


def test_all_alternates_in_a_struct(pb: ModuleType) -> None:
    value = {
        "ref": RAW,
        "maybe-ref": None,
        "name": None,
        "stats": [5],
        "overlap": {"main-header": True},
        "ratio": 0.25,
        "small": 3,
        "refs": ["a", RAW],
    }
    assert message_to_qmp(qmp_to_message(value, pb.Alternates)) == value


def test_encode_alternate_with_no_branch(pb: ModuleType) -> None:
    message = pb.Alternates(refs=[pb.BlockdevRef(reference="x")])
    message.ref.SetInParent()
    with pytest.raises(TranscodeError) as caught:
        message_to_qmp(message)
    assert str(caught.value) == "$.ref: alternate BlockdevRef has no branch set"
    message.ref.reference = "y"
    message.refs.add()
    with pytest.raises(TranscodeError) as caught:
        message_to_qmp(message)
    assert caught.value.path == "$.refs[1]"


def test_encode_alternate_range_check(pb: ModuleType) -> None:
    message = pb.SmallOrNull(small=1000)
    with pytest.raises(TranscodeError, match="1000 is out of range for int8"):
        message_to_qmp(message)
