"""Tokenizer for QAPI's JSON-like schema syntax.

QAPI is not JSON: strings use single quotes and know a single escape
(``\\\\``), there are no numbers or ``null``, and ``#`` starts a comment.
Comments are kept as tokens because documentation blocks are made of them;
the parser decides which comments matter.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from qapi_jobs.codegen.errors import SchemaError
from qapi_jobs.codegen.model import SourceInfo

TokenKind = Literal["{", "}", "[", "]", ":", ",", "string", "bool", "comment", "eof"]

_TAB = 8
_PUNCTUATION: dict[str, TokenKind] = {
    "{": "{",
    "}": "}",
    "[": "[",
    "]": "]",
    ":": ":",
    ",": ",",
}

_SPACE = re.compile(r"[ \t\r\f\v]+")
_COMMENT = re.compile(r"#[^\n]*")
# The fast path for strings: printable ASCII without quote or backslash.
_PLAIN_STRING = re.compile(r"'([ -&(-\[\]-~]*)'")
_WORD = re.compile(r"[A-Za-z0-9_.+\-]+")
_STRAY = re.compile(r"[^\[\]{}:,\s']+")


@dataclass(frozen=True, slots=True)
class Token:
    """One token: its kind, its value and where it starts.

    ``text`` is the decoded value of a string, or the whole comment (from
    ``#`` to the end of the line, trailing whitespace removed).
    """

    kind: TokenKind
    info: SourceInfo
    text: str = ""
    flag: bool = False


def column(line_text: str, offset: int) -> int:
    """The 1-based display column of ``offset`` in a line, tabs to multiples of 8."""
    if "\t" not in line_text:
        return offset + 1
    col = 0
    for ch in line_text[:offset]:
        col = (col // _TAB + 1) * _TAB if ch == "\t" else col + 1
    return col + 1


class _Cursor:
    """Tracks line starts so that offsets turn into (line, column)."""

    def __init__(self, src: str, file: str) -> None:
        self.src = src
        self.file = file
        self.line = 1
        self.line_start = 0
        self._line_text: str | None = None

    def info(self, pos: int) -> SourceInfo:
        if self._line_text is None:
            end = self.src.find("\n", self.line_start)
            self._line_text = self.src[self.line_start : end if end >= 0 else len(self.src)]
        return SourceInfo(self.file, self.line, column(self._line_text, pos - self.line_start))

    def newline(self, pos: int) -> None:
        self.line += 1
        self.line_start = pos + 1
        self._line_text = None


def tokenize(src: str, file: str) -> Iterator[Token]:
    """Yield the tokens of ``src``; the last one has kind ``eof``.

    Raises :class:`SchemaError` at the first character that cannot start a
    token or at a malformed string.
    """
    cur = _Cursor(src, file)
    pos = 0
    end = len(src)
    while pos < end:
        ch = src[pos]
        if ch == "\n":
            cur.newline(pos)
            pos += 1
        elif ch in " \t\r\f\v":
            match = _SPACE.match(src, pos)
            assert match is not None
            pos = match.end()
        elif ch == "#":
            match = _COMMENT.match(src, pos)
            assert match is not None
            yield Token("comment", cur.info(pos), match.group().rstrip())
            pos = match.end()
        elif ch in _PUNCTUATION:
            yield Token(_PUNCTUATION[ch], cur.info(pos))
            pos += 1
        elif ch == "'":
            match = _PLAIN_STRING.match(src, pos)
            if match is not None:
                yield Token("string", cur.info(pos), match.group(1))
                pos = match.end()
            else:
                value, pos_after = _slow_string(src, pos, cur)
                yield Token("string", cur.info(pos), value)
                pos = pos_after
        else:
            match = _WORD.match(src, pos)
            if match is not None and match.group() in ("true", "false"):
                yield Token("bool", cur.info(pos), match.group(), match.group() == "true")
                pos = match.end()
            else:
                raise _stray(src, pos, cur)
    yield Token("eof", cur.info(end))


def _slow_string(src: str, start: int, cur: _Cursor) -> tuple[str, int]:
    """Decode a string that has an escape or a bad character, or no end."""
    chars: list[str] = []
    pos = start + 1
    while True:
        ch = src[pos] if pos < len(src) else "\n"
        if ch == "\n":
            raise SchemaError(
                cur.info(start),
                "string is not closed on this line; add the closing ' (strings cannot span lines)",
            )
        if ch == "'":
            return "".join(chars), pos + 1
        if ch == "\\":
            nxt = src[pos + 1] if pos + 1 < len(src) else "\n"
            if nxt != "\\":
                shown = "\\" if nxt == "\n" else f"\\{nxt}"
                raise SchemaError(
                    cur.info(pos),
                    f"unknown escape '{shown}' in string; the only escape QAPI knows is "
                    "'\\\\' (one backslash)",
                )
            chars.append("\\")
            pos += 2
            continue
        if not " " <= ch <= "~":
            raise SchemaError(
                cur.info(pos),
                f"character {ch!r} (U+{ord(ch):04X}) is not allowed in a string; "
                "strings hold printable ASCII only",
            )
        chars.append(ch)
        pos += 1


def _stray(src: str, pos: int, cur: _Cursor) -> SchemaError:
    match = _STRAY.match(src, pos)
    text = match.group() if match is not None else src[pos]
    if text[0].isdigit() or text[0] in "+-.":
        hint = "QAPI has no numbers; write strings in single quotes"
    elif text in ("null", "True", "False", "None"):
        hint = "QAPI values are 'strings', true, false, objects and arrays"
    elif text.startswith('"'):
        hint = "QAPI strings use single quotes: 'like this'"
    else:
        hint = "expected a 'string', true, false, or one of { } [ ] : ,"
    return SchemaError(cur.info(pos), f"stray '{text}'; {hint}")
