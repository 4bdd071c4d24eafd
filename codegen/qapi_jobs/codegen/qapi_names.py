"""QAPI's naming rules and the C form used for clash checks."""

from __future__ import annotations

import re

from qapi_jobs.codegen.errors import SchemaError
from qapi_jobs.codegen.model import SourceInfo

# Optional downstream prefix ``__RFQDN_``, optional ``x-``, then the stem.
_NAME = re.compile(r"(__[a-z0-9.-]+_)?(x-)?([a-z][a-z0-9_-]*)\Z", re.IGNORECASE)
_CAMEL = re.compile(r"[A-Z][A-Za-z0-9]*[a-z][A-Za-z0-9]*\Z")
_NON_C = re.compile(r"[^A-Za-z0-9_]")


def c_name(name: str) -> str:
    """QAPI's C form of a name: every character but letters, digits and
    ``_`` becomes ``_``.  Two names clash when their C forms are equal."""
    return _NON_C.sub("_", name)


def _stem(name: str, info: SourceInfo, what: str) -> str:
    match = _NAME.match(name)
    if not match:
        raise SchemaError(
            info,
            f"{what} has an invalid name; names start with a letter and use only "
            "letters, digits, '-' and '_' (after an optional '__vendor.example_' "
            "downstream prefix and an optional 'x-')",
        )
    if c_name(name).startswith("q_"):
        raise SchemaError(
            info,
            f"{what}: names starting with 'q-' or 'q_' are reserved for the generator; rename it",
        )
    return match.group(3)


def check_upper(name: str, info: SourceInfo, what: str) -> None:
    """An event name: upper case, words joined by ``_``."""
    stem = _stem(name, info, what)
    if re.search(r"[a-z-]", stem):
        fixed = name.upper().replace("-", "_")
        raise SchemaError(
            info,
            f"{what} must be upper case with words joined by '_' (e.g. '{fixed}')",
        )


def check_lower(
    name: str,
    info: SourceInfo,
    what: str,
    *,
    permit_upper: bool = False,
    permit_underscore: bool = False,
    exception_pragma: str = "",
) -> None:
    """A command, member, value, branch or feature name: lower case, ``-``."""
    _check_lower_stem(
        _stem(name, info, what),
        name,
        info,
        what,
        permit_upper=permit_upper,
        permit_underscore=permit_underscore,
        exception_pragma=exception_pragma,
    )


def _check_lower_stem(
    stem: str,
    name: str,
    info: SourceInfo,
    what: str,
    *,
    permit_upper: bool,
    permit_underscore: bool,
    exception_pragma: str,
) -> None:
    bad_upper = not permit_upper and re.search(r"[A-Z]", stem)
    bad_underscore = not permit_underscore and "_" in stem
    if bad_upper or bad_underscore:
        fixed = name.lower() if bad_upper else name
        fixed = fixed.replace("_", "-") if bad_underscore else fixed
        hint = f" (e.g. '{fixed}')"
        if exception_pragma:
            hint += f", or list it in pragma '{exception_pragma}'"
        raise SchemaError(
            info,
            f"{what} must be lower case with words joined by '-'{hint}",
        )


def check_camel(name: str, info: SourceInfo, what: str) -> None:
    """A type name: CamelCase, not ending in ``List``."""
    stem = _stem(name, info, what)
    if not _CAMEL.match(stem):
        raise SchemaError(
            info,
            f"{what} must be CamelCase: start with an upper-case letter, contain a "
            "lower-case one, and use no '-' or '_'",
        )
    if name.endswith("List"):
        raise SchemaError(
            info,
            f"{what} must not end in 'List' (QAPI names array types 'TList'); rename it",
        )


def check_enum_value(name: str, info: SourceInfo, what: str, *, permissive: bool) -> None:
    """An enum value: like a member name, but it may start with a digit."""
    # Prefixing a letter lets a leading digit through the member rule.
    hidden = "d" + name if name[:1].isdigit() else name
    _check_lower_stem(
        _stem(hidden, info, what),
        name,
        info,
        what,
        permit_upper=permissive,
        permit_underscore=permissive,
        exception_pragma="member-name-exceptions",
    )
