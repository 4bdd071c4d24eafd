"""Checks on the shape of parsed values, shared by the checking passes."""

from __future__ import annotations

import difflib

from qapi_jobs.codegen.conditions import parse_condition
from qapi_jobs.codegen.errors import SchemaError
from qapi_jobs.codegen.model import Condition, SourceInfo, TypeRef
from qapi_jobs.codegen.syntax import Arr, Obj, Str, Value, describe


def check_keys(obj: Obj, what: str, required: tuple[str, ...], optional: tuple[str, ...]) -> None:
    """Reject keys outside ``required + optional`` and missing required keys."""
    valid = required + optional
    for key, _ in obj.entries:
        if key.value not in valid:
            close = difflib.get_close_matches(key.value, valid, n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            listed = ", ".join(f"'{k}'" for k in valid)
            raise SchemaError(
                key.info,
                f"{what} has unknown key '{key.value}'; {hint}valid keys are {listed}",
            )
    missing = [k for k in required if k not in obj]
    if missing:
        listed = ", ".join(f"'{k}'" for k in missing)
        plural = "s" if len(missing) > 1 else ""
        raise SchemaError(obj.info, f"{what} misses key{plural} {listed}; add {listed}")


def type_ref(value: Value, what: str, *, allow_array: bool) -> tuple[TypeRef, SourceInfo]:
    """A type reference ``'T'`` (or ``['T']`` when allowed) and where T is written."""
    if isinstance(value, Str):
        return TypeRef(value.value), value.info
    if isinstance(value, Arr) and allow_array:
        if len(value.items) != 1 or not isinstance(value.items[0], Str):
            raise SchemaError(
                value.info,
                f"{what}: an array type is written ['TypeName'], with exactly one type name "
                "inside (QAPI has no arrays of arrays; wrap the inner array in a struct)",
            )
        return TypeRef(value.items[0].value, is_array=True), value.items[0].info
    shape = "a type name or an array ['TypeName']" if allow_array else "a type name"
    hint = "; wrap the array in a struct member" if isinstance(value, Arr) else ""
    raise SchemaError(value.info, f"{what} must be {shape}, not {describe(value)}{hint}")


def required(obj: Obj, key: str) -> Value:
    """The value of a key that :func:`check_keys` made sure is present."""
    value = obj.get(key)
    assert value is not None, key
    return value


def expect_str(value: Value, what: str) -> Str:
    """``value`` as a string node, or an error naming ``what``."""
    if not isinstance(value, Str):
        raise SchemaError(value.info, f"{what} must be a string, not {describe(value)}")
    return value


def optional_condition(obj: Obj, what: str) -> Condition | None:
    """The condition of an object's ``if`` key, if it has one."""
    value = obj.get("if")
    return parse_condition(value, what) if value is not None else None


def branch_type(
    value: Value, what: str, *, allow_array: bool
) -> tuple[TypeRef, SourceInfo, Condition | None]:
    """A union or alternate branch: ``'Type'`` or ``{'type': ..., 'if': ...}``."""
    if not isinstance(value, Obj):
        ref, info = type_ref(value, what, allow_array=allow_array)
        return ref, info, None
    check_keys(value, what, ("type",), ("if",))
    ref, info = type_ref(required(value, "type"), what, allow_array=allow_array)
    return ref, info, optional_condition(value, what)
