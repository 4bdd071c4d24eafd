"""Parser for one schema file: top-level expressions and doc blocks.

The result keeps every expression in source order (directives included)
with the definition doc block that precedes it, plus the file's free-form
doc blocks.  Includes are not followed here; see :mod:`loader`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from qapi_jobs.codegen.docparse import DocLine, ParsedDoc, doc_line, parse_doc
from qapi_jobs.codegen.errors import SchemaError
from qapi_jobs.codegen.lexer import Token, TokenKind, tokenize
from qapi_jobs.codegen.model import SourceInfo
from qapi_jobs.codegen.syntax import Arr, Bool, Obj, Str, Value

_DIRECTIVES = ("include", "pragma")


@dataclass(frozen=True)
class TopExpr:
    """A top-level expression and the definition doc block right above it."""

    obj: Obj
    doc: ParsedDoc | None = None


@dataclass(frozen=True)
class ParsedFile:
    """One file's expressions (in order) and free-form doc blocks."""

    file: str
    exprs: tuple[TopExpr, ...]
    free_docs: tuple[ParsedDoc, ...]


def parse_source(src: str, file: str) -> ParsedFile:
    """Parse the text of one schema file; ``file`` names it in positions."""
    return _Parser(src, file).parse()


def _shown(tok: Token) -> str:
    if tok.kind == "eof":
        return "the end of the file"
    if tok.kind == "string":
        return f"'{tok.text}'"
    if tok.kind == "bool":
        return tok.text
    return f"'{tok.kind}'"


class _Parser:
    def __init__(self, src: str, file: str) -> None:
        self.file = file
        self.tokens: Iterator[Token] = tokenize(src, file)
        self.tok = next(self.tokens)

    def advance(self) -> None:
        self.tok = next(self.tokens)

    def at(self, kind: TokenKind) -> bool:
        """Whether the current token has kind ``kind``."""
        return self.tok.kind == kind

    def skip_comments(self) -> None:
        while self.at("comment"):
            self.advance()

    def parse(self) -> ParsedFile:
        exprs: list[TopExpr] = []
        free_docs: list[ParsedDoc] = []
        pending: ParsedDoc | None = None
        while not self.at("eof"):
            if self.at("comment"):
                if self.tok.text.startswith("##"):
                    _reject_definition_doc(pending, "another doc block")
                    pending = self.doc_block()
                    if pending.symbol is None:
                        free_docs.append(pending)
                else:
                    self.advance()
                continue
            start = self.tok
            value = self.value()
            if not isinstance(value, Obj):
                raise SchemaError(
                    start.info,
                    f"top-level expression must be an object {{ ... }}, not {_what(value)}",
                )
            directive = next((d for d in _DIRECTIVES if d in value), None)
            if directive is not None:
                article = "an" if directive == "include" else "a"
                _reject_definition_doc(pending, f"{article} '{directive}' directive")
                exprs.append(TopExpr(value))
            else:
                if pending is not None and pending.symbol is None:
                    raise SchemaError(
                        pending.info,
                        "free-form doc block sits directly above a definition; give the "
                        "definition its own doc block starting with '@Name:' in between",
                    )
                exprs.append(TopExpr(value, pending))
            pending = None
        _reject_definition_doc(pending, "the end of the file")
        return ParsedFile(self.file, tuple(exprs), tuple(free_docs))

    def doc_block(self) -> ParsedDoc:
        opening = self.tok
        if opening.text != "##":
            raise SchemaError(
                opening.info,
                f"junk after '##' in '{opening.text}': a doc block starts with a line that "
                "is exactly '##' (use a single '#' for an ordinary comment)",
            )
        lines: list[DocLine] = []
        while True:
            self.advance()
            if not self.at("comment"):
                raise SchemaError(
                    opening.info,
                    f"doc block is not closed: line {self.tok.info.line} is not a comment; "
                    "end the block with a line '##'",
                )
            if self.tok.text.startswith("##"):
                if self.tok.text != "##":
                    raise SchemaError(
                        self.tok.info,
                        f"junk after '##' in '{self.tok.text}': a doc block ends with a line "
                        "that is exactly '##'",
                    )
                self.advance()
                return parse_doc(lines, opening.info)
            lines.append(doc_line(self.tok.text, self.tok.info))

    def value(self) -> Value:
        self.skip_comments()
        tok = self.tok
        if tok.kind == "{":
            return self.obj()
        if tok.kind == "[":
            return self.arr()
        if tok.kind == "string":
            self.advance()
            return Str(tok.text, tok.info)
        if tok.kind == "bool":
            self.advance()
            return Bool(tok.flag, tok.info)
        raise SchemaError(tok.info, f"expected a value, found {_shown(tok)}")

    def obj(self) -> Obj:
        opening = self.tok
        self.advance()
        entries: list[tuple[Str, Value]] = []
        seen: dict[str, SourceInfo] = {}
        self.skip_comments()
        if self.at("}"):
            self.advance()
            return Obj((), opening.info)
        while True:
            self.skip_comments()
            tok = self.tok
            if tok.kind == "eof":
                raise _unclosed(opening, "}")
            if tok.kind != "string":
                hint = "; remove the trailing ','" if entries and tok.kind == "}" else ""
                raise SchemaError(tok.info, f"expected a 'key', found {_shown(tok)}{hint}")
            key = Str(tok.text, tok.info)
            if key.value in seen:
                raise SchemaError(
                    tok.info,
                    f"duplicate key '{key.value}' (first at line {seen[key.value].line}); "
                    "remove one of them",
                )
            seen[key.value] = tok.info
            self.advance()
            self.skip_comments()
            if not self.at(":"):
                if self.at("eof"):
                    raise _unclosed(opening, "}")
                raise SchemaError(
                    self.tok.info,
                    f"expected ':' after key '{key.value}', found {_shown(self.tok)}",
                )
            self.advance()
            self.skip_comments()
            if self.at("eof"):
                raise _unclosed(opening, "}")
            entries.append((key, self.value()))
            self.skip_comments()
            if self.at("}"):
                self.advance()
                return Obj(tuple(entries), opening.info)
            if self.at("eof"):
                raise _unclosed(opening, "}")
            if not self.at(","):
                raise SchemaError(
                    self.tok.info,
                    f"expected ',' or '}}' after the value of '{key.value}', "
                    f"found {_shown(self.tok)}",
                )
            self.advance()

    def arr(self) -> Arr:
        opening = self.tok
        self.advance()
        items: list[Value] = []
        self.skip_comments()
        if self.at("]"):
            self.advance()
            return Arr((), opening.info)
        while True:
            self.skip_comments()
            if self.at("eof"):
                raise _unclosed(opening, "]")
            if self.at("]"):
                raise SchemaError(
                    self.tok.info, "expected a value, found ']'; remove the trailing ','"
                )
            items.append(self.value())
            self.skip_comments()
            if self.at("]"):
                self.advance()
                return Arr(tuple(items), opening.info)
            if self.at("eof"):
                raise _unclosed(opening, "]")
            if not self.at(","):
                raise SchemaError(
                    self.tok.info,
                    f"expected ',' or ']' in the array, found {_shown(self.tok)}",
                )
            self.advance()


def _what(value: Value) -> str:
    if isinstance(value, Str):
        return "a string"
    if isinstance(value, Bool):
        return "a boolean"
    return "an array"


def _unclosed(opening: Token, closer: str) -> SchemaError:
    return SchemaError(
        opening.info,
        f"'{opening.kind}' is never closed; add the matching '{closer}'",
    )


def _reject_definition_doc(doc: ParsedDoc | None, found: str) -> None:
    if doc is not None and doc.symbol is not None:
        assert doc.symbol_info is not None
        raise SchemaError(
            doc.symbol_info,
            f"doc block for '{doc.symbol}' is followed by {found}, not by the definition "
            f"of '{doc.symbol}'; move the doc block directly above that definition",
        )
