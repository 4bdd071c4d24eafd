"""QAPI doc comments as Python docstrings and command-line help.

Docstrings follow the Google style (``Args:``, ``Returns:``, ``Raises:``)
so that editors and documentation tools show them well.  References such
as ``@job-id`` become literals (````job-id````) in docstrings and plain
names in help text.  Lines are re-wrapped only where they would not fit.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterable

from qapi_jobs.codegen.backends.client.spec import MethodSpec
from qapi_jobs.codegen.model import Doc

LINE_LIMIT = 99
_REFERENCE = re.compile(r"(?<![\w.@])@([A-Za-z_][\w-]*\w|[A-Za-z_])")
_OWN_PLACE = frozenset({"Since", "TODO", "Returns", "Errors"})


def literal_refs(text: str) -> str:
    """``@name`` as ````name```` (reStructuredText literal)."""
    return _REFERENCE.sub(r"``\1``", text)


def plain_refs(text: str) -> str:
    """``@name`` as ``name``."""
    return _REFERENCE.sub(r"\1", text)


def _wrap_line(line: str, width: int) -> list[str]:
    if len(line) <= width:
        return [line]
    stripped = line.lstrip()
    lead = line[: len(line) - len(stripped)]
    follow = lead + ("  " if stripped.startswith(("- ", "* ")) else "")
    return textwrap.wrap(
        line,
        width,
        initial_indent="",
        subsequent_indent=follow,
        break_long_words=False,
        break_on_hyphens=False,
    ) or [line]


def _block(text: str, width: int) -> list[str]:
    """Lines of ``text`` kept as written, each wrapped to ``width``."""
    out: list[str] = []
    for line in text.strip("\n").split("\n"):
        out.extend(_wrap_line(line.rstrip(), width))
    return out


def _flow(text: str, width: int, hang: int = 4) -> list[str]:
    """``text`` as one paragraph, wrapped with a hanging indent."""
    words = " ".join(text.split())
    return textwrap.wrap(
        words, width, subsequent_indent=" " * hang, break_long_words=False, break_on_hyphens=False
    ) or [""]


def body_paragraphs(doc: Doc | None) -> list[str]:
    """The free text of a doc comment: body, untagged and retired sections."""
    if doc is None:
        return []
    paragraphs = [doc.body] if doc.body.strip() else []
    for section in doc.sections:
        if section.tag == "":
            paragraphs.append(section.text)
        elif section.tag not in _OWN_PLACE:
            paragraphs.append(f"{section.tag}:\n{section.text}")
    return paragraphs


def method_docstring(spec: MethodSpec, indent: int) -> list[str]:
    """The docstring's lines (without quotes or indentation) of a method
    whose body is indented by ``indent`` columns."""
    width = LINE_LIMIT - indent
    doc = spec.doc
    paragraphs: list[list[str]] = []
    for text in [*body_paragraphs(doc), *spec.notes]:
        paragraphs.append(_block(literal_refs(text), width))
    if not paragraphs:
        paragraphs.append([f"Run the {spec.command} command."])

    args: list[str] = ["Args:"]
    for param in spec.params:
        text = literal_refs(param.doc) or "(not documented)"
        if param.optional:
            text += " (optional)"
        args.extend("    " + line for line in _flow(f"{param.name}: {text}", width - 4))
    args.extend(
        "    " + line
        for line in _flow(
            f"{spec.timeout_param}: seconds to wait for the reply (default: the client's deadline)",
            width - 4,
        )
    )
    paragraphs.append(args)

    if spec.result.kind != "none":
        returns = literal_refs(spec.result.doc) or f"the {spec.result.qapi_type} result"
        paragraphs.append(["Returns:", *("    " + ln for ln in _flow(returns, width - 4))])

    raises = ["Raises:"]
    raises.extend(
        "    " + line
        for line in _flow(
            "QapiJobsError: the server refused the command; the subclass says why"
            " (JobNotFound, WrongState, InvalidArgument, ...).",
            width - 4,
        )
    )
    errors = doc.section("Errors") if doc else ""
    if errors:
        raises.append("        The schema lists:")
        raises.extend("        " + line for line in _block(literal_refs(errors), width - 8))
    paragraphs.append(raises)

    since = doc.section("Since") if doc else ""
    if since:
        paragraphs.append([f"Since: {since}"])
    return _join(paragraphs)


def _join(paragraphs: Iterable[list[str]]) -> list[str]:
    out: list[str] = []
    for paragraph in paragraphs:
        if out:
            out.append("")
        out.extend(paragraph)
    return out


def summary(doc: Doc | None) -> str:
    """The first sentence of a doc comment's body, for one-line help."""
    if doc is None or not doc.body.strip():
        return ""
    text = " ".join(plain_refs(doc.body).split())
    match = re.match(r"(.+?[.!?])(\s|$)", text)
    return match.group(1) if match else text


def help_text(spec: MethodSpec, width: int = 78) -> str:
    """The long help of a command-line subcommand: body, errors, since."""
    doc = spec.doc
    paragraphs: list[list[str]] = []
    for text in [*body_paragraphs(doc), *spec.notes]:
        paragraphs.append(_block(plain_refs(text), width))
    errors = doc.section("Errors") if doc else ""
    if errors:
        paragraphs.append(["Errors:", *("  " + ln for ln in _block(plain_refs(errors), width))])
    if spec.result.kind != "none":
        returns = plain_refs(spec.result.doc) or spec.result.qapi_type
        paragraphs.append([f"Returns: {returns}"])
    since = doc.section("Since") if doc else ""
    if since:
        paragraphs.append([f"Since: {since}"])
    return "\n".join(_join(paragraphs))


def member_help(text: str) -> str:
    """One member's description as a single line of help."""
    return " ".join(plain_refs(text).split())


def escape(text: str) -> str:
    """Text safe inside a triple-quoted docstring."""
    return text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
