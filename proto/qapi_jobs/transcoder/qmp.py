"""QMP-level helpers: commands and events by their QAPI names."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, ServiceDescriptor
from google.protobuf.message import Message

from qapi_jobs.transcoder.decode import fill_event, fill_message
from qapi_jobs.transcoder.descriptors import (
    MessagePlan,
    Shape,
    descriptor_of,
    plan_for,
    plan_of_type,
)
from qapi_jobs.transcoder.encode import encode_message
from qapi_jobs.transcoder.option_reader import command_name

M = TypeVar("M", bound=Message)


_SHAPE_WORDS = {
    Shape.OBJECT: "command arguments",
    Shape.RESULT: "a command result",
    Shape.ENVELOPE: "an event envelope",
}


def _plan(message_type: type[Message], shape: Shape) -> MessagePlan:
    plan = plan_of_type(message_type)
    if plan.shape is not shape:
        raise TypeError(f"{plan.descriptor.full_name} is not {_SHAPE_WORDS[shape]}")
    return plan


def qapi_name(target: type[Message] | Descriptor | Message) -> str:
    """The QAPI name a message type stands for (type, command or event name).

    Falls back to the proto full name for messages without QAPI options.
    """
    return plan_for(descriptor_of(target)).qapi_name


def encode_arguments(request: Message) -> dict[str, Any]:
    """The QMP ``arguments`` object of a command request message."""
    result: dict[str, Any] = encode_message(_plan(type(request), Shape.OBJECT), request)
    return result


def decode_arguments(
    request_type: type[M], arguments: Mapping[str, Any] | None, *, strict: bool = True
) -> M:
    """A request message from QMP ``arguments`` (None when the command had none).

    Arguments come from a client, so by default a member the schema does not
    define is an :class:`UnexpectedMember` error at any depth, as in QEMU;
    ``strict=False`` ignores such members instead.
    """
    plan = _plan(request_type, Shape.OBJECT)
    message = request_type()
    fill_message(plan, message, {} if arguments is None else arguments, strict=strict)
    return message


def encode_execute(request: Message, *, command_id: Any = None) -> dict[str, Any]:
    """A complete QMP command: ``{"execute": name, "arguments": {...}, "id": ...}``.

    ``arguments`` is left out when empty and ``id`` when ``command_id`` is None.
    """
    out: dict[str, Any] = {"execute": qapi_name(request)}
    arguments = encode_arguments(request)
    if arguments:
        out["arguments"] = arguments
    if command_id is not None:
        out["id"] = command_id
    return out


def decode_result(response_type: type[M], return_value: Any) -> M:
    """A response message from the value of a QMP ``{"return": ...}`` reply."""
    plan = _plan(response_type, Shape.RESULT)
    message = response_type()
    fill_message(plan, message, return_value)
    return message


def encode_result(response: Message) -> Any:
    """The value a QMP server puts under ``"return"`` for a response message."""
    return encode_message(_plan(type(response), Shape.RESULT), response)


def decode_event(
    envelope_type: type[M],
    name: str,
    data: Mapping[str, Any] | None = None,
    timestamp: Mapping[str, Any] | None = None,
) -> M:
    """An event envelope message from the parts of a QMP event.

    ``data`` None means QMP sent no ``data`` (events without members);
    ``timestamp`` is QMP's ``{"seconds", "microseconds"}`` object, where
    -1/-1 (host clock unavailable) or None leave the timestamp unset.
    """
    plan = _plan(envelope_type, Shape.ENVELOPE)
    message = envelope_type()
    fill_event(plan, message, name, data, timestamp)
    return message


def encode_event(envelope: Message) -> dict[str, Any]:
    """The QMP event object ``{"event", "data", "timestamp"}`` of an envelope."""
    result: dict[str, Any] = encode_message(_plan(type(envelope), Shape.ENVELOPE), envelope)
    return result


def event_name(envelope: Message) -> str | None:
    """The QAPI name of the event held by an envelope, or None if none is set."""
    plan = _plan(type(envelope), Shape.ENVELOPE)
    chosen = envelope.WhichOneof(plan.oneof) if plan.oneof else None
    return plan.branches_by_attr[chosen].key if chosen is not None else None


def event_names(envelope_type: type[Message]) -> tuple[str, ...]:
    """The QAPI names of all events an envelope type can carry."""
    return tuple(_plan(envelope_type, Shape.ENVELOPE).branches)


@dataclass(frozen=True, slots=True)
class Command:
    """One QAPI command of a gRPC service."""

    name: str  # the QAPI (wire) name, e.g. "job-pause"
    method: str  # the rpc name, e.g. "JobPause"
    request: type[Message]
    response: type[Message]


def command_table(service: ServiceDescriptor) -> dict[str, Command]:
    """The service's commands keyed by QAPI command name.

    rpcs without a ``(qapi_jobs.qapi.v1.command)`` option (such as the event
    stream) are left out.
    """
    table: dict[str, Command] = {}
    for method in service.methods:
        name = command_name(method)
        if name is None:
            continue
        table[name] = Command(
            name=name,
            method=method.name,
            request=message_factory.GetMessageClass(method.input_type),
            response=message_factory.GetMessageClass(method.output_type),
        )
    return table
