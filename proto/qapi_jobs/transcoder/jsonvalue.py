"""QAPI ``any`` values: JSON <-> ``google.protobuf.Value`` / ``Struct``, losslessly.

``Value`` keeps every number as a double, which cannot hold every 64-bit
integer (QMP carries them exactly) and does not tell ``1`` from ``1.0``.
A number that a double would change is stored as a one-member object:

* ``{"$qmp.int": "9007199254740993"}``: an integer in QMP's range (int64
  or uint64) that a double cannot hold exactly;
* ``{"$qmp.float": "1.0"}``: a float with an integral value.

Other integers and floats stay plain numbers.  A JSON object that itself
has exactly one member named ``$qmp.<anything>`` is stored wrapped as
``{"$qmp.object": {...}}``, so it is never mistaken for a tagged number.
Both directions follow these rules, so QMP JSON comes back unchanged;
other readers of the protobuf see the tagged objects as they are.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from google.protobuf.struct_pb2 import NULL_VALUE, Struct, Value

from qapi_jobs.transcoder.errors import TranscodeError

TAG_PREFIX = "$qmp."
INT_TAG = "$qmp.int"
FLOAT_TAG = "$qmp.float"
OBJECT_TAG = "$qmp.object"

# QMP's integers: QEMU parses a JSON integer as int64, else as uint64.
_QMP_INT_MIN = -(2**63)
_QMP_INT_MAX = 2**64 - 1


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
    elif isinstance(value, int):
        _int_to_value(value, target)
    elif isinstance(value, float):
        double = _as_double(value)
        if double.is_integer():
            _tagged(target, FLOAT_TAG).string_value = repr(double)
        else:
            target.number_value = double
    elif isinstance(value, str):
        target.string_value = value
    elif isinstance(value, Mapping):
        struct = target.struct_value
        if len(value) == 1 and str(next(iter(value))).startswith(TAG_PREFIX):
            struct = _tagged(target, OBJECT_TAG).struct_value
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


def _int_to_value(value: int, target: Value) -> None:
    if _QMP_INT_MIN <= value <= _QMP_INT_MAX:
        double = float(value)
        if int(double) == value:
            target.number_value = double
        else:
            _tagged(target, INT_TAG).string_value = str(value)
    else:
        # Beyond 64 bits QEMU itself reads the number as a double.
        target.number_value = _as_double(value)


def _tagged(target: Value, tag: str) -> Value:
    """The value under ``tag`` of a new one-member object in ``target``."""
    return target.struct_value.fields[tag]


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
        fields = value.struct_value.fields
        if len(fields) == 1:
            tag, inner = next(iter(fields.items()))
            if tag in (INT_TAG, FLOAT_TAG, OBJECT_TAG):
                try:
                    return _untag(tag, inner)
                except TranscodeError as error:
                    raise error.prepend(tag) from None
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


def _untag(tag: str, inner: Value) -> Any:
    if tag == OBJECT_TAG:
        if inner.WhichOneof("kind") != "struct_value":
            raise TranscodeError(f"{OBJECT_TAG} must hold an object")
        return struct_to_json(inner.struct_value)
    text = inner.string_value if inner.WhichOneof("kind") == "string_value" else None
    try:
        if text is not None:
            return int(text) if tag == INT_TAG else float(text)
    except ValueError:
        pass
    raise TranscodeError(f"{tag} must hold a number written as a string")


def struct_to_json(struct: Struct) -> dict[str, Any]:
    """The JSON object held by ``struct``."""
    result: dict[str, Any] = {}
    for key, item in struct.fields.items():
        try:
            result[key] = value_to_json(item)
        except TranscodeError as error:
            raise error.prepend(key) from None
    return result
