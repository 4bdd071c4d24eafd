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
        self.message = message
        # Innermost segment first; prepend() appends, `path` reverses.
        self._reversed_segments: list[str | int] = list(reversed(segments))

    def prepend(self, segment: str | int) -> TranscodeError:
        """Record that the failing value sits under ``segment`` of its parent."""
        self._reversed_segments.append(segment)
        return self

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

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class DescriptorError(TypeError):
    """A message descriptor that does not follow the project's QAPI mapping."""
