"""QAPI documentation to proto leading comments (qapi-to-proto.md, "Documentation ...").

A comment is a list of lines (without ``//``); paragraphs are separated by
an empty line.  What goes in, in this order: the text, untagged and
retired (``Note``/``Example``) sections as written, ``Returns``/``Errors``
where asked for, feature descriptions, the ``if`` condition and finally
``Since``.  ``TODO`` sections are for schema developers and are dropped.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from qapi_jobs.codegen.model import Condition, Doc, Feature, condition_text

_FEATURE_TITLES = {"deprecated": "Deprecated", "unstable": "Unstable"}
_OWN_PLACE_TAGS = frozenset({"Since", "TODO", "Returns", "Errors"})


def lines(paragraphs: Iterable[str]) -> list[str]:
    """Comment lines for paragraphs: blank-line separated, trailing spaces cut."""
    out: list[str] = []
    for paragraph in paragraphs:
        text = paragraph.strip("\n")
        if not text.strip():
            continue
        if out:
            out.append("")
        out.extend(line.rstrip() for line in text.split("\n"))
    return out


def feature_notes(features: Sequence[Feature], docs: Sequence[Doc | None]) -> list[str]:
    """One paragraph per feature, with its description from the first doc that has one."""
    notes: list[str] = []
    for feature in features:
        text = next((d.feature(feature.name) for d in docs if d and d.feature(feature.name)), "")
        title = _FEATURE_TITLES.get(feature.name, f"Feature {feature.name}")
        note = f"{title}: {text}" if text else f"{title}."
        if feature.cond is not None:
            note += f" (only when {condition_text(feature.cond)})"
        notes.append(note)
    return notes


def condition_note(cond: Condition | None) -> list[str]:
    """The paragraph naming an element's condition, if it has one."""
    return [f"Only in builds where: {condition_text(cond)}"] if cond is not None else []


def definition(
    doc: Doc | None,
    *,
    cond: Condition | None = None,
    features: Sequence[Feature] = (),
    lead: Sequence[str] = (),
    returns: bool = False,
    errors: bool = False,
) -> list[str]:
    """The comment of a definition's main element (message, enum, rpc).

    ``lead`` paragraphs come first (e.g. "Arguments of job-pause.");
    ``returns``/``errors`` include those sections (for rpcs).
    """
    paragraphs: list[str] = list(lead)
    if doc is not None:
        paragraphs.append(doc.body)
        for section in doc.sections:
            if section.tag == "":
                paragraphs.append(section.text)
            elif section.tag not in _OWN_PLACE_TAGS:
                paragraphs.append(f"{section.tag}:\n{section.text}")
        if returns and doc.section("Returns"):
            paragraphs.append(f"Returns: {doc.section('Returns')}")
        if errors and doc.section("Errors"):
            paragraphs.append(f"Errors:\n{doc.section('Errors')}")
    paragraphs.extend(feature_notes(features, [doc]))
    paragraphs.extend(condition_note(cond))
    if doc is not None and doc.section("Since"):
        paragraphs.append(f"Since: {doc.section('Since')}")
    return lines(paragraphs)


def element(
    text: str,
    *,
    cond: Condition | None = None,
    features: Sequence[Feature] = (),
    docs: Sequence[Doc | None] = (),
) -> list[str]:
    """The comment of a field or enum value: its description, features, condition."""
    return lines([text, *feature_notes(features, docs), *condition_note(cond)])
