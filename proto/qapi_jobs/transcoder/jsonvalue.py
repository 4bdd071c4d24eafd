"""QAPI ``any`` values: JSON <-> ``google.protobuf.Value`` / ``Struct``.

``Value`` keeps every number as a double, so integers beyond 2**53 lose
precision on the way in, and integral doubles come back out as JSON integers
(QAPI ``any`` payloads carry integers far more often than fractions).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from google.protobuf.struct_pb2 import NULL_VALUE, Struct, Value

from qapi_jobs.transcoder.errors import TranscodeError


def json_type_name(value: Any) -> str:
    """The JSON type of a Python value, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, list | tuple):
        return "array"
    return f"non-JSON {type(value).__name__}"


def json_to_value(value: Any, target: Value) -> None:
    """Store a JSON value into ``target`` (which must be empty)."""
    if value is None:
        target.null_value = NULL_VALUE
    elif isinstance(value, bool):
        target.bool_value = value
    elif isinstance(value, int | float):
        target.number_value = _as_double(value)
    elif isinstance(value, str):
        target.string_value = value
    elif isinstance(value, Mapping):
        struct = target.struct_value
        struct.SetInParent()
        json_to_struct(value, struct)
    elif isinstance(value, list | tuple):
        values = target.list_value
        values.SetInParent()
        for index, item in enumerate(value):
            try:
                json_to_value(item, values.values.add())
            except TranscodeError as error:
                raise error.prepend(index) from None
    else:
        raise TranscodeError(f"a {json_type_name(value)} is not a JSON value")


def json_to_struct(value: Any, target: Struct) -> None:
    """Store a JSON object into ``target``."""
    if not isinstance(value, Mapping):
        raise TranscodeError(f"expected object, got {json_type_name(value)}")
    fields = target.fields
    for key, item in value.items():
        if not isinstance(key, str):
            raise TranscodeError(f"object key {key!r} is not a string")
        try:
            json_to_value(item, fields[key])
        except TranscodeError as error:
            raise error.prepend(key) from None


def _as_double(number: int | float) -> float:
    try:
        result = float(number)
    except OverflowError:
        raise TranscodeError(f"{number} is too large for a JSON double") from None
    if not math.isfinite(result):
        raise TranscodeError(f"{number} is not a finite number")
    return result


def value_to_json(value: Value) -> Any:
    """The JSON value held by ``value``."""
    kind = value.WhichOneof("kind")
    if kind == "number_value":
        number = value.number_value
        if not math.isfinite(number):
            raise TranscodeError(f"{number} is not a finite number")
        return int(number) if number.is_integer() else number
    if kind == "string_value":
        return value.string_value
    if kind == "bool_value":
        return value.bool_value
    if kind == "null_value":
        return None
    if kind == "struct_value":
        return struct_to_json(value.struct_value)
    if kind == "list_value":
        result = []
        for index, item in enumerate(value.list_value.values):
            try:
                result.append(value_to_json(item))
            except TranscodeError as error:
                raise error.prepend(index) from None
        return result
    raise TranscodeError("google.protobuf.Value has no kind set")


def struct_to_json(struct: Struct) -> dict[str, Any]:
    """The JSON object held by ``struct``."""
    result: dict[str, Any] = {}
    for key, item in struct.fields.items():
        try:
            result[key] = value_to_json(item)
        except TranscodeError as error:
            raise error.prepend(key) from None
    return result
