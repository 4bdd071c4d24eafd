"""``if`` conditions: today's ``all``/``any``/``not`` trees and the older
C-preprocessor strings, both turned into model conditions."""

from __future__ import annotations

import re

from qapi_jobs.codegen.errors import SchemaError
from qapi_jobs.codegen.model import Condition, IfAll, IfAny, IfName, IfNot
from qapi_jobs.codegen.syntax import Arr, Obj, Str, Value, describe

_SYMBOL = re.compile(r"[A-Z][A-Z0-9_]*\Z")
# Before QEMU 6.2 a condition was a preprocessor expression such as
# 'defined(CONFIG_A) && !defined(CONFIG_B)'; such strings are kept verbatim.
_LEGACY = re.compile(r"(?:\s+|defined\s*\(\s*[A-Za-z_]\w*\s*\)|[A-Za-z_]\w*|&&|\|\||!|\(|\))+\Z")
_DEFINED = re.compile(r"defined\s*\(")
_OPERATORS = ("all", "any", "not")


def parse_condition(value: Value, what: str) -> Condition:
    """Check the ``if`` value of ``what`` and build its condition."""
    if isinstance(value, Str):
        text = value.value
        if _SYMBOL.match(text) or (_DEFINED.search(text) and _LEGACY.match(text)):
            return IfName(text)
        raise SchemaError(
            value.info,
            f"'if' condition '{text}' of {what} is not a valid identifier; use an "
            "upper-case configuration symbol such as 'CONFIG_FOO', or combine "
            "symbols with {'all': [...]}, {'any': [...]} or {'not': ...}",
        )
    if isinstance(value, Arr):
        # The pre-6.2 list form: every string must hold.
        if not value.items:
            raise SchemaError(
                value.info, f"'if' condition [] of {what} is useless; remove the 'if'"
            )
        operands = tuple(parse_condition(item, what) for item in value.items)
        return operands[0] if len(operands) == 1 else IfAll(operands)
    if not isinstance(value, Obj):
        raise SchemaError(
            value.info,
            f"'if' condition of {what} must be a string or an object, not {describe(value)}",
        )
    for key, _ in value.entries:
        if key.value not in _OPERATORS:
            raise SchemaError(
                key.info,
                f"'if' condition of {what} has unknown operator '{key.value}'; "
                "use 'all', 'any' or 'not'",
            )
    if len(value.entries) != 1:
        raise SchemaError(
            value.info,
            f"'if' condition of {what} must have exactly one of 'all', 'any', 'not'; "
            "nest objects to combine them",
        )
    (key, operand) = value.entries[0]
    if key.value == "not":
        return IfNot(parse_condition(operand, what))
    if not isinstance(operand, Arr):
        raise SchemaError(
            operand.info,
            f"'{key.value}' condition of {what} must be an array of conditions, "
            f"not {describe(operand)}",
        )
    if not operand.items:
        raise SchemaError(
            operand.info,
            f"'{key.value}' condition of {what} has no operands; "
            "give at least one or remove the condition",
        )
    operands = tuple(parse_condition(item, what) for item in operand.items)
    return IfAll(operands) if key.value == "all" else IfAny(operands)
