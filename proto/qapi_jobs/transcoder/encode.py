"""Protobuf message -> QMP JSON.

Follows QMP's rules for a sender: only what the schema defines goes out.
A required member that is unset (including a required enum left at its
synthetic ``_UNSPECIFIED`` value), an ``_UNSPECIFIED`` or unknown enum
number anywhere, fields the descriptor does not know (unknown field
numbers), a union branch that contradicts the discriminator, an alternate
with no branch set and integers outside their QAPI range are all a
:class:`TranscodeError` with the JSON path of the offending member.

Like decoding, each plan is compiled on first use into an encoder made of
one closure per member.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from operator import attrgetter
from typing import Any

from google.protobuf.message import Message
from google.protobuf.unknown_fields import UnknownFieldSet

from qapi_jobs.transcoder.descriptors import (
    Kind,
    MemberPlan,
    MessagePlan,
    Shape,
    ValueSpec,
    plan_of_type,
)
from qapi_jobs.transcoder.errors import TranscodeError
from qapi_jobs.transcoder.jsonvalue import struct_to_json, value_to_json

Convert = Callable[[Any], Any]
Encoder = Callable[[Message], Any]

_ABSENT: Any = object()


def message_to_qmp(message: Message) -> Any:
    """The QMP JSON value (dicts, lists, str, int, float, bool, None) of a message.

    The inverse of :func:`qapi_jobs.transcoder.qmp_to_message`: an object for
    structs, unions, command arguments and event data, the bare value for an
    alternate, the ``return`` value for a command result and the whole
    ``{"event", "data", "timestamp"}`` object for the event envelope.
    """
    return encode_message(plan_of_type(type(message)), message)


def encode_message(plan: MessagePlan, message: Message) -> Any:
    """Encode ``message`` (of ``plan``'s type) as a JSON value."""
    encoder = plan.encoder
    if encoder is None:
        encoder = plan.encoder = _compile(plan)
    return encoder(message)


def _compile(plan: MessagePlan) -> Encoder:
    shape = plan.shape
    if shape is Shape.OBJECT:
        fill = _object_filler(plan)

        def encode_object(message: Message) -> dict[str, Any]:
            out: dict[str, Any] = {}
            fill(message, out)
            return out

        return encode_object
    if shape is Shape.ALTERNATE:
        return _alternate_encoder(plan)
    if shape is Shape.RESULT:
        return _result_encoder(plan)
    if shape is Shape.ENVELOPE:
        return lambda message: _encode_envelope(plan, message)
    if shape is Shape.WRAPPER:
        assert plan.item is not None
        return _wrapper_encoder(plan.item, plan.items_attr)
    if shape is Shape.ANY:
        return value_to_json  # type: ignore[return-value]
    return struct_to_json  # type: ignore[return-value]


def _check_unknown(message: Message) -> None:
    unknown = UnknownFieldSet(message)
    if len(unknown):
        numbers = ", ".join(str(unknown[i].field_number) for i in range(len(unknown)))
        raise TranscodeError(
            f"{message.DESCRIPTOR.full_name} carries unknown field number(s) {numbers}"
        )


# --- values -------------------------------------------------------------------------


def converter(spec: ValueSpec) -> Convert | None:
    """A function turning one proto value into JSON, or None if it is already JSON."""
    kind = spec.kind
    if kind is Kind.STRING or kind is Kind.BOOL:
        return None
    if kind is Kind.INT:
        return _int_converter(spec)
    if kind is Kind.ENUM:
        return _enum_converter(spec)
    if kind is Kind.DOUBLE:
        return _double
    if kind is Kind.NULL:
        return _null
    if kind is Kind.MESSAGE:
        plan = spec.plan
        assert plan is not None
        return lambda value: encode_message(plan, value)
    if kind is Kind.WRAPPER:
        assert spec.item is not None
        return _wrapper_encoder(spec.item, spec.items_attr)
    if kind is Kind.ANY:
        return value_to_json
    return struct_to_json


def _int_converter(spec: ValueSpec) -> Convert | None:
    if not spec.narrowed:
        return None  # the proto type cannot hold anything out of range
    low, high, type_name = spec.low, spec.high, spec.type_name

    def convert(value: Any) -> Any:
        if low <= value <= high:
            return value
        raise TranscodeError(f"{value} is out of range for {type_name}")

    return convert


def _enum_converter(spec: ValueSpec) -> Convert:
    assert spec.enum is not None
    names, type_name = spec.enum.names, spec.type_name

    def convert(value: Any) -> Any:
        name = names.get(value)
        if name is None:
            what = "unspecified" if value == 0 else f"unknown number {value}"
            raise TranscodeError(f"{type_name} value is {what}")
        return name

    return convert


def _double(value: Any) -> Any:
    if math.isfinite(value):
        return value
    raise TranscodeError(f"{value} is not a finite number")


def _null(value: Any) -> Any:
    if value != 0:
        raise TranscodeError(f"google.protobuf.NullValue has no number {value}")
    return None


def _list_converter(spec: ValueSpec) -> Convert:
    convert = converter(spec)
    if convert is None:
        return list

    def convert_list(items: Any) -> Any:
        result = []
        for index, item in enumerate(items):
            try:
                result.append(convert(item))
            except TranscodeError as error:
                raise error.prepend(index) from None
        return result

    return convert_list


def _wrapper_encoder(item: ValueSpec, items_attr: str) -> Encoder:
    convert_list = _list_converter(item)

    def encode_wrapper(message: Message) -> Any:
        _check_unknown(message)
        return convert_list(getattr(message, items_attr))

    return encode_wrapper


# --- members ------------------------------------------------------------------------


def _member_getter(member: MemberPlan) -> Convert:
    """Returns the JSON value of the member, or _ABSENT to leave it out.

    Optional members with presence are only asked when they are set (the
    object encoder checks ``HasField`` itself, saving a call per absent one).
    """
    attr, spec = member.attr, member.spec
    if member.repeated:
        convert_list = _list_converter(spec)
        if member.optional:

            def get_optional_list(message: Any) -> Any:
                items = getattr(message, attr)
                return convert_list(items) if items else _ABSENT

            return get_optional_list
        return lambda message: convert_list(getattr(message, attr))
    convert = converter(spec)
    if member.presence and not member.optional:

        def get_required(message: Any) -> Any:
            if not message.HasField(attr):
                raise TranscodeError("required member is not set")
            value = getattr(message, attr)
            return value if convert is None else convert(value)

        return get_required
    if spec.kind is Kind.ENUM and not member.optional:
        assert convert is not None
        enum_convert = convert

        def get_required_enum(message: Any) -> Any:
            value = getattr(message, attr)
            if value == 0:
                raise TranscodeError(
                    f"required member is not set ({spec.type_name} is unspecified)"
                )
            return enum_convert(value)

        return get_required_enum
    if convert is None:
        return attrgetter(attr)
    return lambda message: convert(getattr(message, attr))


def _object_filler(plan: MessagePlan) -> Callable[[Message, dict[str, Any]], None]:
    steps = tuple(
        (m.wire, m.attr if m.presence and m.optional else "", _member_getter(m))
        for m in plan.members
    )
    splice = _branch_splicer(plan) if plan.discriminator and plan.oneof else None
    extra_attr = plan.extra_attr

    def fill_object(message: Any, out: dict[str, Any]) -> None:
        _check_unknown(message)
        has_field = message.HasField
        for wire, optional_attr, get in steps:
            if optional_attr and not has_field(optional_attr):
                continue
            try:
                value = get(message)
            except TranscodeError as error:
                raise error.prepend(wire) from None
            if value is not _ABSENT:
                out[wire] = value
        if splice is not None:
            splice(message, out)
        if extra_attr and message.HasField(extra_attr):
            for key, value in struct_to_json(getattr(message, extra_attr)).items():
                if key in out:
                    raise TranscodeError(f"extra argument {key!r} repeats a declared member", key)
                out[key] = value

    return fill_object


def _branch_splicer(plan: MessagePlan) -> Callable[[Any, dict[str, Any]], None]:
    assert plan.discriminator is not None
    disc_wire, oneof = plan.discriminator.wire, plan.oneof
    by_attr = plan.branches_by_attr
    # Per discriminator value: the branch field, its plan, and whether the
    # branch has a required member (then leaving the oneof unset is an error;
    # otherwise an unset branch simply has all its members absent).
    branches = {
        key: (branch.attr, branch.spec.plan, _has_required(branch.spec.plan))
        for key, branch in plan.branches.items()
    }

    def splice(message: Any, out: dict[str, Any]) -> None:
        chosen = message.WhichOneof(oneof)
        selected = out.get(disc_wire)
        expected = branches.get(selected) if isinstance(selected, str) else None
        if chosen is not None and (expected is None or expected[0] != chosen):
            raise TranscodeError(
                f"branch {by_attr[chosen].key!r} is set but the discriminator says {selected!r}",
                disc_wire,
            )
        if expected is None:
            return
        attr, branch_plan, required = expected
        if chosen is None and required:
            raise TranscodeError(f"branch {selected!r} is not set", disc_wire)
        assert branch_plan is not None
        # The branch members go into this same JSON object.
        out.update(encode_message(branch_plan, getattr(message, attr)))

    return splice


def _has_required(plan: MessagePlan | None) -> bool:
    return plan is not None and any(not member.optional for member in plan.members)


def _alternate_encoder(plan: MessagePlan) -> Encoder:
    converters = {attr: converter(branch.spec) for attr, branch in plan.branches_by_attr.items()}
    oneof, name = plan.oneof, plan.qapi_name

    def encode_alternate(message: Any) -> Any:
        _check_unknown(message)
        chosen = message.WhichOneof(oneof)
        if chosen is None:
            raise TranscodeError(f"alternate {name} has no branch set")
        convert = converters[chosen]
        value = getattr(message, chosen)
        return value if convert is None else convert(value)

    return encode_alternate


def _result_encoder(plan: MessagePlan) -> Encoder:
    result = plan.result
    if result is None:

        def encode_empty(message: Message) -> Any:
            _check_unknown(message)
            return {}

        return encode_empty
    get = _member_getter(result)
    optional_attr = result.attr if result.presence and result.optional else ""

    def encode_result(message: Message) -> Any:
        _check_unknown(message)
        if optional_attr and not message.HasField(optional_attr):
            return {}  # an optional result left unset still has to answer something
        value = get(message)
        return {} if value is _ABSENT else value

    return encode_result


def _encode_envelope(plan: MessagePlan, message: Message) -> dict[str, Any]:
    _check_unknown(message)
    chosen = message.WhichOneof(plan.oneof) if plan.oneof else None
    if chosen is None:
        raise TranscodeError("the event envelope has no event set", "event")
    branch = plan.branches_by_attr[chosen]
    data_plan = branch.spec.plan
    assert data_plan is not None
    out: dict[str, Any] = {"event": branch.key}
    try:
        data = encode_message(data_plan, getattr(message, chosen))
    except TranscodeError as error:
        raise error.prepend("data") from None
    # QEMU leaves "data" out for events that have no members at all.
    if data or data_plan.members or data_plan.oneof:
        out["data"] = data
    out["timestamp"] = _encode_timestamp(plan, message)
    return out


def _encode_timestamp(plan: MessagePlan, message: Message) -> dict[str, int]:
    if not plan.timestamp_attr or not message.HasField(plan.timestamp_attr):
        return {"seconds": -1, "microseconds": -1}
    stamp = getattr(message, plan.timestamp_attr)
    return {"seconds": stamp.seconds, "microseconds": stamp.nanos // 1000}
