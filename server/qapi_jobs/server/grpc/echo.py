"""Bounded, escaped echoes of client input in statuses and logs.

A client chooses job ids, paths and other strings that the server repeats
in error messages and log lines.  Repeated whole, a 15 MiB id makes a
15 MiB log line and a status too large for HTTP/2 trailers; a newline in
it forges a log line.  Everything repeated goes through :func:`bounded`.
"""

from __future__ import annotations

from typing import Final

MESSAGE_LIMIT: Final = 2048
"""Characters of a status message; gRPC trailers must stay well below 8 KiB."""
FIELD_LIMIT: Final = 256
"""Characters of one metadata value or log field."""


def escape(text: str) -> str:
    """``text`` with every control character written as a Python escape."""
    if text.isprintable():
        return text
    return "".join(
        char if char.isprintable() else char.encode("unicode_escape").decode("ascii")
        for char in text
    )


def bounded(text: str, limit: int = FIELD_LIMIT) -> str:
    """``text`` escaped and cut to about ``limit`` characters, saying how much was cut."""
    if len(text) <= limit and text.isprintable():
        return text
    shown = escape(text[:limit])[:limit]
    if len(text) > limit:
        return f"{shown}... ({len(text) - limit} more characters)"
    return shown
