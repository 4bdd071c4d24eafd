"""QAPI 'any' members carried by google.protobuf.Value."""

from __future__ import annotations

import json
import math
from types import ModuleType
from typing import Any

import pytest
from google.protobuf import json_format

from qapi_jobs.transcoder import TranscodeError, message_to_qmp, qmp_to_message

NESTED = {
    "str": "s",
    "int": -42,
    "float": 0.5,
    "true": True,
    "null": None,
    "list": [1, "two", None, [], {}, [False]],
    "object": {"deeper": {"deepest": [{"k": 2**53}]}},
    "empty-object": {},
    "empty-list": [],
}


@pytest.mark.parametrize("value", [None, True, False, 0, -1, 1.25, "", "text", [], {}, NESTED])
def test_any_round_trip(pb: ModuleType, value: Any) -> None:
    holder = {"value": value, "many": [value, None]}
    message = qmp_to_message(holder, pb.AnyHolder)
    assert message_to_qmp(message) == holder


def test_optional_any_absent_vs_null(pb: ModuleType) -> None:
    absent = qmp_to_message({"value": 1, "many": []}, pb.AnyHolder)
    assert not absent.HasField("maybe")
    assert "maybe" not in message_to_qmp(absent)

    null = qmp_to_message({"value": 1, "many": [], "maybe": None}, pb.AnyHolder)
    assert null.HasField("maybe")
    assert null.maybe.WhichOneof("kind") == "null_value"
    assert message_to_qmp(null) == {"value": 1, "many": [], "maybe": None}


@pytest.mark.parametrize(
    "value",
    [
        2**53 + 1,
        9007199254740993,
        -(2**63),
        2**63 - 1,
        2**64 - 1,
        -(2**53) - 1,
        1.0,
        -0.0,
        2.0**60,
        1e300,
        0.1,
        [1, 1.0, 2**63 + 1, {"n": 2.0}],
        {"$qmp.int": "5"},
        {"$qmp.object": {"a": 1}},
        {"$qmp.float": 1.0},
        {"$qmp.int": "5", "other": 1},
    ],
)
def test_any_numbers_are_lossless(pb: ModuleType, value: Any) -> None:
    holder = {"value": value, "many": [value]}
    out = message_to_qmp(qmp_to_message(holder, pb.AnyHolder))
    assert out == holder
    # == does not tell 1 from 1.0 nor -0.0 from 0: compare the JSON text too
    # (a Struct keeps no key order).
    assert json.dumps(out, sort_keys=True) == json.dumps(holder, sort_keys=True)


def test_numbers_a_double_holds_stay_plain_numbers(pb: ModuleType) -> None:
    message = qmp_to_message({"value": [3, 0.5, 2**53], "many": []}, pb.AnyHolder)
    numbers = message.value.list_value.values
    assert [v.WhichOneof("kind") for v in numbers] == ["number_value"] * 3
    assert type(message_to_qmp(message)["value"][0]) is int


def test_large_integers_and_integral_floats_are_tagged(pb: ModuleType) -> None:
    message = qmp_to_message({"value": [2**53 + 1, 1.0, {"$qmp.x": 1}], "many": []}, pb.AnyHolder)
    tagged = [json_format.MessageToDict(v) for v in message.value.list_value.values]
    assert tagged == [
        {"$qmp.int": "9007199254740993"},
        {"$qmp.float": "1.0"},
        {"$qmp.object": {"$qmp.x": 1.0}},
    ]


def test_integers_beyond_64_bits_become_doubles_as_in_qemu(pb: ModuleType) -> None:
    message = qmp_to_message({"value": 2**64, "many": []}, pb.AnyHolder)
    assert message_to_qmp(message)["value"] == 2**64


@pytest.mark.parametrize(
    ("tagged", "path"),
    [
        ({"$qmp.int": "x"}, '$.value["$qmp.int"]'),
        ({"$qmp.float": 1}, '$.value["$qmp.float"]'),
        ({"$qmp.object": 1}, '$.value["$qmp.object"]'),
    ],
)
def test_malformed_tags_fail_encode(pb: ModuleType, tagged: dict[str, Any], path: str) -> None:
    message = pb.AnyHolder()
    json_format.ParseDict(tagged, message.value)
    with pytest.raises(TranscodeError, match="must hold") as caught:
        message_to_qmp(message)
    assert caught.value.path == path


@pytest.mark.parametrize(
    ("value", "path", "message"),
    [
        (10**400, "$.value", "is too large for a JSON double"),
        (math.nan, "$.value", "nan is not a finite number"),
        ({"a": [1, {"b": math.inf}]}, "$.value.a[1].b", "inf is not a finite number"),
        ({"a": {1, 2}}, "$.value.a", "a non-JSON set is not a JSON value"),
        ({1: "x"}, "$.value", "object key 1 is not a string"),
        ({"ok": b"bytes"}, "$.value.ok", "a non-JSON bytes is not a JSON value"),
    ],
)
def test_any_errors(pb: ModuleType, value: Any, path: str, message: str) -> None:
    with pytest.raises(TranscodeError) as caught:
        qmp_to_message({"value": value, "many": []}, pb.AnyHolder)
    assert caught.value.path == path
    assert message in caught.value.message


def test_odd_keys_are_quoted_in_paths(pb: ModuleType) -> None:
    with pytest.raises(TranscodeError) as caught:
        qmp_to_message({"value": {"a.b": {'q"x': math.inf}}, "many": []}, pb.AnyHolder)
    assert caught.value.path == '$.value["a.b"]["q\\"x"]'


def test_required_any_missing(pb: ModuleType) -> None:
    with pytest.raises(TranscodeError) as caught:
        qmp_to_message({"many": []}, pb.AnyHolder)
    assert str(caught.value) == "$.value: required member is missing"
    with pytest.raises(TranscodeError) as caught:
        message_to_qmp(pb.AnyHolder())
    assert str(caught.value) == "$.value: required member is not set"


def test_value_without_kind_fails_encode(pb: ModuleType) -> None:
    message = pb.AnyHolder()
    message.value.SetInParent()
    with pytest.raises(TranscodeError) as caught:
        message_to_qmp(message)
    assert str(caught.value) == "$.value: google.protobuf.Value has no kind set"


def test_non_finite_value_fails_encode(pb: ModuleType) -> None:
    message = qmp_to_message({"value": [1], "many": []}, pb.AnyHolder)
    message.value.list_value.values.add().number_value = math.inf
    with pytest.raises(TranscodeError) as caught:
        message_to_qmp(message)
    assert caught.value.path == "$.value[1]"


def test_value_message_as_top_level(pb: ModuleType) -> None:
    from google.protobuf.struct_pb2 import Struct, Value

    assert message_to_qmp(qmp_to_message(NESTED, Value)) == NESTED
    assert message_to_qmp(qmp_to_message(NESTED, Struct)) == NESTED
    with pytest.raises(TranscodeError, match="expected object, got array"):
        qmp_to_message([], Struct)
