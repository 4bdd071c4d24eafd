"""Typed access to QMP-shaped command arguments, with QEMU's error texts.

The gRPC layer normally sends well-typed arguments, but the engine does not
rely on it: a missing member, a value of the wrong type, an unknown enum
value or an unexpected member is refused with the message QEMU's QMP input
visitor gives for it.  A member whose value is ``None`` counts as absent.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any, TypeVar

from qapi_jobs.server.jobs.errors import ErrorKind, JobError

_E = TypeVar("_E", bound=str)

UINT32_MAX = 2**32 - 1
UINT64_MAX = 2**64 - 1


def _invalid(message: str) -> JobError:
    return JobError(ErrorKind.INVALID_ARGUMENT, message, reason="INVALID_PARAMETER")


class Arguments:
    """The members of one QMP object, read one by one and checked.

    ``members`` lists every member the object may have; :meth:`finish`
    refuses any other.  ``prefix`` qualifies member names in messages, as
    QEMU does for nested objects (``options.size``).
    """

    def __init__(
        self, values: Mapping[str, Any], members: Collection[str], prefix: str = ""
    ) -> None:
        self._values = values
        self._members = members
        self._prefix = prefix

    def _name(self, member: str) -> str:
        return f"{self._prefix}{member}"

    def _get(self, member: str) -> Any:
        if member not in self._members:
            raise AssertionError(f"member {member!r} is not declared")
        return self._values.get(member)

    def _require(self, member: str) -> Any:
        value = self._get(member)
        if value is None:
            raise _invalid(f"Parameter '{self._name(member)}' is missing")
        return value

    def _wrong_type(self, member: str, expected: str) -> JobError:
        return _invalid(f"Invalid parameter type for '{self._name(member)}', expected: {expected}")

    def string(self, member: str) -> str:
        """A mandatory ``str`` member."""
        value = self._require(member)
        if not isinstance(value, str):
            raise self._wrong_type(member, "string")
        return value

    def optional_string(self, member: str) -> str | None:
        """An optional ``str`` member, ``None`` when absent."""
        if self._get(member) is None:
            return None
        return self.string(member)

    def integer(self, member: str, default: int, *, minimum: int, maximum: int) -> int:
        """An optional integer member in ``[minimum, maximum]``.

        Out-of-range values get QEMU's type error, naming ``uint32`` or
        ``uint64`` for the unsigned QAPI types and ``int`` otherwise.
        """
        value = self._get(member)
        if value is None:
            return default
        return self._check_integer(member, value, minimum, maximum)

    def required_integer(self, member: str, *, minimum: int, maximum: int) -> int:
        """A mandatory integer member in ``[minimum, maximum]``."""
        return self._check_integer(member, self._require(member), minimum, maximum)

    def _check_integer(self, member: str, value: Any, minimum: int, maximum: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._wrong_type(member, "integer")
        if not minimum <= value <= maximum:
            expected = {UINT32_MAX: "uint32", UINT64_MAX: "uint64"}.get(maximum, "int")
            raise self._wrong_type(member, expected)
        return value

    def boolean(self, member: str, default: bool) -> bool:
        """An optional ``bool`` member."""
        value = self._get(member)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self._wrong_type(member, "boolean")
        return value

    def enum(self, member: str, choices: Collection[_E], default: _E | None = None) -> _E:
        """An enum member given by its wire name; mandatory unless ``default`` is given."""
        value = self._get(member)
        if value is None:
            if default is not None:
                return default
            raise _invalid(f"Parameter '{self._name(member)}' is missing")
        if not isinstance(value, str):
            raise self._wrong_type(member, "string")
        for choice in choices:
            if choice == value:
                return choice
        raise _invalid(f"Parameter '{self._name(member)}' does not accept value '{value}'")

    def nested(self, member: str, members: Collection[str]) -> Arguments:
        """A mandatory object member, read with its own member list."""
        value = self._require(member)
        if not isinstance(value, Mapping):
            raise self._wrong_type(member, "object")
        return Arguments(value, members, prefix=f"{self._name(member)}.")

    def finish(self) -> None:
        """Refuse members the command does not have."""
        for member, value in self._values.items():
            if member not in self._members and value is not None:
                raise _invalid(f"Parameter '{self._name(member)}' is unexpected")
