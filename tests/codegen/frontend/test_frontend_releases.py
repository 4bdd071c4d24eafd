"""Schemas of several QEMU releases: what each release accepted is accepted
(rules added later only warn), what QEMU refuses is refused, and errors carry
QEMU's context lines."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from qapi_jobs.codegen.cli import main
from qapi_jobs.codegen.errors import SchemaError
from qapi_jobs.codegen.frontend import load_schema
from qapi_jobs.codegen.model import Schema
from tests.support.paths import DATA

QEMU_7_2 = DATA / "qemu-7.2.0"
QGA_7_2 = QEMU_7_2 / "qga" / "qapi-schema.json"
DOC_GOOD_7_2 = QEMU_7_2 / "tests" / "qapi-schema" / "doc-good.json"
TEST_SCHEMA_7_2 = QEMU_7_2 / "tests" / "qapi-schema" / "qapi-schema-test.json"
SYSTEM_7_2 = QEMU_7_2 / "qapi" / "qapi-schema.json"


def _data(path: Path) -> Path:
    if not path.is_file():
        pytest.fail(f"{path} is missing; it is vendored test data (tests/data/README.md)")
    return path


@pytest.mark.parametrize(
    ("path", "warning"),
    [
        (
            QGA_7_2,
            ":803:15: warning: argument 'vcpus' of command 'guest-set-vcpus' is not documented",
        ),
        (DOC_GOOD_7_2, ":68:13: warning: value 'two' of enum 'Enum' is not documented"),
        (TEST_SCHEMA_7_2, "warning: argument 'bar' of command 'test-if-cmd' is conditional"),
        (SYSTEM_7_2, "warning: 'Returns:' section, but command 'set-action' returns nothing"),
    ],
    ids=["qga", "doc-good", "qapi-schema-test", "system"],
)
def test_qemu_7_2_schemas_are_accepted_with_warnings(path: Path, warning: str) -> None:
    schema = load_schema(_data(path))
    assert any(warning in str(w) for w in schema.warnings), [str(w) for w in schema.warnings]
    assert any(True for _ in schema.explicit())


def test_newer_rules_as_errors_refuse_what_qemu_7_2_accepted() -> None:
    with pytest.raises(SchemaError) as caught:
        load_schema(_data(DOC_GOOD_7_2), newer_rules="error")
    assert caught.value.line == (
        f"{DOC_GOOD_7_2}:68:13: value 'two' of enum 'Enum' is not documented; add '@two: ...' "
        "to the doc block of 'Enum' (pragma 'doc-required' is true), or list 'Enum' in "
        "pragma 'documentation-exceptions'"
    )
    assert caught.value.context() == [f"{DOC_GOOD_7_2}: In enum 'Enum':"]


def test_the_current_schema_gets_the_newer_rules_without_warnings(qemu_schema: Schema) -> None:
    # Its pragma.json declares 'documentation-exceptions', so newer rules are errors there.
    assert qemu_schema.warnings == ()


def test_cli_prints_warnings_and_succeeds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    argv = ["proto", str(_data(QGA_7_2)), "--out", str(out), "--package", "qga.v1"]
    assert main(argv) == 0
    err = capsys.readouterr().err.splitlines()
    vcpus = "argument 'vcpus' of command 'guest-set-vcpus' is not documented"
    assert f"{QGA_7_2}:803:15: warning: {vcpus}" in [line.split(";")[0] for line in err]
    assert (out / "qga" / "v1" / "service.proto").is_file()
    assert main([*argv, "--newer-rules", "error"]) == 1
    assert capsys.readouterr().err.splitlines()[-2:] == [
        f"{QGA_7_2}: In command 'guest-set-time':",
        f"{QGA_7_2}:157:1: 'Returns:' section, but command 'guest-set-time' returns nothing; "
        "remove the section or declare what it returns with 'returns'",
    ]


NEWER = "{ 'pragma': { 'doc-required': true, 'documentation-exceptions': [] } }\n"
OLD = "{ 'pragma': { 'doc-required': true } }\n"
RETURNS_NOTHING = "##\n# @do-it:\n#\n# Returns: nothing\n##\n{ 'command': 'do-it' }\n"


def test_documentation_exceptions_pragma_selects_the_newer_rules(
    write: Callable[..., Path],
) -> None:
    assert [str(w) for w in load_schema(write(OLD + RETURNS_NOTHING)).warnings] == [
        f"{write(OLD + RETURNS_NOTHING)}:5:1: warning: 'Returns:' section, but command 'do-it' "
        "returns nothing; remove the section or declare what it returns with 'returns'"
    ]
    with pytest.raises(SchemaError, match="returns nothing"):
        load_schema(write(NEWER + RETURNS_NOTHING))
    assert load_schema(write(NEWER + RETURNS_NOTHING), newer_rules="warn").warnings


def test_sections_after_a_detail_paragraph_are_a_newer_rule(write: Callable[..., Path]) -> None:
    thing = _doc("@Thing:", "", "A thing.") + "{ 'struct': 'Thing', 'data': {} }\n"
    doc = _doc("@do-it:", "", "Returns: a number", "", "More about it.", "", "Errors: none", "")
    text = thing + doc + "{ 'command': 'do-it', 'returns': 'Thing' }\n"
    late = "'Errors:' section follows a free paragraph that comes after another tagged section"
    assert [w.message.split(";")[0] for w in load_schema(write(OLD + text)).warnings] == [late]
    with pytest.raises(SchemaError, match=late):
        load_schema(write(NEWER + text))
    since = _doc("@do-it:", "", "Returns: a number", "", "More about it.", "", "Since: 1.0")
    accepted = thing + since + "{ 'command': 'do-it', 'returns': 'Thing' }\n"
    assert load_schema(write(NEWER + accepted)).warnings == ()
    # Today's QEMU also lets 'Features:' follow a section directly (7.2 did not).
    features = _doc("@foo:", "", "Since: 1.0", "", "Features:", "@deprecated: old")
    schema = load_schema(write(features + "{ 'command': 'foo', 'features': [ 'deprecated' ] }\n"))
    foo_doc = schema.lookup("foo").doc
    assert foo_doc is not None and foo_doc.feature("deprecated") == "old"


def _doc(*lines: str) -> str:
    return "\n".join(["##", *(f"# {line}".rstrip() for line in lines), "##"]) + "\n"


FOO = "{ 'command': 'foo', 'data': { 'a': 'int' } }\n"

# (id, schema text, line, column or None, message fragment); each is refused by
# QEMU 7.2 and by today's QEMU.
REFUSED: list[tuple[str, str, int, int | None, str]] = [
    (
        "if-list",
        "{ 'struct': 'TestIfStruct', 'data': { 'foo': 'int' },\n  'if': ['TEST_IF_STRUCT'] }\n",
        2,
        9,
        "'if' condition must be a string or an object, not a list",
    ),
    (
        "doc-bad-indent",
        _doc("@foo:", "@a: line one", "  line two", "line three is wrongly indented") + FOO,
        5,
        1,
        "unexpected de-indent (expected at least 2 spaces)",
    ),
    (
        "doc-bad-section",
        _doc("@Enum:", "== No good here", "@one: the one")
        + "{ 'enum': 'Enum', 'data': [ 'one' ] }\n",
        3,
        1,
        "unexpected '=' markup in definition documentation",
    ),
    ("doc-empty-section", _doc("@foo:", "", "Note:") + FOO, 4, 1, "empty doc section 'Note'"),
    (
        "doc-invalid-return",
        _doc("@FOO:", "Returns: blah") + "{ 'event': 'FOO' }\n",
        3,
        1,
        "'Returns:' section in the doc block of event 'FOO'; only commands have one",
    ),
    (
        "doc-description-after-paragraph",
        _doc("@foo:", "", "@a: one", "", "A paragraph.", "", "@b: two")
        + "{ 'command': 'foo', 'data': { 'a': 'int', 'b': 'int' } }\n",
        8,
        1,
        "description of '@b:' follows a free paragraph",
    ),
    (
        "doc-features-after-paragraph",
        _doc("@foo:", "", "@a: one", "", "A paragraph.", "", "Features:", "@deprecated: old")
        + "{ 'command': 'foo', 'data': { 'a': 'int' }, 'features': [ 'deprecated' ] }\n",
        8,
        1,
        "'Features:' follows a free paragraph",
    ),
    (
        "doc-undoc-feature",
        _doc("@foo:", "", "Features:", "@doc: documented feature")
        + "{ 'command': 'foo', 'features': ['undoc', 'doc'] }\n",
        7,
        34,
        "feature 'undoc' of command 'foo' is not documented",
    ),
    (
        "doc-bad-boxed-command-arg",
        _doc("@Args:", "@a: an argument")
        + "{ 'struct': 'Args', 'data': { 'a': 'int' } }\n"
        + _doc("@cmd-boxed:", "@a: bogus")
        + "{ 'command': 'cmd-boxed', 'boxed': true, 'data': 'Args' }\n",
        8,
        1,
        "a boxed command does not describe its arguments: describe them in the doc block of 'Args'",
    ),
]


@pytest.mark.parametrize(
    ("text", "line", "col", "fragment"), [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED]
)
def test_what_qemu_refuses_is_refused(
    write: Callable[..., Path], text: str, line: int, col: int | None, fragment: str
) -> None:
    path = write(text)
    with pytest.raises(SchemaError) as caught:
        load_schema(path)
    assert fragment in caught.value.message
    assert (caught.value.info.line, caught.value.info.col or None) == (line, col), str(caught.value)


def test_legacy_schemas_keep_their_forms(write: Callable[..., Path]) -> None:
    legacy = "{ 'pragma': { 'name-case-whitelist': [] } }\n"
    text = (
        _doc("@foo:", "@a: line one", "  line two", "line three, as QEMU 5.x allowed")
        + "{ 'command': 'foo', 'data': { 'a': 'int' }, 'if': ['CONFIG_A', 'CONFIG_B'] }\n"
    )
    schema = load_schema(write(legacy + text))
    assert schema.lookup("foo").cond is not None
    with pytest.raises(SchemaError, match="not a list"):
        load_schema(write(text))


def test_errors_show_includes_and_definition_like_qemu(write: Callable[..., Path]) -> None:
    root = write(
        "{ 'include': 'sub/a.json' }\n",
        files={
            "sub/a.json": "\n\n{ 'include': 'b.json' }\n",
            "sub/b.json": "{ 'struct': 'Foo', 'data': { 'a': 'Nope' } }\n",
        },
    )
    with pytest.raises(SchemaError) as caught:
        load_schema(root)
    sub = root.parent / "sub"
    assert str(caught.value).splitlines() == [
        f"In file included from {root}:1:",
        f"In file included from {sub}/a.json:3:",
        f"{sub}/b.json: In struct 'Foo':",
        f"{sub}/b.json:1:35: member 'a' of struct 'Foo' uses unknown type 'Nope'; "
        "define 'Nope' or fix the spelling",
    ]
