"""Invalid schemas: each must fail at the right line and column with a
message that says what is wrong."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from qapi_jobs.codegen.errors import SchemaError
from qapi_jobs.codegen.frontend import load_schema
from qapi_jobs.codegen.model import SourceInfo


def lines(*rows: str) -> str:
    return "\n".join(rows) + "\n"


KIND_ENUM = "{ 'enum': 'Kind', 'data': [ 'a', 'b' ] }"
STRUCT_SA = "{ 'struct': 'Sa', 'data': { 'x': 'int' } }"


def union(base: str = "{ 'kind': 'Kind' }", disc: str = "kind", data: str = "{ 'a': 'Sa' }") -> str:
    """Lines 3-6 of a union schema after KIND_ENUM and STRUCT_SA."""
    return lines(
        KIND_ENUM,
        STRUCT_SA,
        "{ 'union': 'Un',",
        f"  'base': {base},",
        f"  'discriminator': '{disc}',",
        f"  'data': {data} }}",
    )


DOC_REQUIRED = "{ 'pragma': { 'doc-required': true } }"
# Selects the rules QEMU added after 7.2 as errors (see codegen/releases.py).
NEWER = "{ 'pragma': { 'documentation-exceptions': [] } }"
DOC_REQUIRED_NEWER = "{ 'pragma': { 'doc-required': true, 'documentation-exceptions': [] } }"

# (id, schema text, line, column or None, fragment of the message)
CASES: list[tuple[str, str, int, int | None, str]] = [
    # --- lexing -----------------------------------------------------------------
    ("number", "{ 'enum': 'Foo', 'data': [ 1 ] }", 1, 28, "stray '1'; QAPI has no numbers"),
    ("null", "{ 'struct': 'Foo', 'data': null }", 1, 28, "stray 'null'"),
    ("double-quotes", "{ \"enum\": 'Foo' }", 1, 3, "single quotes"),
    ("bad-escape", "{ 'enum': 'Fo\\o', 'data': [] }", 1, 14, "unknown escape '\\o'"),
    ("escaped-quote", "{ 'enum': 'Fo\\'o', 'data': [] }", 1, 14, "unknown escape"),
    ("unterminated-string", lines("{ 'enum': 'Foo',", "  'data': [ 'a ] }"), 2, 13, "not closed"),
    ("non-ascii-in-string", "{ 'enum': 'F\u00f6o', 'data': [] }", 1, 13, "not allowed in a string"),
    ("control-char-in-string", "{ 'enum': 'F\x01o', 'data': [] }", 1, 13, "U+0001"),
    ("tab-column", lines("{ 'enum': 'Foo',", "\t'data': [ 1 ] }"), 2, 19, "stray '1'"),
    ("tab-mid-line", "{ 'enum':\t1 }", 1, 17, "stray '1'"),
    ("non-ascii-outside", "{ 'enum': 'Foo', 'data': [] } \u00e9", 1, 31, "stray '\u00e9'"),
    # --- syntax -----------------------------------------------------------------
    ("missing-colon", "{ 'enum' 'Foo' }", 1, 10, "expected ':' after key 'enum'"),
    ("missing-comma", "{ 'enum': 'Foo' 'data': [] }", 1, 17, "expected ',' or '}'"),
    ("trailing-comma-object", "{ 'enum': 'Foo', 'data': [], }", 1, 30, "remove the trailing ','"),
    ("trailing-comma-array", "{ 'enum': 'Foo', 'data': [ 'a', ] }", 1, 33, "trailing ','"),
    ("leading-comma", "{ , 'enum': 'Foo' }", 1, 3, "expected a 'key'"),
    ("duplicate-key", "{ 'enum': 'Foo', 'data': [], 'data': [] }", 1, 30, "duplicate key 'data'"),
    (
        "unclosed-object",
        lines("{ 'enum': 'Foo',", "  'data': [ 'a' ]"),
        1,
        1,
        "'{' is never closed",
    ),
    ("unclosed-array", "{ 'enum': 'Foo', 'data': [ 'a'", 1, 26, "'[' is never closed"),
    ("top-level-array", lines("# comment", "[ 'a' ]"), 2, 1, "must be an object"),
    ("top-level-string", "'enum'", 1, 1, "must be an object"),
    ("missing-value", "{ 'enum': }", 1, 11, "expected a value, found '}'"),
    # --- expression structure -------------------------------------------------------
    ("no-kind-key", "{ 'data': [] }", 1, 1, "exactly one of the keys"),
    ("legacy-type-key", "{ 'type': 'Foo', 'data': {} }", 1, 1, "'type' was renamed 'struct'"),
    (
        "two-kind-keys",
        "{ 'enum': 'Foo', 'struct': 'Bar', 'data': [] }",
        1,
        18,
        "both 'enum' and 'struct'",
    ),
    (
        "name-not-string",
        "{ 'enum': [ 'Foo' ], 'data': [] }",
        1,
        11,
        "must be followed by a name string",
    ),
    ("unknown-key", "{ 'struct': 'Foo', 'data': {}, 'bsae': 'Bar' }", 1, 32, "did you mean 'base'"),
    ("missing-key", "{ 'enum': 'Foo' }", 1, 1, "enum 'Foo' misses key 'data'"),
    ("enum-data-object", "{ 'enum': 'Foo', 'data': {} }", 1, 26, "must be an array of values"),
    (
        "struct-data-array",
        "{ 'struct': 'Foo', 'data': [] }",
        1,
        28,
        "must be an object mapping member",
    ),
    (
        "array-two-types",
        lines("{ 'struct': 'Foo',", "  'data': { 'a': [ 'str', 'int' ] } }"),
        2,
        18,
        "exactly one type name",
    ),
    (
        "array-of-array",
        lines("{ 'struct': 'Foo',", "  'data': { 'a': [ [ 'str' ] ] } }"),
        2,
        18,
        "no arrays of arrays",
    ),
    (
        "longhand-member-no-type",
        lines("{ 'struct': 'Foo',", "  'data': { 'a': { 'if': 'CONFIG_A' } } }"),
        2,
        18,
        "misses key 'type'",
    ),
    (
        "member-bool",
        lines("{ 'struct': 'Foo',", "  'data': { 'a': true } }"),
        2,
        18,
        "must be a type name or an array",
    ),
    ("union-branch-array", union(data="{ 'a': [ 'Sa' ] }"), 6, 18, "not an array"),
    ("alternate-empty", "{ 'alternate': 'Alt', 'data': {} }", 1, 31, "is empty"),
    ("boxed-without-data", "{ 'command': 'do-it', 'boxed': true }", 1, 23, "needs 'data'"),
    (
        "boxed-inline-data",
        "{ 'command': 'do-it', 'boxed': true, 'data': { 'a': 'str' } }",
        1,
        46,
        "must name a struct or union",
    ),
    ("gen-true", "{ 'command': 'do-it', 'gen': true }", 1, 30, "flag 'gen' may only be false"),
    ("boxed-false", "{ 'event': 'DONE', 'boxed': false }", 1, 29, "flag 'boxed' may only be true"),
    (
        "oob-and-coroutine",
        "{ 'command': 'do-it', 'allow-oob': true, 'coroutine': true }",
        1,
        42,
        "cannot be combined",
    ),
    (
        "flag-string",
        "{ 'command': 'do-it', 'allow-preconfig': 'yes' }",
        1,
        42,
        "flag 'allow-preconfig' may only be true",
    ),
    (
        "command-data-array",
        "{ 'command': 'do-it', 'data': [ 'a' ] }",
        1,
        31,
        "must be an object of arguments or a type name",
    ),
    (
        "enum-value-bool",
        "{ 'enum': 'Foo', 'data': [ true ] }",
        1,
        28,
        "must be a string or an object",
    ),
    (
        "enum-prefix-bool",
        "{ 'enum': 'Foo', 'data': [], 'prefix': true }",
        1,
        40,
        "must be a string",
    ),
    (
        "enum-value-unknown-key",
        "{ 'enum': 'Foo', 'data': [ { 'name': 'a', 'iff': 'X' } ] }",
        1,
        43,
        "unknown key 'iff'",
    ),
    # --- names --------------------------------------------------------------------
    ("type-lower-case", "{ 'struct': 'foo', 'data': {} }", 1, 13, "must be CamelCase"),
    ("type-ends-in-list", "{ 'struct': 'FooList', 'data': {} }", 1, 13, "must not end in 'List'"),
    ("q-prefix", "{ 'command': 'q-foo' }", 1, 14, "reserved for the generator"),
    ("command-underscore", "{ 'command': 'do_it' }", 1, 14, "'command-name-exceptions'"),
    ("command-upper", "{ 'command': 'Do-it' }", 1, 14, "must be lower case"),
    ("event-lower", "{ 'event': 'job-done' }", 1, 12, "(e.g. 'JOB_DONE')"),
    (
        "member-upper",
        lines("{ 'struct': 'Foo',", "  'data': { 'Foo': 'str' } }"),
        2,
        13,
        "lower case",
    ),
    ("member-u", lines("{ 'struct': 'Foo',", "  'data': { 'u': 'str' } }"), 2, 13, "reserved name"),
    (
        "member-has",
        lines("{ 'struct': 'Foo',", "  'data': { '*has-a': 'str' } }"),
        2,
        13,
        "reserved name",
    ),
    (
        "member-space",
        lines("{ 'struct': 'Foo',", "  'data': { 'a b': 'str' } }"),
        2,
        13,
        "invalid name",
    ),
    ("enum-value-empty", "{ 'enum': 'Foo', 'data': [ '' ] }", 1, 28, "invalid name"),
    ("enum-value-upper", "{ 'enum': 'Foo', 'data': [ 'ABC' ] }", 1, 28, "member-name-exceptions"),
    ("enum-value-twice", "{ 'enum': 'Foo', 'data': [ 'a', 'a' ] }", 1, 33, "listed twice"),
    (
        "enum-value-c-clash",
        lines(
            "{ 'pragma': { 'member-name-exceptions': [ 'Foo' ] } }",
            "{ 'enum': 'Foo', 'data': [ '2-5', '2_5' ] }",
        ),
        2,
        35,
        "clashes with value '2-5' (both are '2_5' in C)",
    ),
    (
        "member-c-clash",
        lines(
            "{ 'pragma': { 'member-name-exceptions': [ 'Foo' ] } }",
            "{ 'struct': 'Foo', 'data': { 'a-b': 'str', 'a_b': 'int' } }",
        ),
        2,
        44,
        "both are 'a_b' in C",
    ),
    (
        "alternate-branch-upper",
        "{ 'alternate': 'Alt', 'data': { 'S': 'str' } }",
        1,
        33,
        "lower case",
    ),
    (
        "feature-upper",
        "{ 'struct': 'Foo', 'data': {}, 'features': [ 'Bad' ] }",
        1,
        46,
        "feature 'Bad' of struct 'Foo' must be lower case",
    ),
    # --- conditions ---------------------------------------------------------------
    (
        "if-lower-case",
        "{ 'struct': 'Foo', 'data': {}, 'if': 'config_x' }",
        1,
        38,
        "'config_x' of struct 'Foo' is not a valid identifier",
    ),
    (
        "if-two-operators",
        "{ 'struct': 'Foo', 'data': {}, 'if': { 'all': ['A'], 'any': ['B'] } }",
        1,
        38,
        "exactly one of 'all', 'any', 'not'",
    ),
    (
        "if-unknown-operator",
        "{ 'struct': 'Foo', 'data': {}, 'if': { 'and': [ 'A' ] } }",
        1,
        40,
        "unknown operator 'and'",
    ),
    ("if-empty-all", "{ 'struct': 'Foo', 'data': {}, 'if': { 'all': [] } }", 1, 47, "no operands"),
    (
        "if-all-string",
        "{ 'struct': 'Foo', 'data': {}, 'if': { 'all': 'A' } }",
        1,
        47,
        "must be an array",
    ),
    ("if-empty-list", "{ 'struct': 'Foo', 'data': {}, 'if': [] }", 1, 38, "not a list"),
    (
        "if-bool",
        "{ 'struct': 'Foo', 'data': {}, 'if': true }",
        1,
        38,
        "must be a string or an object",
    ),
    (
        "if-nested-bad",
        "{ 'struct': 'Foo', 'data': {}, 'if': { 'not': { 'any': [ 'ok', 'A' ] } } }",
        1,
        58,
        "'ok'",
    ),
    # --- features ---------------------------------------------------------------------
    ("features-string", "{ 'command': 'do-it', 'features': 'x' }", 1, 35, "must be an array"),
    ("feature-twice", "{ 'command': 'do-it', 'features': [ 'a', 'a' ] }", 1, 42, "listed twice"),
    (
        "deprecated-on-struct",
        "{ 'struct': 'Foo', 'data': {}, 'features': [ 'deprecated' ] }",
        1,
        46,
        "feature 'deprecated' is not supported on types",
    ),
    (
        "unstable-on-enum",
        "{ 'enum': 'Foo', 'data': [], 'features': [ 'unstable' ] }",
        1,
        44,
        "not supported on types",
    ),
    (
        "feature-without-name",
        "{ 'command': 'do-it', 'features': [ { 'if': 'A' } ] }",
        1,
        37,
        "misses key 'name'",
    ),
    (
        "feature-unknown-key",
        "{ 'command': 'do-it', 'features': [ { 'name': 'a', 'iff': 'A' } ] }",
        1,
        52,
        "unknown key 'iff'",
    ),
    (
        "feature-bool",
        "{ 'command': 'do-it', 'features': [ true ] }",
        1,
        37,
        "name string or an object",
    ),
    # --- types and references -----------------------------------------------------------
    (
        "unknown-member-type",
        lines("{ 'struct': 'Bar',", "  'data': { 'foo': 'Baz' } }"),
        2,
        20,
        "member 'foo' of struct 'Bar' uses unknown type 'Baz'; define 'Baz' or fix the spelling",
    ),
    (
        "unknown-type-close-match",
        lines(
            "{ 'struct': 'Bazz', 'data': {} }", "{ 'struct': 'Bar',", "  'data': { 'foo': 'Baz' } }"
        ),
        3,
        20,
        "did you mean 'Bazz'?",
    ),
    (
        "unknown-array-element",
        lines("{ 'struct': 'Bar',", "  'data': { 'foo': [ 'Nope' ] } }"),
        2,
        22,
        "uses unknown type 'Nope'",
    ),
    (
        "list-type-name",
        lines("{ 'struct': 'Bar',", "  'data': { 'foo': 'strList' } }"),
        2,
        20,
        "write ['str']",
    ),
    (
        "command-as-type",
        lines("{ 'command': 'do-it' }", "{ 'struct': 'Bar',", "  'data': { 'foo': 'do-it' } }"),
        3,
        20,
        "which is a command, not a type",
    ),
    (
        "redefinition",
        lines("{ 'struct': 'Foo', 'data': {} }", "{ 'struct': 'Foo', 'data': {} }"),
        2,
        13,
        "'Foo' is already defined (struct at ",
    ),
    (
        "redefine-qtype",
        "{ 'enum': 'QType', 'data': [] }",
        1,
        11,
        "already defined (enum as a built-in)",
    ),
    (
        "base-not-struct",
        lines(KIND_ENUM, "{ 'struct': 'Sub', 'base': 'Kind', 'data': {} }"),
        2,
        28,
        "'base' of struct 'Sub' must be a struct, but 'Kind' is an enum",
    ),
    (
        "base-unknown",
        "{ 'struct': 'Sub', 'base': 'Nope', 'data': {} }",
        1,
        28,
        "unknown type 'Nope'",
    ),
    (
        "base-cycle",
        lines(
            "{ 'struct': 'Aa', 'base': 'Bb', 'data': {} }",
            "{ 'struct': 'Bb', 'base': 'Aa', 'data': {} }",
        ),
        1,
        27,
        "struct 'Aa' contains itself through its bases (Aa -> Bb -> Aa)",
    ),
    (
        "base-member-clash",
        lines(
            "{ 'struct': 'Base', 'data': { 'a': 'str' } }",
            "{ 'struct': 'Sub', 'base': 'Base', 'data': { 'a': 'int' } }",
        ),
        2,
        46,
        "member 'a' of struct 'Sub' clashes with member 'a' inherited from 'Base'",
    ),
    (
        "returns-str",
        "{ 'command': 'get-it', 'returns': 'str' }",
        1,
        35,
        "'command-returns-exceptions'",
    ),
    (
        "returns-enum-array",
        lines(KIND_ENUM, "{ 'command': 'get-it', 'returns': [ 'Kind' ] }"),
        2,
        37,
        "returns '[Kind]'",
    ),
    (
        "command-data-enum",
        lines(KIND_ENUM, "{ 'command': 'do-it', 'data': 'Kind' }"),
        2,
        31,
        "must name a struct (or a union, with 'boxed': true), but 'Kind' is an enum",
    ),
    (
        "command-data-union-unboxed",
        union() + "{ 'command': 'do-it', 'data': 'Un' }\n",
        7,
        31,
        "names union 'Un', which needs 'boxed': true",
    ),
    (
        "conditional-argument",
        lines(
            NEWER, "{ 'command': 'do-it', 'data': { 'a': { 'type': 'str', 'if': 'CONFIG_A' } } }"
        ),
        2,
        33,
        "argument 'a' of command 'do-it' is conditional, which needs 'boxed': true",
    ),
    (
        "conditional-named-argument",
        lines(
            NEWER,
            "{ 'struct': 'Args', 'data': { 'a': { 'type': 'str', 'if': 'CONFIG_A' } } }",
            "{ 'event': 'DONE', 'data': 'Args' }",
        ),
        3,
        28,
        "whose member 'a' is conditional",
    ),
    ("event-data-builtin", "{ 'event': 'DONE', 'data': 'str' }", 1, 28, "must name a struct"),
    (
        "unknown-argument-type",
        "{ 'command': 'do-it', 'data': { 'a': 'Nope' } }",
        1,
        38,
        "argument 'a' of command 'do-it' uses unknown type 'Nope'",
    ),
    # --- unions -------------------------------------------------------------------------
    ("discriminator-missing-member", union(disc="type"), 5, 20, "is not a member of its base"),
    ("discriminator-not-enum", union(base="{ 'kind': 'str' }"), 5, 20, "must have an enum type"),
    ("discriminator-optional", union(base="{ '*kind': 'Kind' }"), 5, 20, "must not be optional"),
    (
        "discriminator-conditional",
        union(base="{ 'kind': { 'type': 'Kind', 'if': 'CONFIG_A' } }"),
        5,
        20,
        "must not be conditional",
    ),
    ("branch-not-enum-value", union(data="{ 'c': 'Sa' }"), 6, 13, "is not a value of enum 'Kind'"),
    ("branch-not-object", union(data="{ 'a': 'int' }"), 6, 18, "must be a struct or union"),
    (
        "branch-clashes-with-base",
        union(base="{ 'kind': 'Kind', 'x': 'str' }"),
        6,
        18,
        "branch 'a' of union 'Un' clashes with the base",
    ),
    ("base-is-enum", union(base="'Kind'"), 4, 11, "'base' of union 'Un' must be a struct"),
    ("union-contains-itself", union(data="{ 'a': 'Un' }"), 6, 18, "contains itself"),
    (
        "union-no-branches",
        lines(
            "{ 'enum': 'Kind', 'data': [] }",
            "{ 'union': 'Un', 'base': { 'kind': 'Kind' },",
            "  'discriminator': 'kind', 'data': {} }",
        ),
        3,
        20,
        "union 'Un' has no branches",
    ),
    (
        "union-missing-discriminator",
        lines(KIND_ENUM, "{ 'union': 'Un', 'base': { 'kind': 'Kind' }, 'data': {} }"),
        2,
        1,
        "misses key 'discriminator'",
    ),
    # --- alternates ---------------------------------------------------------------------
    (
        "alternate-two-strings",
        "{ 'alternate': 'Alt', 'data': { 's': 'str', 't': 'str' } }",
        1,
        45,
        "branch 't' of alternate 'Alt' cannot be told apart from branch 's'",
    ),
    (
        "alternate-str-and-int",
        "{ 'alternate': 'Alt', 'data': { 's': 'str', 'i': 'int' } }",
        1,
        45,
        "command-line parser",
    ),
    (
        "alternate-on-off-and-bool",
        lines(
            "{ 'enum': 'OnOff', 'data': [ 'on', 'off' ] }",
            "{ 'alternate': 'Alt', 'data': { 'e': 'OnOff', 'b': 'bool' } }",
        ),
        2,
        47,
        "'on' or 'off'",
    ),
    (
        "alternate-numeric-enum-and-int",
        lines(
            "{ 'enum': 'Lvl', 'data': [ '1', 'high' ] }",
            "{ 'alternate': 'Alt', 'data': { 'e': 'Lvl', 'n': 'int' } }",
        ),
        2,
        45,
        "looks like a number",
    ),
    (
        "alternate-any",
        "{ 'alternate': 'Alt', 'data': { 'a': 'any' } }",
        1,
        38,
        "cannot use a built-in type 'any'",
    ),
    (
        "alternate-in-alternate",
        lines(
            "{ 'alternate': 'Inner', 'data': { 'a': 'int' } }",
            "{ 'alternate': 'Alt', 'data': { 'a': 'Inner' } }",
        ),
        2,
        38,
        "cannot use an alternate 'Inner'",
    ),
    (
        "alternate-two-objects",
        lines(
            STRUCT_SA,
            "{ 'struct': 'Sb', 'data': {} }",
            "{ 'alternate': 'Alt', 'data': { 'a': 'Sa', 'b': 'Sb' } }",
        ),
        3,
        44,
        "JSON object",
    ),
    (
        "alternate-two-arrays",
        "{ 'alternate': 'Alt', 'data': { 'a': [ 'int' ], 'b': [ 'str' ] } }",
        1,
        49,
        "JSON array",
    ),
    # --- directives ---------------------------------------------------------------------
    ("include-not-string", "{ 'include': [ 'a.json' ] }", 1, 14, "file name string"),
    ("include-extra-key", "{ 'include': 'a.json', 'if': 'X' }", 1, 24, "takes no other key"),
    ("include-missing-file", "{ 'include': 'nope.json' }", 1, 14, "cannot read schema file"),
    ("pragma-not-object", "{ 'pragma': 'doc-required' }", 1, 13, "takes an object"),
    (
        "pragma-unknown",
        "{ 'pragma': { 'doc-requird': true } }",
        1,
        15,
        "unknown pragma 'doc-requird'",
    ),
    (
        "pragma-doc-required-string",
        "{ 'pragma': { 'doc-required': 'yes' } }",
        1,
        31,
        "true or false",
    ),
    (
        "pragma-list-not-list",
        "{ 'pragma': { 'command-name-exceptions': 'a' } }",
        1,
        42,
        "must be a list of names",
    ),
    (
        "pragma-list-element",
        "{ 'pragma': { 'documentation-exceptions': [ true ] } }",
        1,
        45,
        "names as strings",
    ),
    ("pragma-extra-key", "{ 'pragma': {}, 'if': 'X' }", 1, 17, "takes no other key"),
    # --- documentation ------------------------------------------------------------------
    (
        "doc-symbol-mismatch",
        lines("##", "# @Foo:", "##", "{ 'struct': 'Bar', 'data': {} }"),
        2,
        1,
        "doc block is for 'Foo', but the definition below it is 'Bar'",
    ),
    (
        "doc-unknown-member",
        lines("##", "# @Foo:", "#", "# @bar: nope", "##", "{ 'struct': 'Foo', 'data': {} }"),
        4,
        1,
        "describes '@bar', but there is no member 'bar'",
    ),
    (
        "doc-unknown-feature",
        lines(
            "##",
            "# @do-it:",
            "#",
            "# Features:",
            "#",
            "# @shiny: nope",
            "##",
            "{ 'command': 'do-it' }",
        ),
        6,
        1,
        "has no feature 'shiny'",
    ),
    (
        "doc-before-include",
        lines("##", "# @Foo:", "##", "{ 'include': 'x.json' }"),
        2,
        1,
        "followed by an 'include' directive",
    ),
    (
        "doc-before-pragma",
        lines("##", "# @Foo:", "##", "{ 'pragma': {} }"),
        2,
        1,
        "followed by a 'pragma' directive",
    ),
    (
        "doc-not-closed",
        lines("##", "# @Foo:", "{ 'struct': 'Foo', 'data': {} }"),
        1,
        1,
        "doc block is not closed: line 3 is not a comment",
    ),
    ("doc-junk-after-open", lines("## hello", "##"), 1, 1, "junk after '##'"),
    ("doc-junk-after-close", lines("##", "# text", "## end"), 3, 1, "junk after '##'"),
    ("doc-missing-space", lines("##", "#@Foo:", "##"), 2, 1, "add a space after '#'"),
    (
        "doc-at-name-in-free-form",
        lines("##", "# Heading", "# @foo: bar", "##"),
        3,
        1,
        "not allowed in free-form documentation",
    ),
    (
        "doc-required-missing-block",
        lines(DOC_REQUIRED, "{ 'struct': 'Foo', 'data': {} }"),
        2,
        13,
        "'Foo' has no doc block",
    ),
    (
        "doc-required-undocumented-member",
        lines(
            DOC_REQUIRED_NEWER, "##", "# @Foo:", "##", "{ 'struct': 'Foo', 'data': { 'a': 'str' } }"
        ),
        5,
        30,
        "member 'a' of struct 'Foo' is not documented",
    ),
    (
        "doc-required-undocumented-feature",
        lines(
            DOC_REQUIRED,
            "##",
            "# @Foo:",
            "##",
            "{ 'struct': 'Foo', 'data': {}, 'features': [ 'feat' ] }",
        ),
        5,
        46,
        "feature 'feat' of struct 'Foo' is not documented",
    ),
    (
        "doc-required-undocumented-argument",
        lines(
            DOC_REQUIRED_NEWER,
            "##",
            "# @do-it:",
            "##",
            "{ 'command': 'do-it', 'data': { 'a': 'str' } }",
        ),
        5,
        33,
        "argument 'a' of command 'do-it' is not documented",
    ),
    (
        "doc-member-after-section",
        lines(
            "##",
            "# @Foo:",
            "#",
            "# Since: 1.0",
            "#",
            "# @a: text",
            "##",
            "{ 'struct': 'Foo', 'data': { 'a': 'str' } }",
        ),
        6,
        1,
        "comes after the 'Since:' section",
    ),
    ("doc-symbol-no-colon", lines("##", "# @Foo", "##"), 2, 1, "must end with ':'"),
    (
        "doc-at-end-of-file",
        lines("{ 'struct': 'Foo', 'data': {} }", "##", "# @Bar:", "##"),
        3,
        1,
        "followed by the end of the file",
    ),
    (
        "doc-free-form-before-definition",
        lines("##", "# = Title", "##", "{ 'struct': 'Foo', 'data': {} }"),
        1,
        1,
        "free-form doc block sits directly above a definition",
    ),
    (
        "doc-member-twice",
        lines(
            "##",
            "# @Foo:",
            "#",
            "# @a: one",
            "# @a: two",
            "##",
            "{ 'struct': 'Foo', 'data': { 'a': 'str' } }",
        ),
        5,
        1,
        "described twice",
    ),
    (
        "doc-followed-by-doc",
        lines("##", "# @Foo:", "##", "##", "# text", "##"),
        2,
        1,
        "followed by another doc block",
    ),
    (
        "doc-features-empty",
        lines(
            "##",
            "# @Foo:",
            "#",
            "# Features:",
            "#",
            "# Since: 1.0",
            "##",
            "{ 'struct': 'Foo', 'data': {} }",
        ),
        4,
        1,
        "'Features:' must be followed by",
    ),
]


@pytest.mark.parametrize(
    ("text", "line", "col", "fragment"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_invalid_schema(
    write: Callable[..., Path], text: str, line: int, col: int | None, fragment: str
) -> None:
    path = write(text)
    with pytest.raises(SchemaError) as caught:
        load_schema(path)
    err = caught.value
    assert fragment in err.message
    assert (err.info.file, err.info.line) == (str(path), line), str(err)
    if col is not None:
        assert err.info.col == col, str(err)


def test_case_ids_are_unique() -> None:
    ids = [case[0] for case in CASES]
    assert len(ids) == len(set(ids))
    assert len(ids) >= 50


def test_error_text_is_file_line_col_message(write: Callable[..., Path]) -> None:
    path = write("{ 'struct': 'Foo', 'data': null }")
    with pytest.raises(SchemaError) as caught:
        load_schema(path)
    assert str(caught.value) == f"{path}:1:28: {caught.value.message}"
    assert str(SchemaError(SourceInfo("x.json", 3), "bad")) == "x.json:3: bad"


def test_sixty_five_features_is_one_too_many(write: Callable[..., Path]) -> None:
    # 'deprecated' and 'unstable' always count, so the 63rd own name fails.
    rows = [f"{{ 'command': 'c{i}', 'features': [ 'f{i}' ] }}" for i in range(1, 64)]
    path = write(lines(*rows))
    with pytest.raises(SchemaError) as caught:
        load_schema(path)
    err = caught.value
    assert err.info.line == 63
    assert err.info.col == rows[62].index("'f63'") + 1
    assert "at most 64" in err.message


def test_sixty_four_features_are_fine(write: Callable[..., Path]) -> None:
    rows = [f"{{ 'command': 'c{i}', 'features': [ 'f{i}' ] }}" for i in range(1, 63)]
    schema = load_schema(write(lines(*rows)))
    assert len(list(schema.explicit())) == 62


def test_inclusion_loop(write: Callable[..., Path]) -> None:
    root = write(
        "{ 'include': 'a.json' }\n",
        files={"a.json": "{ 'include': 'b.json' }\n", "b.json": "\n{ 'include': 'a.json' }\n"},
    )
    with pytest.raises(SchemaError) as caught:
        load_schema(root)
    err = caught.value
    assert Path(err.info.file) == root.parent / "b.json"
    assert (err.info.line, err.info.col) == (2, 14)
    assert "inclusion loop" in err.message


def test_file_including_itself(write: Callable[..., Path]) -> None:
    root = write("{ 'include': 'schema.json' }\n")
    with pytest.raises(SchemaError) as caught:
        load_schema(root)
    assert "inclusion loop" in caught.value.message


def test_error_in_included_file_names_that_file(write: Callable[..., Path]) -> None:
    root = write(
        "{ 'include': 'sub/a.json' }\n",
        files={"sub/a.json": "# first\n{ 'struct': 'Foo', 'data': { 'x': 'Nope' } }\n"},
    )
    with pytest.raises(SchemaError) as caught:
        load_schema(root)
    err = caught.value
    assert Path(err.info.file) == root.parent / "sub" / "a.json"
    assert (err.info.line, err.info.col) == (2, 35)


def test_relative_root_gives_relative_positions(
    write: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = write(
        "{ 'include': 'sub/a.json' }\n",
        name="dir/root.json",
        files={"dir/sub/a.json": "{ 'struct': 'foo', 'data': {} }\n"},
    )
    monkeypatch.chdir(root.parent.parent)
    with pytest.raises(SchemaError) as caught:
        load_schema("dir/root.json")
    assert caught.value.line.startswith("dir/sub/a.json:1:13: ")
    assert str(caught.value).splitlines()[0] == "In file included from dir/root.json:1:"


def test_first_error_wins(write: Callable[..., Path]) -> None:
    path = write(
        lines(
            "{ 'struct': 'Foo', 'data': { 'a': 'Nope' } }",
            "{ 'struct': 'bad', 'data': {} }",
        )
    )
    with pytest.raises(SchemaError) as caught:
        load_schema(path)
    # Structure problems come before reference problems.
    assert caught.value.info.line == 2


def test_not_utf8(write: Callable[..., Path]) -> None:
    path = write("")
    path.write_bytes(b"# ok\n# caf\xe9\n")
    with pytest.raises(SchemaError) as caught:
        load_schema(path)
    assert caught.value.info.line == 2
    assert "not valid UTF-8" in caught.value.message


def test_missing_root_file(tmp_path: Path) -> None:
    with pytest.raises(SchemaError) as caught:
        load_schema(tmp_path / "nope.json")
    assert "cannot read schema file" in caught.value.message
