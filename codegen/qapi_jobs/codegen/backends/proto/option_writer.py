"""The custom options that carry QAPI facts into descriptors (qapi-to-proto.md, "Custom options").

Each function returns one option assignment in aggregate syntax, e.g.
``(qapi_jobs.qapi.v1.member) = {type: "size", optional: true}``, to be
placed after ``option`` or inside a field's ``[...]``.  Keys appear in
the order of options.proto and only when they differ from the proto
default, so the text stays short and stable.
"""

from __future__ import annotations

from collections.abc import Sequence

from qapi_jobs.codegen.backends.proto.ir import Aggregate, Option
from qapi_jobs.codegen.backends.proto.render import quote
from qapi_jobs.codegen.model import Command, Condition, Feature, condition_text

OPTIONS_PACKAGE = "qapi_jobs.qapi.v1"
OPTIONS_PATH = "qapi_jobs/qapi/v1/options.proto"

Pairs = list[tuple[str, str | bool | Sequence[str]]]


def _aggregate(extension: str, pairs: Pairs) -> Aggregate:
    fields: list[tuple[str, str]] = []
    for key, value in pairs:
        if isinstance(value, bool):
            if value:
                fields.append((key, "true"))
        elif isinstance(value, str):
            if value:
                fields.append((key, quote(value)))
        elif value:
            fields.append((key, f"[{', '.join(quote(v) for v in value)}]"))
    return Aggregate(f"{OPTIONS_PACKAGE}.{extension}", tuple(fields))


def _feature_names(features: Sequence[Feature]) -> list[str]:
    return [f.name for f in features]


def _unstable(features: Sequence[Feature]) -> bool:
    return any(f.name == "unstable" for f in features)


def type_option(
    name: str,
    meta: str,
    *,
    discriminator: str = "",
    cond: Condition | None = None,
    features: Sequence[Feature] = (),
) -> Aggregate:
    """``TypeOptions`` for a message."""
    return _aggregate(
        "type",
        [
            ("name", name),
            ("meta", meta),
            ("discriminator", discriminator),
            ("if", condition_text(cond)),
            ("features", _feature_names(features)),
            ("unstable", _unstable(features)),
        ],
    )


def member_option(
    qapi_type: str = "",
    *,
    cond: Condition | None = None,
    features: Sequence[Feature] = (),
    branch: str = "",
    event: str = "",
    extra_arguments: bool = False,
    optional: bool = False,
) -> Aggregate:
    """``MemberOptions`` for a field."""
    return _aggregate(
        "member",
        [
            ("type", qapi_type),
            ("if", condition_text(cond)),
            ("features", _feature_names(features)),
            ("unstable", _unstable(features)),
            ("branch", branch),
            ("event", event),
            ("extra_arguments", extra_arguments),
            ("optional", optional),
        ],
    )


def enum_option(
    name: str, *, cond: Condition | None = None, features: Sequence[Feature] = ()
) -> Aggregate:
    """``EnumOptions`` for an enum."""
    return _aggregate(
        "enum",
        [("name", name), ("if", condition_text(cond)), ("features", _feature_names(features))],
    )


def value_option(
    name: str, *, cond: Condition | None = None, features: Sequence[Feature] = ()
) -> Aggregate:
    """``ValueOptions`` for an enum value: ``name`` is the wire string."""
    return _aggregate(
        "value",
        [
            ("name", name),
            ("if", condition_text(cond)),
            ("features", _feature_names(features)),
            ("unstable", _unstable(features)),
        ],
    )


def command_option(command: Command) -> Aggregate:
    """``CommandOptions`` for an rpc: every QAPI flag, QAPI's defaults included."""
    return _aggregate(
        "command",
        [
            ("name", command.name),
            ("allow_oob", command.allow_oob),
            ("allow_preconfig", command.allow_preconfig),
            ("coroutine", command.coroutine),
            ("success_response", command.success_response),
            ("gen", command.gen),
            ("boxed", command.boxed),
            ("if", condition_text(command.cond)),
            ("features", _feature_names(command.features)),
            ("unstable", _unstable(command.features)),
        ],
    )


def file_option(module: str) -> Aggregate:
    """``FileOptions`` for a file."""
    return _aggregate("file", [("module", module)])


def deprecated(features: Sequence[Feature]) -> bool:
    """Whether the features include ``deprecated``."""
    return any(f.name == "deprecated" for f in features)


def with_deprecation(features: Sequence[Feature], option: Aggregate) -> list[Option]:
    """``option``, preceded by ``deprecated = true`` when the features say so."""
    return ["deprecated = true", option] if deprecated(features) else [option]
