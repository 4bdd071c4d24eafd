"""QAPI 'any' members carried by google.protobuf.Value."""

from __future__ import annotations

import math
from types import ModuleType
from typing import Any

import pytest

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


def test_integral_doubles_come_back_as_integers(pb: ModuleType) -> None:
    message = qmp_to_message({"value": 2.0, "many": [3]}, pb.AnyHolder)
    out = message_to_qmp(message)
    assert type(out["value"]) is int
    assert type(out["many"][0]) is int


def test_large_integers_lose_precision(pb: ModuleType) -> None:
    # Documented limit of google.protobuf.Value: numbers are doubles.
    message = qmp_to_message({"value": 2**60 + 1, "many": []}, pb.AnyHolder)
    assert message_to_qmp(message)["value"] == 2**60


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
