"""Reading argument values given on the command line.

Scalars are typed by their QAPI type: integers, booleans (``true``/
``false``, ``yes``/``no``, ``on``/``off``, ``1``/``0``) and numbers.
Everything else (structs, unions, arrays, ``any``) is JSON in QMP form,
given inline or as ``@FILE``.

The rule for integers, wherever they are (an option or a member inside
the JSON, ``size``, ``int``, ``uint32``, ...): a plain number, or a number
with a binary suffix K, M, G, T, P or E (powers of 1024, case-insensitive,
an optional ``B``/``iB`` after it: ``64M``, ``1.5G``, ``4KiB``), as
qemu-img reads sizes.  The schema's types decide what is an integer, so
every byte count and byte rate (``speed``, ``buf-size``, ``granularity``,
``cluster-size``, ...) takes the suffixes without a list of their names.
"""

from __future__ import annotations

import json
import re
from fractions import Fraction
from pathlib import Path
from typing import Any

from qapi_jobs.client.commandinfo import MemberInfo
from qapi_jobs.transcoder.descriptors import Kind, MessagePlan, Shape, ValueSpec

_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([kmgtpe]?)(?:i?b)?", re.IGNORECASE)
_SUFFIXES = {"": 0, "k": 10, "m": 20, "g": 30, "t": 40, "p": 50, "e": 60}
_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0"})


class BadValue(ValueError):
    """A value the command line cannot use; the message says why."""


def parse_size(text: str) -> int:
    """Bytes from ``1G``, ``512M``, ``64k``, ``1.5G`` or a plain number."""
    match = _SIZE.fullmatch(text.strip())
    if match is None:
        raise BadValue(f"{text!r} is not a size (a number with an optional K/M/G/T/P/E suffix)")
    number, suffix = match.groups()
    value = Fraction(number) * (1 << _SUFFIXES[suffix.lower()])
    if value.denominator != 1:
        raise BadValue(f"{text!r} is not a whole number of bytes")
    return int(value)


def parse_integer(text: str) -> int:
    """An integer: ``-1``, ``0x10``, or a size with a suffix (``64M``)."""
    try:
        return int(text, 0)
    except ValueError:
        return parse_size(text)


def parse_bool(text: str) -> bool:
    """A boolean from true/false, yes/no, on/off or 1/0."""
    word = text.strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise BadValue(f"{text!r} is not a boolean (true/false, yes/no, on/off, 1/0)")


def parse_json(text: str) -> Any:
    """JSON given inline or, as ``@FILE``, in a file (``-`` is not special)."""
    source = "the JSON value"
    if text.startswith("@"):
        path = Path(text[1:])
        source = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as err:
            raise BadValue(f"cannot read {path}: {err.strerror}") from err
    too_deep = f"{source} is nested more than {MAX_JSON_DEPTH} levels deep"
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise BadValue(f"{source} is not valid JSON: {err}") from err
    except RecursionError:
        raise BadValue(too_deep) from None
    if _depth(value) > MAX_JSON_DEPTH:
        raise BadValue(too_deep)
    return value


MAX_JSON_DEPTH = 64
"""Far more than any command's arguments need; deeper values would exhaust the stack later."""


def _depth(value: Any) -> int:
    """How deeply ``value`` nests lists and objects (without recursion)."""
    deepest, pending = 0, [(value, 1)]
    while pending:
        item, depth = pending.pop()
        children = (
            item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        )
        for child in children:
            if isinstance(child, dict | list):
                if depth + 1 > MAX_JSON_DEPTH:
                    return depth + 1
                pending.append((child, depth + 1))
        deepest = max(deepest, depth)
    return deepest


def parse_value(member: MemberInfo, text: str) -> Any:
    """The JSON value (in QMP form) of one command-line argument."""
    kind = member.kind
    try:
        if kind == "str":
            return text
        if kind in ("int", "size"):
            try:
                return parse_integer(text)
            except BadValue:
                raise BadValue(
                    f"{text!r} is not a valid {member.type} "
                    "(a number with an optional K/M/G/T/P/E suffix)"
                ) from None
        if kind == "bool":
            return parse_bool(text)
        if kind == "number":
            return float(text)
        if kind == "enum":
            return text
    except ValueError as err:
        if isinstance(err, BadValue):
            raise
        raise BadValue(f"{text!r} is not a valid {member.type}") from err
    return parse_json(text)


def expand_sizes(plan: MessagePlan, value: Any) -> Any:
    """``value`` (the JSON of a ``plan`` message) with integer members given
    as strings (``"1G"``) turned into numbers; other values unchanged."""
    if plan.shape is not Shape.OBJECT or not isinstance(value, dict):
        return value
    out = dict(value)
    for member in plan.members:
        if member.wire in out:
            out[member.wire] = _expand(member.spec, out[member.wire], member.repeated)
    discriminator = plan.discriminator
    if discriminator is not None and isinstance(out.get(discriminator.wire), str):
        branch = plan.branches.get(out[discriminator.wire])
        if branch is not None and branch.spec.plan is not None:
            out = expand_sizes(branch.spec.plan, out)
    return out


def _expand(spec: ValueSpec, value: Any, repeated: bool) -> Any:
    if repeated and isinstance(value, list):
        return [_expand(spec, item, False) for item in value]
    if spec.kind is Kind.INT and isinstance(value, str):
        return parse_integer(value)
    if spec.kind is Kind.MESSAGE and spec.plan is not None:
        return expand_sizes(spec.plan, value)
    if spec.kind is Kind.WRAPPER and spec.item is not None and isinstance(value, list):
        return [_expand(spec.item, item, False) for item in value]
    return value
