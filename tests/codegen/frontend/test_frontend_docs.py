"""Doc comments: how blocks split into body, descriptions and sections."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from qapi_jobs.codegen.docparse import DocLine, ParsedDoc, parse_doc
from qapi_jobs.codegen.errors import SchemaError
from qapi_jobs.codegen.frontend import load_schema
from qapi_jobs.codegen.model import DocSection, SourceInfo


def parse(*texts: str) -> ParsedDoc:
    """Parse doc lines given without their leading '# '."""
    lines = [DocLine(text, SourceInfo("t.json", i + 2, 1)) for i, text in enumerate(texts)]
    return parse_doc(lines, SourceInfo("t.json", 1, 1))


def test_current_style_block() -> None:
    doc = parse(
        "@Thing:",
        "",
        "A thing.  It has",
        "two lines.",
        "",
        "Second paragraph.",
        "",
        "@id: the identifier",
        "",
        "@long: a description that",
        "    continues here",
        "",
        "    and has a second paragraph",
        "",
        "@later:",
        "    text only on the next line",
        "",
        "Features:",
        "",
        "@unstable: experimental",
        "",
        "Returns: a value",
        "",
        "Errors:",
        "    - when it fails",
        "    - when it is late",
        "",
        "Since: 9.1",
        "",
        ".. qmp-example::",
        "",
        '    -> { "execute": "thing" }',
        "",
        "TODO: tidy up",
    )
    assert doc.symbol == "Thing"
    assert doc.body == "A thing.  It has\ntwo lines.\n\nSecond paragraph."
    assert [(e.name, e.text) for e in doc.members] == [
        ("id", "the identifier"),
        ("long", "a description that\ncontinues here\n\nand has a second paragraph"),
        ("later", "text only on the next line"),
    ]
    assert [(e.name, e.text) for e in doc.features] == [("unstable", "experimental")]
    assert doc.sections == (
        DocSection("Returns", "a value"),
        DocSection("Errors", "- when it fails\n- when it is late"),
        DocSection("Since", "9.1"),
        DocSection("", '.. qmp-example::\n\n    -> { "execute": "thing" }'),
        DocSection("TODO", "tidy up"),
    )
    assert doc.members[1].info.line == 11


def test_legacy_style_block() -> None:
    doc = parse(
        "@job-thing:",
        "",
        "Does a thing.",
        "",
        "@id : The job identifier",
        "@speed: the speed, aligned",
        "        under the text",
        "@mode: unindented",
        "continuation",
        "",
        "Returns: nothing on success",
        "         If the job is missing, DeviceNotFound",
        "",
        "Since: 2.5",
        "",
        "Notes: 1. first",
        "       2. second",
        "",
        "Example:",
        "",
        '-> { "execute": "job-thing" }',
        '<- { "return": {} }',
        "",
        "Trailing words of the example.",
    )
    assert [(e.name, e.text) for e in doc.members] == [
        ("id", "The job identifier"),
        ("speed", "the speed, aligned\nunder the text"),
        ("mode", "unindented\ncontinuation"),
    ]
    assert doc.sections == (
        DocSection("Returns", "nothing on success\nIf the job is missing, DeviceNotFound"),
        DocSection("Since", "2.5"),
        DocSection("Notes", "1. first\n2. second"),
        DocSection(
            "Example",
            '-> { "execute": "job-thing" }\n<- { "return": {} }\n\nTrailing words of the example.',
        ),
    )


def test_paragraph_after_description_becomes_untagged_section() -> None:
    doc = parse("@Thing:", "", "@a: member", "", "A remark.", "", "Another one.", "", "Since: 1.0")
    assert doc.body == ""
    assert doc.members[0].text == "member"
    assert doc.sections == (DocSection("", "A remark.\n\nAnother one."), DocSection("Since", "1.0"))


def test_double_colon_is_not_a_tag() -> None:
    doc = parse("@Thing:", "", "Note:: this is rST, not a section")
    assert doc.body == "Note:: this is rST, not a section"
    assert doc.sections == ()


def test_free_form_block_keeps_its_text() -> None:
    lines = [DocLine(t, SourceInfo("t.json", 2, 1)) for t in ["", "= Title", "", "Some prose.", ""]]
    doc = parse_doc(lines, SourceInfo("t.json", 1, 1))
    assert doc.symbol is None
    assert doc.text == "= Title\n\nSome prose."


def test_docs_attach_to_definitions(write: Callable[..., Path]) -> None:
    schema = load_schema(
        write(
            "##\n"
            "# = Heading\n"
            "##\n"
            "\n"
            "##\n"
            "# @Kind:\n"
            "#\n"
            "# @a: first\n"
            "#\n"
            "# @b: second\n"
            "#\n"
            "# Features:\n"
            "# @old: do not use\n"
            "##\n"
            "{ 'enum': 'Kind', 'data': [ 'a', { 'name': 'b', 'features': [ 'old' ] } ] }\n"
            "\n"
            "##\n"
            "# @Shape:\n"
            "#\n"
            "# A union; its base member and a branch are described.\n"
            "#\n"
            "# @kind: which shape\n"
            "#\n"
            "# @a: the first branch\n"
            "##\n"
            "{ 'union': 'Shape', 'base': { 'kind': 'Kind' }, 'discriminator': 'kind',\n"
            "  'data': { 'a': 'Box' } }\n"
            "\n"
            "##\n"
            "# @Box:\n"
            "#\n"
            "# @size: how big\n"
            "##\n"
            "{ 'struct': 'Box', 'data': { 'size': 'int' } }\n"
            "\n"
            "##\n"
            "# @pack:\n"
            "#\n"
            "# @size: named arguments may be described too\n"
            "##\n"
            "{ 'command': 'pack', 'data': 'Box' }\n"
        )
    )
    kind = schema.lookup("Kind")
    assert kind.doc is not None
    assert kind.doc.members == (("a", "first"), ("b", "second"))
    assert kind.doc.feature("old") == "do not use"
    assert kind.doc.info is not None and kind.doc.info.line == 5
    shape = schema.lookup("Shape")
    assert shape.doc is not None
    assert shape.doc.body == "A union; its base member and a branch are described."
    assert shape.doc.member("kind") == "which shape"
    assert shape.doc.member("a") == "the first branch"
    assert schema.lookup("pack").doc is not None
    assert [f.text for f in schema.modules[0].free_docs] == ["= Heading"]


def test_comments_may_sit_between_doc_and_definition(write: Callable[..., Path]) -> None:
    schema = load_schema(
        write("##\n# @Box:\n##\n\n# an ordinary comment\n\n{ 'struct': 'Box', 'data': {} }\n")
    )
    assert schema.lookup("Box").doc is not None


def test_blank_lines_inside_a_doc_block_are_skipped(write: Callable[..., Path]) -> None:
    schema = load_schema(write("##\n# @Box:\n\n# Text.\n##\n{ 'struct': 'Box', 'data': {} }\n"))
    doc = schema.lookup("Box").doc
    assert doc is not None and doc.body == "Text."


def test_doc_required_accepts_complete_docs(write: Callable[..., Path]) -> None:
    schema = load_schema(
        write(
            "{ 'pragma': { 'doc-required': true } }\n"
            "##\n# @run:\n#\n# @speed: how fast\n#\n# Features:\n#\n"
            "# @unstable: may change\n#\n# @deprecated: going away\n##\n"
            "{ 'command': 'run', 'features': [ 'unstable' ],\n"
            "  'data': { 'speed': { 'type': 'int', 'features': [ 'deprecated' ] } } }\n"
        )
    )
    doc = schema.lookup("run").doc
    assert doc is not None and doc.features == (
        ("unstable", "may change"),
        ("deprecated", "going away"),
    )


def test_second_features_line_is_an_error() -> None:
    with pytest.raises(SchemaError, match="second 'Features:' line"):
        parse("@Thing:", "", "Features:", "@a: x", "", "Features:", "@b: y")
