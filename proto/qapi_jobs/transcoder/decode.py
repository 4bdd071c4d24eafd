"""QMP JSON -> Protobuf message.

Follows QMP's rules.  What a client sends is decoded strictly: a member the
schema does not define is an :class:`UnexpectedMember` error at any depth,
as QEMU answers it.  Replies and events are decoded leniently: unknown
members are ignored (newer QEMU versions add members).  Anything else that
contradicts the schema — a wrong JSON type, an unknown enum value, an integer out of its
QAPI range, a missing required member — is a :class:`TranscodeError`
carrying the JSON path of the offending value.

Each plan is compiled on first use into a decoder: a closure per member that
already knows its attribute, JSON type and range, so decoding a message does
no descriptor or option lookups at all.  Strict and lenient decoders are
compiled separately, so neither pays for the other.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, overload

from google.protobuf.descriptor import Descriptor
from google.protobuf.message import Message

from qapi_jobs.transcoder.descriptors import (
    MESSAGE_KINDS,
    BranchPlan,
    Kind,
    MemberPlan,
    MessagePlan,
    Shape,
    ValueSpec,
    plan_of_type,
)
from qapi_jobs.transcoder.errors import TranscodeError, UnexpectedMember
from qapi_jobs.transcoder.jsonvalue import json_to_struct, json_to_value, json_type_name

M = TypeVar("M", bound=Message)
Converter = Callable[[Any], Any]
Filler = Callable[[Any, Any], None]
Decoder = Callable[[Message, Any], None]

_MISSING: Any = object()
_MAX_MICROSECONDS = 999_999


@overload
def qmp_to_message(value: Any, target: type[M], *, strict: bool = False) -> M: ...


@overload
def qmp_to_message(value: Any, target: Descriptor, *, strict: bool = False) -> Message: ...


def qmp_to_message(
    value: Any, target: type[Message] | Descriptor, *, strict: bool = False
) -> Message:
    """Build a new message of type ``target`` from a parsed QMP JSON value.

    ``target`` is a generated message class or a message descriptor.  The
    JSON form depends on what the message stands for: an object for structs,
    unions, command arguments and event data; the bare value for an
    alternate; the ``return`` value for a command result; the whole
    ``{"event", "data", "timestamp"}`` object for the event envelope.

    ``strict`` rejects object members the schema does not define (for what
    a client sends); by default they are ignored (for replies and events).
    """
    plan = plan_of_type(target)
    message = plan.new_message()
    fill_message(plan, message, value, strict=strict)
    return message


def fill_message(plan: MessagePlan, message: Message, value: Any, *, strict: bool = False) -> None:
    """Decode ``value`` into ``message``, an empty message of ``plan``'s type."""
    if strict:
        decoder = plan.strict_decoder
        if decoder is None:
            decoder = plan.strict_decoder = _compile(plan, True)
    else:
        decoder = plan.decoder
        if decoder is None:
            decoder = plan.decoder = _compile(plan, False)
    decoder(message, value)


def _compile(plan: MessagePlan, strict: bool) -> Decoder:
    shape = plan.shape
    if shape is Shape.OBJECT:
        return _object_decoder(plan, strict)
    if shape is Shape.ALTERNATE:
        return _alternate_decoder(plan, strict)
    if shape is Shape.RESULT:
        return _result_decoder(plan, strict)
    if shape is Shape.ENVELOPE:
        return lambda message, value: _fill_envelope(plan, message, value)
    if shape is Shape.WRAPPER:
        assert plan.item is not None
        fill_items = _list_filler(plan.item, strict)
        attr = plan.items_attr
        return lambda message, value: fill_items(getattr(message, attr), value)
    return _value_filler_of(shape is Shape.ANY)


# --- scalars -------------------------------------------------------------------


def _type_error(expected: str, value: Any) -> TranscodeError:
    return TranscodeError(f"expected {expected}, got {json_type_name(value)}")


def converter(spec: ValueSpec) -> Converter:
    """A function turning a JSON scalar into the proto value ``spec`` describes."""
    kind = spec.kind
    if kind is Kind.STRING:
        return _string
    if kind is Kind.BOOL:
        return _bool
    if kind is Kind.DOUBLE:
        return _double
    if kind is Kind.NULL:
        return _null
    if kind is Kind.INT:
        return _int_converter(spec)
    if kind is Kind.ENUM:
        return _enum_converter(spec)
    raise AssertionError(f"{kind} is not a scalar kind")


def _string(value: Any) -> Any:
    if isinstance(value, str):
        return value
    raise _type_error("string", value)


def _bool(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    raise _type_error("boolean", value)


def _double(value: Any) -> Any:
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            double = float(value)
        except OverflowError:
            raise TranscodeError(f"{value} is too large for a double") from None
        if math.isfinite(double):
            return double
        raise TranscodeError(f"{value} is not a finite number")
    raise _type_error("number", value)


def _null(value: Any) -> Any:
    if value is None:
        return 0
    raise _type_error("null", value)


def _int_converter(spec: ValueSpec) -> Converter:
    low, high, type_name = spec.low, spec.high, spec.type_name
    expected = f"integer ({type_name})"

    def convert(value: Any) -> Any:
        if type(value) is int or (isinstance(value, int) and not isinstance(value, bool)):
            if low <= value <= high:
                return value
            raise TranscodeError(f"{value} is out of range for {type_name}")
        raise _type_error(expected, value)

    return convert


def _enum_converter(spec: ValueSpec) -> Converter:
    assert spec.enum is not None
    numbers, type_name = spec.enum.numbers, spec.type_name
    expected = f"string ({type_name})"

    def convert(value: Any) -> Any:
        if isinstance(value, str):
            number = numbers.get(value)
            if number is not None:
                return number
            raise TranscodeError(f"{value!r} is not a value of {type_name}")
        raise _type_error(expected, value)

    return convert


# --- fields ---------------------------------------------------------------------


def _value_filler(spec: ValueSpec, strict: bool) -> Filler:
    """Fills a sub-message (MESSAGE, WRAPPER, ANY, STRUCT kinds) from JSON."""
    kind = spec.kind
    if kind is Kind.MESSAGE:
        plan = spec.plan
        assert plan is not None
        return lambda target, value: fill_message(plan, target, value, strict=strict)
    if kind is Kind.WRAPPER:
        assert spec.item is not None
        fill_items = _list_filler(spec.item, strict)
        attr = spec.items_attr
        return lambda target, value: fill_items(getattr(target, attr), value)
    return _value_filler_of(kind is Kind.ANY)


def _value_filler_of(any_value: bool) -> Filler:
    if any_value:
        return lambda target, value: json_to_value(value, target)
    return lambda target, value: json_to_struct(value, target)


def _list_filler(spec: ValueSpec, strict: bool) -> Filler:
    if spec.kind in MESSAGE_KINDS:
        fill = _value_filler(spec, strict)

        def fill_messages(container: Any, value: Any) -> None:
            if not isinstance(value, list | tuple):
                raise _type_error("array", value)
            for index, item in enumerate(value):
                try:
                    fill(container.add(), item)
                except TranscodeError as error:
                    raise error.prepend(index) from None

        return fill_messages
    convert = converter(spec)

    def fill_scalars(container: Any, value: Any) -> None:
        if not isinstance(value, list | tuple):
            raise _type_error("array", value)
        items = []
        for index, item in enumerate(value):
            try:
                items.append(convert(item))
            except TranscodeError as error:
                raise error.prepend(index) from None
        try:
            container.extend(items)
        except (ValueError, TypeError) as error:
            raise TranscodeError(f"cannot be stored: {error}") from None

    return fill_scalars


def _field_setter(attr: str, spec: ValueSpec, repeated: bool, strict: bool) -> Filler:
    """Sets field ``attr`` of a message from the JSON value of that field."""
    if repeated:
        fill_list = _list_filler(spec, strict)
        return lambda message, value: fill_list(getattr(message, attr), value)
    if spec.kind in MESSAGE_KINDS:
        fill = _value_filler(spec, strict)

        def set_message(message: Any, value: Any) -> None:
            sub = getattr(message, attr)
            sub.SetInParent()
            fill(sub, value)

        return set_message
    return _scalar_setter(attr, spec)


def _store_error(value: Any, error: Exception) -> TranscodeError:
    # e.g. a string with lone surrogates, which is not valid UTF-8
    return TranscodeError(f"{value!r} cannot be stored: {error}")


def _scalar_setter(attr: str, spec: ValueSpec) -> Filler:
    # The common kinds get a closure of their own that checks and stores in
    # one call; the converter is only called to build the error message.
    convert = converter(spec)
    kind = spec.kind
    if kind is Kind.STRING:

        def set_string(message: Any, value: Any) -> None:
            if not isinstance(value, str):
                convert(value)
            try:
                setattr(message, attr, value)
            except (ValueError, TypeError) as error:
                raise _store_error(value, error) from None

        return set_string
    if kind is Kind.INT:
        low, high = spec.low, spec.high

        def set_int(message: Any, value: Any) -> None:
            if type(value) is int and low <= value <= high:
                setattr(message, attr, value)
            else:
                setattr(message, attr, convert(value))

        return set_int
    if kind is Kind.ENUM:
        assert spec.enum is not None
        numbers = spec.enum.numbers

        def set_enum(message: Any, value: Any) -> None:
            number = numbers.get(value) if isinstance(value, str) else None
            setattr(message, attr, convert(value) if number is None else number)

        return set_enum

    def set_scalar(message: Any, value: Any) -> None:
        setattr(message, attr, convert(value))

    return set_scalar


def _member_setter(member: MemberPlan, strict: bool) -> Filler:
    return _field_setter(member.attr, member.spec, member.repeated, strict)


def _branch_setter(branch: BranchPlan, strict: bool) -> Filler:
    return _field_setter(branch.attr, branch.spec, False, strict)


# --- message shapes ---------------------------------------------------------------


def _object_decoder(plan: MessagePlan, strict: bool) -> Decoder:
    steps = tuple((m.wire, not m.optional, _member_setter(m, strict)) for m in plan.members)
    disc_wire = plan.discriminator.wire if plan.discriminator else ""
    branches = {
        key: (branch.attr, branch.spec.plan)
        for key, branch in plan.branches.items()
        if branch.spec.plan is not None
    }
    extra_attr, member_wires = plan.extra_attr, plan.member_wires

    def decode_object(message: Any, value: Any) -> None:
        if not isinstance(value, Mapping):
            raise _type_error("object", value)
        get = value.get
        for wire, required, setter in steps:
            item = get(wire, _MISSING)
            if item is _MISSING:
                if required:
                    raise TranscodeError("required member is missing", wire)
                continue
            try:
                setter(message, item)
            except TranscodeError as error:
                raise error.prepend(wire) from None
        if disc_wire:
            selected = branches.get(str(get(disc_wire)))
            if selected is not None:
                # The branch's members sit in the same JSON object as the base.
                attr, branch_plan = selected
                sub = getattr(message, attr)
                sub.SetInParent()
                if strict:
                    # The branch checks what is left once the base took its own.
                    rest = {k: v for k, v in value.items() if k not in member_wires}
                    fill_message(branch_plan, sub, rest, strict=True)
                    return
                fill_message(branch_plan, sub, value)
        if extra_attr:
            struct = getattr(message, extra_attr)
            struct.SetInParent()
            json_to_struct({k: v for k, v in value.items() if k not in member_wires}, struct)
        elif strict:
            for key in value:
                if key not in member_wires:
                    raise UnexpectedMember(key)

    return decode_object


def _json_class(value: Any) -> str:
    return "number" if isinstance(value, float) else json_type_name(value)


def _alternate_decoder(plan: MessagePlan, strict: bool) -> Decoder:
    setters = {key: _branch_setter(branch, strict) for key, branch in plan.json_branches.items()}
    if "integer" not in setters and "number" in setters:
        # A JSON integer is a perfectly good value for a 'number' branch.
        setters["integer"] = setters["number"]
    accepted = ", ".join(sorted(plan.json_branches))

    def decode_alternate(message: Any, value: Any) -> None:
        setter = setters.get(_json_class(value))
        if setter is None:
            raise TranscodeError(
                f"alternate {plan.qapi_name} has no branch for a JSON {_json_class(value)}"
                f" (it accepts: {accepted})"
            )
        setter(message, value)

    return decode_alternate


def _result_decoder(plan: MessagePlan, strict: bool) -> Decoder:
    if plan.result is None:

        def decode_empty(message: Any, value: Any) -> None:
            if not isinstance(value, Mapping):
                raise _type_error("object", value)

        return decode_empty
    return _member_setter(plan.result, strict)


def _fill_envelope(plan: MessagePlan, message: Message, value: Any) -> None:
    if not isinstance(value, Mapping):
        raise _type_error("object", value)
    for required in ("event", "timestamp"):
        if required not in value:
            raise TranscodeError("required member is missing", required)
    fill_event(plan, message, value["event"], value.get("data"), value["timestamp"])


def fill_event(plan: MessagePlan, message: Message, name: Any, data: Any, timestamp: Any) -> None:
    """Decode one QMP event into an empty envelope message of ``plan``'s type.

    ``data`` None stands for QMP leaving ``data`` out (events without
    members); ``timestamp`` None leaves the envelope's timestamp unset.
    """
    if not isinstance(name, str):
        raise _type_error("string", name).prepend("event")
    branch = plan.branches.get(name)
    if branch is None:
        raise TranscodeError(f"unknown event {name!r}", "event")
    if timestamp is not None:
        try:
            _set_timestamp(plan, message, timestamp)
        except TranscodeError as error:
            raise error.prepend("timestamp") from None
    sub = getattr(message, branch.attr)
    sub.SetInParent()
    assert branch.spec.plan is not None
    try:
        fill_message(branch.spec.plan, sub, {} if data is None else data)
    except TranscodeError as error:
        raise error.prepend("data") from None


def _set_timestamp(plan: MessagePlan, message: Message, value: Any) -> None:
    if not isinstance(value, Mapping):
        raise _type_error("object", value)
    parts: list[int] = []
    for key in ("seconds", "microseconds"):
        part = value.get(key, _MISSING)
        if part is _MISSING:
            raise TranscodeError("required member is missing", key)
        if not isinstance(part, int) or isinstance(part, bool):
            raise _type_error("integer", part).prepend(key)
        parts.append(part)
    seconds, microseconds = parts
    if seconds == -1 and microseconds == -1:
        return  # QEMU could not read the host clock
    if not 0 <= microseconds <= _MAX_MICROSECONDS:
        raise TranscodeError(f"{microseconds} is out of range", "microseconds")
    if not plan.timestamp_attr:
        return
    stamp = getattr(message, plan.timestamp_attr)
    stamp.SetInParent()
    try:
        stamp.seconds = seconds
    except ValueError:
        raise TranscodeError(f"{seconds} is out of range", "seconds") from None
    stamp.nanos = microseconds * 1000
