"""Finding protobuf fields in a request that this server's schema does not have.

A client built from a newer schema may send a member this server does not
know.  Protobuf parses it into the message's unknown fields and would let
it pass silently; QEMU refuses an unexpected member, and so does this
server.  Only the field's number is known, so the path shows it as
``#number`` after the QAPI wire names of the members around it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from google.protobuf import unknown_fields
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from qapi_jobs.transcoder.descriptors import descriptor_of, plan_for


@dataclass(frozen=True)
class UnknownField:
    """A field number the request's message type does not declare, and where it was."""

    path: str
    """QAPI wire names down to the field, e.g. ``options.#9`` or ``actions[1].data.#20``."""
    number: int
    message_type: str
    """The full protobuf name of the message that carried it."""


def find_unknown_field(message: Message) -> UnknownField | None:
    """The first unknown field anywhere in ``message``, or None if there is none."""
    return next(_unknown_fields(message, ""), None)


def _unknown_fields(message: Message, prefix: str) -> Iterator[UnknownField]:
    own = descriptor_of(message)
    found = unknown_fields.UnknownFieldSet(message)
    for index in range(len(found)):
        number = found[index].field_number
        yield UnknownField(path=f"{prefix}#{number}", number=number, message_type=own.full_name)
    wires = {member.attr: member.wire for member in plan_for(own).members}
    for descriptor, value in message.ListFields():
        if descriptor.type != FieldDescriptor.TYPE_MESSAGE:
            continue
        wire = wires.get(descriptor.name)
        # Union branches and array wrappers are flat in QMP: no path segment.
        inner = prefix if wire is None else f"{prefix}{wire}"
        items: list[tuple[str, Message]]
        if isinstance(value, Message):
            items = [(f"{inner}." if wire else inner, value)]
        elif hasattr(value, "values"):  # a map (google.protobuf.Struct): keyed by name
            items = [
                (f"{inner}.{key}." if inner else f"{key}.", item) for key, item in value.items()
            ]
        else:
            items = [
                (f"{inner}[{index}]." if wire else inner, item) for index, item in enumerate(value)
            ]
        for item_prefix, item in items:
            if isinstance(item, Message):
                yield from _unknown_fields(item, item_prefix)
