"""Errors raised while transcoding between QMP JSON and Protobuf messages."""

from __future__ import annotations

import re

_PLAIN_KEY = re.compile(r"[A-Za-z0-9_-]+\Z")


class TranscodeError(ValueError):
    """A value that cannot be transcoded, with the JSON path where it failed.

    The path is collected while the error travels up through the nested
    objects and arrays, so building it costs nothing when nothing fails.
    ``str(error)`` reads like ``$.options.size: 300 is out of range for uint8``.
    """

    def __init__(self, message: str, *segments: str | int) -> None:
        super().__init__(message)
        self._message = message
        # Innermost segment first; prepend() appends, `path` reverses.
        self._reversed_segments: list[str | int] = list(reversed(segments))

    def prepend(self, segment: str | int) -> TranscodeError:
        """Record that the failing value sits under ``segment`` of its parent."""
        self._reversed_segments.append(segment)
        return self

    @property
    def message(self) -> str:
        """What is wrong with the value, without the path."""
        return self._message

    @property
    def segments(self) -> tuple[str | int, ...]:
        """Object keys and array indexes from the root to the failing value."""
        return tuple(reversed(self._reversed_segments))

    @property
    def path(self) -> str:
        """The location as a JSON path: ``$``, ``$.options.size``, ``$.actions[2]``."""
        parts = ["$"]
        for segment in self.segments:
            if isinstance(segment, int):
                parts.append(f"[{segment}]")
            elif _PLAIN_KEY.match(segment):
                parts.append(f".{segment}")
            else:
                escaped = segment.replace("\\", "\\\\").replace('"', '\\"')
                parts.append(f'["{escaped}"]')
        return "".join(parts)

    @property
    def qmp_path(self) -> str:
        """The location as QEMU names it in errors: ``options.size``, ``actions[2].type``."""
        out = ""
        for segment in self.segments:
            if isinstance(segment, int):
                out += f"[{segment}]"
            else:
                out += f".{segment}" if out else segment
        return out

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class UnexpectedMember(TranscodeError):
    """A member the schema does not define, in something a client sent.

    The message is QEMU's (``Parameter 'options.prealocation' is
    unexpected``) and so names the whole path; ``str()`` is the message.
    """

    def __init__(self, name: str) -> None:
        super().__init__("is unexpected", name)

    @property
    def message(self) -> str:
        """QEMU's text, naming the member by its full path."""
        return f"Parameter '{self.qmp_path}' is unexpected"

    def __str__(self) -> str:
        return self.message


class DescriptorError(TypeError):
    """A message descriptor that does not follow the project's QAPI mapping."""
