"""Valid schemas: what the front end builds from them."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from qapi_jobs.codegen.frontend import load_schema
from qapi_jobs.codegen.model import (
    BUILTIN_JSON_TYPES,
    Alternate,
    Branch,
    Builtin,
    Command,
    Enum,
    Event,
    Feature,
    IfAll,
    IfAny,
    IfName,
    IfNot,
    Member,
    Schema,
    Struct,
    TypeRef,
    Union,
)

HERE = Path(__file__).resolve().parent
FIXTURES = HERE / "fixtures"
PROJECT_ROOT = HERE.parents[2] / "qapi" / "qapi-schema.json"

EVERYTHING = """\
# A schema using every kind with every key.
{ 'enum': 'Color', 'prefix': 'COL',
  'data': [ 'red',
            { 'name': 'green', 'if': 'CONFIG_GREEN' },
            { 'name': 'blue', 'features': [ 'deprecated' ] },
            '2nd' ],
  'if': { 'not': 'CONFIG_MONO' }, 'features': [ 'fancy' ] }

{ 'struct': 'Base', 'data': { 'color': 'Color', '*note': 'str' } }

{ 'struct': 'Thing', 'base': 'Base',
  'data': { 'id': 'str',            # a comment inside an object
            '*tags': [ 'str' ],
            'size': { 'type': 'size', 'if': { 'all': [ 'CONFIG_A', 'CONFIG_B' ] },
                      'features': [ 'unstable' ] },
            '*next': 'Thing' },
  'if': 'CONFIG_THINGS', 'features': [ { 'name': 'fancy', 'if': 'CONFIG_FANCY' } ] }

{ 'struct': 'Empty', 'data': {} }

{ 'union': 'Shape', 'base': { 'kind': 'Color', '*label': 'str' },
  'discriminator': 'kind',
  'data': { 'blue': 'Thing', 'red': { 'type': 'Empty', 'if': 'CONFIG_RED' } } }

{ 'union': 'Inner', 'base': { 'which': 'Color' }, 'discriminator': 'which',
  'data': { 'red': 'Empty' } }

{ 'union': 'Named', 'base': 'Base', 'discriminator': 'color',
  'data': { 'green': 'Inner' } }

{ 'alternate': 'Value',
  'data': { 's': 'str', 'n': 'null', 'o': 'Thing', 'l': [ 'int' ] } }

{ 'alternate': 'Number',
  'data': { 'i': 'int', 'b': { 'type': 'bool', 'if': 'CONFIG_BOOL' }, 'c': 'QType' },
  'if': { 'any': [ 'CONFIG_X', 'CONFIG_Y' ] }, 'features': [ 'fancy' ] }

{ 'command': 'make-thing',
  'data': { 'id': 'str', '*color': 'Color' },
  'returns': 'Thing', 'allow-oob': true, 'allow-preconfig': true,
  'if': 'CONFIG_THINGS', 'features': [ 'deprecated', 'unstable' ] }

{ 'command': 'list-things', 'returns': [ 'Thing' ], 'coroutine': true }

{ 'command': 'raw-thing', 'data': 'Base', 'gen': false, 'success-response': false }

{ 'command': 'shape-it', 'data': 'Shape', 'boxed': true }

{ 'command': 'no-args', 'data': {} }

{ 'event': 'THING_MADE', 'data': { 'id': 'str' }, 'features': [ 'unstable' ] }

{ 'event': 'SHAPE_SEEN', 'data': 'Shape', 'boxed': true }

{ 'event': 'BASE_SEEN', 'data': 'Base', 'if': 'CONFIG_SEEN' }

{ 'event': 'PING' }
"""


@pytest.fixture
def everything(write: Callable[..., Path]) -> Schema:
    return load_schema(write(EVERYTHING))


def names(schema: Schema) -> list[str]:
    return [d.name for d in schema.definitions]


def test_builtins_come_first(everything: Schema) -> None:
    defs = everything.definitions
    builtins = [d for d in defs if isinstance(d, Builtin)]
    assert [d.name for d in builtins] == list(BUILTIN_JSON_TYPES)
    assert defs[: len(builtins)] == tuple(builtins)
    assert all(b.json_type == BUILTIN_JSON_TYPES[b.name] for b in builtins)
    qtype = defs[len(builtins)]
    assert isinstance(qtype, Enum) and qtype.name == "QType" and qtype.implicit
    assert qtype.value_names() == ("none", "qnull", "qnum", "qstring", "qdict", "qlist", "qbool")
    empty = defs[len(builtins) + 1]
    assert isinstance(empty, Struct) and empty.name == "q_empty"
    assert empty.implicit and empty.members == ()


def test_source_order_with_implicit_types(everything: Schema) -> None:
    user = names(everything)[len(BUILTIN_JSON_TYPES) + 2 :]
    assert user == [
        "Color",
        "Base",
        "Thing",
        "Empty",
        "q_obj_Shape-base",
        "Shape",
        "q_obj_Inner-base",
        "Inner",
        "Named",
        "Value",
        "Number",
        "q_obj_make-thing-arg",
        "make-thing",
        "list-things",
        "raw-thing",
        "shape-it",
        "no-args",
        "q_obj_THING_MADE-arg",
        "THING_MADE",
        "SHAPE_SEEN",
        "BASE_SEEN",
        "PING",
    ]
    implicit = [d.name for d in everything.definitions if d.implicit]
    assert implicit == [
        "QType",
        "q_empty",
        "q_obj_Shape-base",
        "q_obj_Inner-base",
        "q_obj_make-thing-arg",
        "q_obj_THING_MADE-arg",
    ]
    assert Counter(type(d).__name__ for d in everything.explicit()) == {
        "Enum": 1,
        "Struct": 3,
        "Union": 3,
        "Alternate": 2,
        "Command": 5,
        "Event": 4,
    }


def test_enum(everything: Schema) -> None:
    color = everything.lookup("Color")
    assert isinstance(color, Enum)
    assert color.prefix == "COL"
    assert color.value_names() == ("red", "green", "blue", "2nd")
    assert color.values[1].cond == IfName("CONFIG_GREEN")
    assert color.values[2].has_feature("deprecated")
    assert color.cond == IfNot(IfName("CONFIG_MONO"))
    assert color.features == (Feature("fancy", None, color.features[0].info),)
    assert color.module == "schema.json"
    assert color.info is not None and (color.info.line, color.info.col) == (2, 11)


def test_struct(everything: Schema) -> None:
    thing = everything.lookup("Thing")
    assert isinstance(thing, Struct)
    assert thing.base == "Base"
    assert thing.cond == IfName("CONFIG_THINGS")
    assert thing.features[0].name == "fancy"
    assert thing.features[0].cond == IfName("CONFIG_FANCY")
    ident, tags, size, nxt = thing.members
    assert ident == Member("id", TypeRef("str"))
    assert tags == Member("tags", TypeRef("str", is_array=True), optional=True)
    assert size.type == TypeRef("size")
    assert size.cond == IfAll((IfName("CONFIG_A"), IfName("CONFIG_B")))
    assert size.has_feature("unstable")
    assert nxt.type == TypeRef("Thing") and nxt.optional
    assert [m.name for m in everything.all_members(thing)] == [
        "color",
        "note",
        "id",
        "tags",
        "size",
        "next",
    ]
    assert ident.info is not None and (ident.info.line, ident.info.col) == (12, 13)


def test_union_with_inline_base(everything: Schema) -> None:
    shape = everything.lookup("Shape")
    assert isinstance(shape, Union)
    assert shape.base == "q_obj_Shape-base"
    assert shape.discriminator == "kind"
    base = everything.lookup(shape.base)
    assert isinstance(base, Struct) and base.implicit
    assert [m.name for m in base.members] == ["kind", "label"]
    # One branch per enum value, in enum order; unlisted ones are empty.
    assert shape.branches == (
        Branch("red", TypeRef("Empty"), IfName("CONFIG_RED")),
        Branch("green", TypeRef("q_empty"), IfName("CONFIG_GREEN"), implicit=True),
        Branch("blue", TypeRef("Thing")),
        Branch("2nd", TypeRef("q_empty"), implicit=True),
    )


def test_union_with_named_base_and_union_branch(everything: Schema) -> None:
    named = everything.lookup("Named")
    assert isinstance(named, Union)
    assert named.base == "Base"
    branch_types = {b.name: b.type.name for b in named.branches}
    assert branch_types == {"red": "q_empty", "green": "Inner", "blue": "q_empty", "2nd": "q_empty"}
    assert [m.name for m in everything.all_members(named)] == ["color", "note"]


def test_alternates(everything: Schema) -> None:
    value = everything.lookup("Value")
    assert isinstance(value, Alternate)
    assert [(b.name, str(b.type)) for b in value.branches] == [
        ("s", "str"),
        ("n", "null"),
        ("o", "Thing"),
        ("l", "[int]"),
    ]
    number = everything.lookup("Number")
    assert isinstance(number, Alternate)
    assert number.branches[1].cond == IfName("CONFIG_BOOL")
    assert number.cond == IfAny((IfName("CONFIG_X"), IfName("CONFIG_Y")))


def test_commands(everything: Schema) -> None:
    make = everything.lookup("make-thing")
    assert isinstance(make, Command)
    assert make.arg_type == "q_obj_make-thing-arg"
    assert [m.name for m in everything.arguments(make)] == ["id", "color"]
    assert make.returns == TypeRef("Thing")
    assert (make.allow_oob, make.allow_preconfig, make.coroutine) == (True, True, False)
    assert make.gen and make.success_response and not make.boxed
    assert make.has_feature("deprecated") and make.has_feature("unstable")
    arg = everything.lookup("q_obj_make-thing-arg")
    assert arg.cond == IfName("CONFIG_THINGS") and arg.module == "schema.json"

    listing = everything.lookup("list-things")
    assert isinstance(listing, Command)
    assert listing.arg_type is None and listing.returns == TypeRef("Thing", is_array=True)
    assert listing.coroutine

    raw = everything.lookup("raw-thing")
    assert isinstance(raw, Command)
    assert raw.arg_type == "Base" and not raw.gen and not raw.success_response
    assert [m.name for m in everything.arguments(raw)] == ["color", "note"]

    boxed = everything.lookup("shape-it")
    assert isinstance(boxed, Command)
    assert boxed.boxed and boxed.arg_type == "Shape"
    assert [m.name for m in everything.arguments(boxed)] == ["kind", "label"]

    no_args = everything.lookup("no-args")
    assert isinstance(no_args, Command) and no_args.arg_type is None


def test_events(everything: Schema) -> None:
    made = everything.lookup("THING_MADE")
    assert isinstance(made, Event)
    assert made.arg_type == "q_obj_THING_MADE-arg" and made.has_feature("unstable")
    seen = everything.lookup("SHAPE_SEEN")
    assert isinstance(seen, Event) and seen.boxed and seen.arg_type == "Shape"
    base_seen = everything.lookup("BASE_SEEN")
    assert isinstance(base_seen, Event) and base_seen.arg_type == "Base"
    ping = everything.lookup("PING")
    assert isinstance(ping, Event) and ping.arg_type is None and everything.arguments(ping) == ()


def test_model_is_frozen(everything: Schema) -> None:
    with pytest.raises(AttributeError):
        everything.lookup("Color").name = "Other"  # type: ignore[misc]


def test_lexical_corners(write: Callable[..., Path]) -> None:
    path = write(
        "{ 'pragma': { 'member-name-exceptions': [ 'Odd' ] } }\n"
        "{ 'enum': 'Odd', # a comment holding { [ ' characters\n"
        "  'data': [ 'a-b', # a comment between values\n"
        "            { 'name': '__org.qemu_x-val', 'if': 'CONFIG_A' },\n"
        "  ## inside an expression even '##' is an ordinary comment\n"
        "            'Upper_case', '2_5' ] }\n"
    )
    odd = load_schema(path).lookup("Odd")
    assert isinstance(odd, Enum)
    assert odd.value_names() == ("a-b", "__org.qemu_x-val", "Upper_case", "2_5")


def test_escaped_backslash_and_hash_in_string(write: Callable[..., Path]) -> None:
    schema = load_schema(
        write(
            "##\n"
            "# @Thing:\n"
            "##\n"
            "{ 'struct': 'Thing', 'data': { 'x': 'str' }, 'if': 'defined(A) && B' }\n"
            "{ 'command': 'do-it', 'data': { 'x': 'Thing' },  # 'not a string\n"
            "  'features': [ { 'name': 'feat', 'if': { 'not': 'A' } } ] }\n"
        )
    )
    thing = schema.lookup("Thing")
    assert thing.cond == IfName("defined(A) && B")
    command = schema.lookup("do-it")
    assert command.features[0].cond == IfNot(IfName("A"))


def test_backslash_escape_in_string(write: Callable[..., Path]) -> None:
    path = write("{ 'enum': 'Esc', 'data': [ 'a' ], 'prefix': 'X\\\\Y#Z' }\n")
    esc = load_schema(path).lookup("Esc")
    assert isinstance(esc, Enum) and esc.prefix == "X\\Y#Z"


def test_downstream_and_experimental_names(write: Callable[..., Path]) -> None:
    schema = load_schema(
        write(
            "{ 'pragma': { 'command-name-exceptions': [ 'do_it' ] } }\n"
            "{ 'struct': '__org.qemu_x-Thing', 'data': { '__org.qemu_x-member': 'str',\n"
            "  'x-experimental': 'int' } }\n"
            "{ 'command': '__com.example_x-go', 'data': '__org.qemu_x-Thing' }\n"
            "{ 'command': 'do_it' }\n"
            "{ 'event': '__org.qemu_X_EVENT' }\n"
            "{ 'enum': 'Digits', 'data': [ '16', '2-5' ] }\n"
        )
    )
    assert [d.name for d in schema.explicit()] == [
        "__org.qemu_x-Thing",
        "__com.example_x-go",
        "do_it",
        "__org.qemu_X_EVENT",
        "Digits",
    ]


def test_conditions_of_every_form(write: Callable[..., Path]) -> None:
    schema = load_schema(
        write(
            "{ 'struct': 'Aa', 'data': {}, 'if': 'CONFIG_A' }\n"
            "{ 'struct': 'Bb', 'data': {},\n"
            "  'if': { 'all': [ 'X', { 'any': [ 'Y', { 'not': 'Z' } ] } ] } }\n"
            "{ 'struct': 'Cc', 'data': {}, 'if': 'defined(CONFIG_SPICE)' }\n"
            "{ 'struct': 'Dd', 'data': {}, 'if': [ 'defined(A)', 'defined(B)' ] }\n"
            "{ 'struct': 'Ee', 'data': {}, 'if': [ 'defined(A)' ] }\n"
        )
    )
    conds = {d.name: d.cond for d in schema.explicit()}
    assert conds == {
        "Aa": IfName("CONFIG_A"),
        "Bb": IfAll((IfName("X"), IfAny((IfName("Y"), IfNot(IfName("Z")))))),
        "Cc": IfName("defined(CONFIG_SPICE)"),
        "Dd": IfAll((IfName("defined(A)"), IfName("defined(B)"))),
        "Ee": IfName("defined(A)"),
    }


def test_features_everywhere(write: Callable[..., Path]) -> None:
    schema = load_schema(
        write(
            "{ 'enum': 'Ee', 'data': [ { 'name': 'v', 'features': [ 'unstable' ] } ],\n"
            "  'features': [ 'custom' ] }\n"
            "{ 'struct': 'Ss', 'data': { 'm': { 'type': 'int',\n"
            "  'features': [ 'deprecated', { 'name': 'custom', 'if': 'CONFIG_C' } ] } } }\n"
            "{ 'event': 'EV', 'features': [ 'deprecated' ] }\n"
        )
    )
    enum = schema.lookup("Ee")
    assert isinstance(enum, Enum)
    assert enum.has_feature("custom") and enum.values[0].has_feature("unstable")
    struct = schema.lookup("Ss")
    assert isinstance(struct, Struct)
    member = struct.members[0]
    assert [(f.name, f.cond) for f in member.features] == [
        ("deprecated", None),
        ("custom", IfName("CONFIG_C")),
    ]
    assert schema.lookup("EV").has_feature("deprecated")


def test_forward_references_across_files(write: Callable[..., Path]) -> None:
    # 'early.json' uses a type that only the root defines, after the include.
    root = write(
        "{ 'include': 'early.json' }\n{ 'struct': 'Late', 'data': {} }\n",
        files={"early.json": "{ 'struct': 'Early', 'data': { 'x': 'Late' } }\n"},
    )
    schema = load_schema(root)
    assert [d.name for d in schema.explicit()] == ["Early", "Late"]
    assert schema.lookup("Early").module == "early.json"


def test_includes_are_relative_and_read_once(
    write: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = write(
        "##\n# = Root\n##\n"
        "{ 'include': 'sub/a.json' }\n"
        "{ 'include': 'sub/b.json' }\n"
        "{ 'include': 'sub/a.json' }\n"
        "{ 'struct': 'Root', 'data': { 'a': 'Aa', 'b': 'Bb', 'c': 'Cc' } }\n",
        name="top/root.json",
        files={
            "top/sub/a.json": "{ 'include': 'b.json' }\n{ 'struct': 'Aa', 'data': {} }\n",
            "top/sub/b.json": "{ 'include': '../common/c.json' }\n{ 'struct': 'Bb', 'data': {} }\n",
            "top/common/c.json": (
                "##\n# == Common\n##\n\n##\n# @Cc:\n##\n{ 'struct': 'Cc', 'data': {} }\n"
            ),
        },
    )
    monkeypatch.chdir(root.parent.parent)
    schema = load_schema("top/root.json")
    assert [(d.name, d.module) for d in schema.explicit()] == [
        ("Cc", "common/c.json"),
        ("Bb", "sub/b.json"),
        ("Aa", "sub/a.json"),
        ("Root", "root.json"),
    ]
    cc = schema.lookup("Cc")
    assert cc.info is not None and cc.info.file == "top/common/c.json"
    assert (cc.info.line, cc.info.col) == (8, 13)
    root_info = schema.lookup("Root").info
    assert root_info is not None and root_info.file == "top/root.json"
    modules = {m.name: m for m in schema.modules}
    assert list(modules) == ["root.json", "sub/a.json", "sub/b.json", "common/c.json"]
    assert modules["root.json"].includes == ("sub/a.json", "sub/b.json")
    assert modules["sub/b.json"].includes == ("common/c.json",)
    assert [f.text for f in modules["root.json"].free_docs] == ["= Root"]
    assert [f.text for f in modules["common/c.json"].free_docs] == ["== Common"]


def test_simple_union_is_read_as_flat_union(write: Callable[..., Path]) -> None:
    schema = load_schema(
        write(
            "{ 'struct': 'Ss', 'data': { 'x': 'int' } }\n"
            "{ 'union': 'Old', 'data': { 'one': 'Ss', 'many': [ 'str' ],\n"
            "  'maybe': { 'type': 'int', 'if': 'CONFIG_M' } } }\n"
        )
    )
    old = schema.lookup("Old")
    assert isinstance(old, Union)
    assert (old.base, old.discriminator) == ("q_obj_Old-base", "type")
    kind = schema.lookup("OldKind")
    assert isinstance(kind, Enum) and kind.implicit
    assert kind.value_names() == ("one", "many", "maybe")
    assert [(b.name, b.type.name, b.cond) for b in old.branches] == [
        ("one", "q_obj_Ss-wrapper", None),
        ("many", "q_obj_strList-wrapper", None),
        ("maybe", "q_obj_int-wrapper", IfName("CONFIG_M")),
    ]
    wrapper = schema.lookup("q_obj_strList-wrapper")
    assert isinstance(wrapper, Struct)
    assert wrapper.members == (Member("data", TypeRef("str", is_array=True)),)
    assert [d.name for d in schema.explicit()] == ["Ss", "Old"]


def test_legacy_pragma_names(write: Callable[..., Path]) -> None:
    schema = load_schema(
        write(
            "{ 'pragma': { 'returns-whitelist': [ 'get-num' ],\n"
            "              'name-case-whitelist': [ 'Loud', 'old_cmd' ] } }\n"
            "{ 'command': 'get-num', 'returns': 'int' }\n"
            "{ 'command': 'old_cmd' }\n"
            "{ 'enum': 'Loud', 'data': [ 'ABC' ] }\n"
        )
    )
    assert schema.pragmas.command_returns_exceptions == ("get-num",)
    assert "Loud" in schema.pragmas.member_name_exceptions
    assert "old_cmd" in schema.pragmas.command_name_exceptions


def test_pragmas_accumulate(write: Callable[..., Path]) -> None:
    schema = load_schema(
        write(
            "{ 'pragma': { 'doc-required': false,\n"
            "  'command-name-exceptions': [ 'a_b' ] } }\n"
            "{ 'pragma': { 'command-name-exceptions': [ 'c_d' ],\n"
            "  'documentation-exceptions': [ 'X' ], 'member-name-exceptions': [] } }\n"
        )
    )
    assert schema.pragmas.command_name_exceptions == ("a_b", "c_d")
    assert schema.pragmas.documentation_exceptions == ("X",)
    assert not schema.pragmas.doc_required


def test_documentation_exceptions_excuse_members(write: Callable[..., Path]) -> None:
    schema = load_schema(
        write(
            "{ 'pragma': { 'doc-required': true, 'documentation-exceptions': [ 'Foo' ] } }\n"
            "##\n# @Foo:\n##\n"
            "{ 'struct': 'Foo', 'data': { 'a': 'str' } }\n"
        )
    )
    assert schema.pragmas.doc_required
    assert schema.lookup("Foo").doc is not None


def test_missing_docs_are_fine_without_doc_required(write: Callable[..., Path]) -> None:
    schema = load_schema(
        write(
            "{ 'struct': 'NoDoc', 'data': { 'a': 'str' } }\n"
            "##\n# @Partial:\n#\n# @a: one\n##\n"
            "{ 'struct': 'Partial', 'data': { 'a': 'str', 'b': 'str' } }\n"
        )
    )
    assert schema.lookup("NoDoc").doc is None
    partial = schema.lookup("Partial").doc
    assert partial is not None and partial.member("b") == ""


# --- real schemas -------------------------------------------------------------------


def test_qemu_schema_counts(qemu_schema: Schema) -> None:
    counts = Counter(type(d).__name__ for d in qemu_schema.explicit())
    assert counts == {
        "Enum": 182,
        "Struct": 478,
        "Union": 43,
        "Alternate": 6,
        "Command": 243,
        "Event": 57,
    }


def test_qemu_schema_implicit_types(qemu_schema: Schema) -> None:
    implicit = [d for d in qemu_schema.definitions if d.implicit and isinstance(d, Struct)]
    assert sum(d.name.endswith("-arg") for d in implicit) == 177
    assert sum(d.name.endswith("-base") for d in implicit) == 38
    unions = list(qemu_schema.of_kind(Union))
    assert sum(b.implicit for u in unions for b in u.branches) == 185
    assert sum(any(b.implicit for b in u.branches) for u in unions) == 18
    # Every union has one branch per discriminator value, in enum order.
    for union in unions:
        base_members = qemu_schema.all_members(union)
        tag = next(m for m in base_members if m.name == union.discriminator)
        enum = qemu_schema.lookup(tag.type.name)
        assert isinstance(enum, Enum)
        assert tuple(b.name for b in union.branches) == enum.value_names()


def test_qemu_schema_members_and_docs(qemu_schema: Schema) -> None:
    structs = [d for d in qemu_schema.of_kind(Struct) if d.name != "q_empty"]
    members = [m for s in structs for m in s.members]
    assert len(members) == 2326
    assert sum(m.optional for m in members) == 1128
    assert qemu_schema.pragmas.doc_required
    assert "block_resize" in qemu_schema.pragmas.command_name_exceptions
    assert all(d.doc is not None for d in qemu_schema.explicit())
    assert len(qemu_schema.modules) == 46
    backup = qemu_schema.lookup("blockdev-backup")
    assert backup.doc is not None
    assert backup.doc.section("Since") == "2.3"
    assert backup.doc.section("Errors").startswith("- If @device is not a valid block device")
    assert ".. qmp-example::" in backup.doc.section("")
    alternate = qemu_schema.lookup("StrOrNull")
    assert alternate.doc is not None and alternate.doc.member("n") == "no string value"


def test_qemu_5_1_job_json(tmp_path: Path) -> None:
    schema = load_schema(FIXTURES / "qemu-5.1-job.json")
    assert [type(d).__name__ for d in schema.explicit()] == [
        "Enum",
        "Enum",
        "Enum",
        "Event",
        "Command",
        "Command",
        "Command",
        "Command",
        "Command",
        "Command",
        "Struct",
        "Command",
    ]
    status = schema.lookup("JobStatus")
    assert status.doc is not None
    # Aligned continuation lines lose their alignment.
    assert status.doc.member("paused") == (
        "The job is running, but paused. The pause may be requested by\n"
        "either the QMP user or by internal processes."
    )
    # The legacy '@id :' form still describes member 'id'.
    resume = schema.lookup("job-resume")
    assert resume.doc is not None and resume.doc.member("id") == "The job identifier."
    info = schema.lookup("JobInfo")
    assert info.doc is not None
    assert info.doc.member("error").endswith("It should not be parsed\nby applications.")
    assert "\n\nThe value is a human-readable" in info.doc.member("error")
    query = schema.lookup("query-jobs")
    assert isinstance(query, Command) and query.returns == TypeRef("JobInfo", is_array=True)
    assert query.doc is not None
    assert query.doc.section("Returns") == "a list with a @JobInfo for each active job"
    assert [f.text for f in schema.modules[0].free_docs] == ["== Background jobs"]


def test_project_schema() -> None:
    schema = load_schema(PROJECT_ROOT)
    assert schema.pragmas.doc_required
    explicit = list(schema.explicit())
    assert explicit
    assert all(d.doc is not None for d in explicit)
    assert schema.modules[0].name == "qapi-schema.json"
    assert {d.module for d in explicit} <= {m.name for m in schema.modules}
    assert isinstance(schema.lookup("JobStatus"), Enum)


def test_legacy_style_fixture() -> None:
    schema = load_schema(FIXTURES / "legacy-style.json")
    assert [d.name for d in schema.explicit()] == [
        "LegacyMode",
        "LegacyBox",
        "LegacyChoice",
        "query-level",
        "legacy_reset",
    ]
    mode = schema.lookup("LegacyMode")
    assert mode.doc is not None
    assert mode.doc.member("slow_and_steady") == "one step at a time,\nnever hurrying"
    box = schema.lookup("LegacyBox")
    assert box.cond == IfAll((IfName("defined(CONFIG_BOX)"), IfName("defined(CONFIG_LEGACY)")))
    assert isinstance(box, Struct)
    assert box.members[1].cond == IfName("defined(CONFIG_SPICE)")
    assert box.doc is not None
    assert box.doc.member("size") == "how big the box is,\nin bytes"
    assert box.doc.section("Note") == "the box may be empty."
    choice = schema.lookup("LegacyChoice")
    assert isinstance(choice, Union) and choice.discriminator == "type"
    # The generated 'type' member needs no description under doc-required.
    assert choice.doc is not None and choice.doc.member("type") == ""
    level = schema.lookup("query-level")
    assert level.doc is not None
    assert level.doc.section("Example").endswith("\n\nThe level never goes down.")
    reset = schema.lookup("legacy_reset")
    assert reset.cond == IfName("defined(CONFIG_LEGACY) && !defined(CONFIG_NEW)")
    assert reset.doc is not None and reset.doc.section("Returns") == "nothing on success"
