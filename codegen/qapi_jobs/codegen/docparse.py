"""Documentation comments: split a ``##`` block into its parts.

The reader is deliberately tolerant of older QEMU layouts: ``@name :`` with
a space before the colon, continuation lines aligned under the text or not
indented at all, ``== Heading`` free-form blocks and the retired
``Note:``/``Example:`` sections.  What every release refuses is refused:
``=`` headings inside a definition's block, empty tagged sections,
descriptions and ``Features:`` after a free paragraph that follows the
descriptions.  A continuation line less indented
than the first indented one is recorded (``deindents``) rather than
refused, because QEMU 5.x accepted it, and so is a tagged section after a
free paragraph that follows another one (``late_sections``), because QEMU
7.2 accepted it; the checker decides (see :mod:`releases`).
Style rules (line length, sentence spacing) are not enforced.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from qapi_jobs.codegen.errors import SchemaError
from qapi_jobs.codegen.model import DocSection, SourceInfo

# ``@name:`` at the start of a line; the legacy ``@name :`` is accepted too.
_AT_NAME = re.compile(r"@([^:\s]+)\s*:(?:\s+|$)")
_AT_NAME_GLUED = re.compile(r"@([^:\s]+)\s*:")
_TAG = re.compile(r"(Returns|Errors|Since|Notes?|Examples?|TODO):(?!:)\s*")
# Retired tags whose section ran on over unindented paragraphs.
_ABSORBING_TAGS = frozenset({"Note", "Notes", "Example", "Examples"})
_FEATURES = "Features:"


@dataclass(frozen=True, slots=True)
class DocLine:
    """The text of one doc line after ``# `` (``''`` for a blank line)."""

    text: str
    info: SourceInfo


@dataclass(frozen=True, slots=True)
class DocEntry:
    """A ``@name: text`` description and where it was written."""

    name: str
    text: str
    info: SourceInfo


@dataclass(frozen=True)
class ParsedDoc:
    """A doc block: definition documentation when ``symbol`` is set,
    free-form documentation (``text`` only) otherwise."""

    info: SourceInfo
    symbol: str | None = None
    symbol_info: SourceInfo | None = None
    body: str = ""
    members: tuple[DocEntry, ...] = ()
    features: tuple[DocEntry, ...] = ()
    sections: tuple[DocSection, ...] = ()
    text: str = ""
    # Continuation lines less indented than the first one, each with the
    # indentation expected: refused unless the schema is of the 5.x era.
    deindents: tuple[tuple[SourceInfo, int], ...] = ()
    # Tagged sections (other than Since and TODO) after a free paragraph
    # that follows a tagged section: refused since QEMU 10.0.
    late_sections: tuple[tuple[SourceInfo, str], ...] = ()


def doc_line(comment: str, info: SourceInfo) -> DocLine:
    """Turn one comment line inside a doc block into its text."""
    if comment == "#":
        return DocLine("", info)
    if comment[1] != " ":
        raise SchemaError(
            info,
            "doc comment line must be '#' alone or '# ' followed by text; add a space after '#'",
        )
    return DocLine(comment[2:].rstrip(), info)


def parse_doc(lines: list[DocLine], info: SourceInfo) -> ParsedDoc:
    """Parse the lines between the opening and closing ``##`` of a block."""
    if lines and lines[0].text.startswith("@"):
        return _DefinitionDocReader(lines, info).read()
    return _free_form(lines, info)


def _free_form(lines: list[DocLine], info: SourceInfo) -> ParsedDoc:
    for line in lines:
        match = _AT_NAME_GLUED.match(line.text)
        if match:
            raise SchemaError(
                line.info,
                f"'@{match.group(1)}:' is not allowed in free-form documentation; "
                "a definition's doc block must start with its '@Name:' line",
            )
    return ParsedDoc(info, text=_join([line.text for line in lines]))


def _join(parts: list[str]) -> str:
    """Join lines, dropping blank lines at either end."""
    start, end = 0, len(parts)
    while start < end and not parts[start]:
        start += 1
    while end > start and not parts[end - 1]:
        end -= 1
    return "\n".join(parts[start:end])


def _starts_item(text: str) -> bool:
    return text == _FEATURES or bool(_AT_NAME.match(text) or _TAG.match(text))


class _DefinitionDocReader:
    """Reads a definition doc block front to back, one part at a time."""

    def __init__(self, lines: list[DocLine], info: SourceInfo) -> None:
        self.lines = lines
        self.info = info
        self.pos = 1
        self.body: list[str] = []
        self.members: list[DocEntry] = []
        self.features: list[DocEntry] = []
        self.sections: list[DocSection] = []
        self.seen_section: str | None = None
        self.seen_features = False
        self.deindents: list[tuple[SourceInfo, int]] = []
        # A free paragraph came after descriptions or sections: no more
        # descriptions may follow.  After a tagged section, only 'Since:' and
        # 'TODO:' may (QEMU 10.0 and later).
        self.free_after_items = False
        self.free_after_section = False
        self.late_sections: list[tuple[SourceInfo, str]] = []
        # What the previous part was; consecutive untagged paragraphs merge.
        self.last = ""

    def read(self) -> ParsedDoc:
        first = self.lines[0]
        text = first.text
        if not text.endswith(":"):
            raise SchemaError(
                first.info,
                f"definition doc line '{text}' must end with ':' (write '{text}:')",
            )
        symbol = text[1:-1].strip()
        if not symbol:
            raise SchemaError(first.info, "name required after '@' in the doc block's first line")
        while self.pos < len(self.lines):
            line = self.lines[self.pos]
            if line.text.startswith("="):
                raise SchemaError(
                    line.info,
                    "unexpected '=' markup in definition documentation; a heading goes "
                    "into a free-form doc block of its own, between definitions",
                )
            if not line.text:
                self.pos += 1
            elif line.text == _FEATURES:
                self._features(line)
            elif match := _AT_NAME.match(line.text):
                self._member(line, match)
            elif match := _TAG.match(line.text):
                self._section(match)
            else:
                self._paragraph()
        return ParsedDoc(
            self.info,
            symbol=symbol,
            symbol_info=first.info,
            body="\n\n".join(self.body),
            members=tuple(self.members),
            features=tuple(self.features),
            sections=tuple(self.sections),
            deindents=tuple(self.deindents),
            late_sections=tuple(self.late_sections),
        )

    def _member(self, line: DocLine, match: re.Match[str]) -> None:
        name = match.group(1)
        if self.free_after_items:
            raise SchemaError(
                line.info,
                f"description of '@{name}:' follows a free paragraph that comes after "
                "other descriptions; move it up to the other member descriptions",
            )
        if self.seen_section is not None or self.seen_features:
            after = f"'{self.seen_section}:' section" if self.seen_section else "'Features:'"
            raise SchemaError(
                line.info,
                f"description of '@{name}:' comes after the {after}; "
                "move member descriptions before sections and features",
            )
        self._check_unique(self.members, name, line.info, "member")
        self.pos += 1
        text = self._indented(line.text, match.end(), absorb=False)
        self.members.append(DocEntry(name, text, line.info))
        self.last = "member"

    def _features(self, line: DocLine) -> None:
        if self.free_after_items:
            raise SchemaError(
                line.info,
                "'Features:' follows a free paragraph that comes after descriptions or "
                "sections; move the feature descriptions up, before that paragraph",
            )
        if self.seen_features:
            raise SchemaError(line.info, "second 'Features:' line; merge the feature lists")
        self.seen_features = True
        self.pos += 1
        while self.pos < len(self.lines) and not self.lines[self.pos].text:
            self.pos += 1
        while self.pos < len(self.lines):
            item = self.lines[self.pos]
            match = _AT_NAME.match(item.text)
            if not match:
                break
            name = match.group(1)
            self._check_unique(self.features, name, item.info, "feature")
            self.pos += 1
            text = self._indented(item.text, match.end(), absorb=False)
            self.features.append(DocEntry(name, text, item.info))
        if not self.features:
            raise SchemaError(
                line.info,
                "'Features:' must be followed by '@feature: description' lines",
            )
        self.last = "features"

    def _section(self, match: re.Match[str]) -> None:
        line = self.lines[self.pos]
        tag = match.group(1)
        if self.free_after_section and tag not in ("Since", "TODO"):
            self.late_sections.append((line.info, tag))
        self.seen_section = tag
        self.pos += 1
        text = self._indented(line.text, match.end(), absorb=tag in _ABSORBING_TAGS)
        if not text:
            raise SchemaError(
                line.info,
                f"empty doc section '{tag}'; write its text after '{tag}:' or remove the line",
            )
        self.sections.append(DocSection(tag, text, line.info))
        self.last = "section"

    def _paragraph(self) -> None:
        parts: list[str] = []
        while self.pos < len(self.lines):
            text = self.lines[self.pos].text
            if not text or (parts and _starts_item(text)):
                break
            parts.append(text)
            self.pos += 1
        paragraph = "\n".join(parts)
        if not self.members and not self.features and not self.sections:
            self.body.append(paragraph)
            self.last = "untagged"
            return
        self.free_after_items = True
        self.free_after_section = self.seen_section is not None
        if self.last == "untagged":
            previous = self.sections[-1]
            self.sections[-1] = DocSection("", f"{previous.text}\n\n{paragraph}")
        else:
            self.sections.append(DocSection("", paragraph))
        self.last = "untagged"

    def _indented(self, line: str, start: int, absorb: bool) -> str:
        """Read a description that starts at ``line[start:]``, and its
        continuation lines.

        A non-blank line directly below the text continues it whatever its
        indentation (older schemas did not indent).  After a blank line only
        an indented line continues it, unless ``absorb`` (retired
        ``Example:``/``Note:`` sections swallowed whole paragraphs).  The
        first indented line fixes how much indentation is removed.

        When the text starts on the ``@name:`` or tag line, a later line
        less indented than both the first indented line and that text (QEMU
        7.2 wanted the text's column, later releases the first line's
        indentation) goes into :attr:`deindents`.
        """
        first = line[start:]
        parts = [first.strip()] if first.strip() else []
        checked = bool(parts)
        indent: int | None = None
        after_blank = False
        while self.pos < len(self.lines):
            text = self.lines[self.pos].text
            if not text:
                parts.append("")
                after_blank = True
                self.pos += 1
                continue
            lead = len(text) - len(text.lstrip(" "))
            if lead == 0 and (_starts_item(text) or (after_blank and not absorb)):
                break
            if checked and indent is not None and lead < min(indent, start) and not after_blank:
                self.deindents.append((self.lines[self.pos].info, min(indent, start)))
            if lead == 0:
                parts.append(text)
            else:
                if indent is None:
                    indent = lead
                parts.append(text[min(lead, indent) :])
            after_blank = False
            self.pos += 1
        return _join(parts)

    @staticmethod
    def _check_unique(seen: list[DocEntry], name: str, info: SourceInfo, what: str) -> None:
        for entry in seen:
            if entry.name == name:
                raise SchemaError(
                    info,
                    f"{what} '@{name}:' is described twice (first at line "
                    f"{entry.info.line}); merge the descriptions",
                )
