"""Read the QAPI custom options (qapi_jobs/qapi/v1/options.proto) off descriptors.

The extensions are looked up by name in the descriptor pools instead of
importing a generated ``options_pb2`` module: whoever loaded the message
descriptors has loaded the options file too (every generated file imports
it), and descriptors written without the options simply report none.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from google.protobuf import message_factory
from google.protobuf.descriptor import (
    Descriptor,
    EnumValueDescriptor,
    FieldDescriptor,
    FileDescriptor,
    MethodDescriptor,
)

OPTIONS_PACKAGE = "qapi_jobs.qapi.v1"


@dataclass(frozen=True, slots=True)
class TypeInfo:
    """``TypeOptions`` of a message: what QAPI entity it stands for."""

    name: str
    meta: str
    discriminator: str


@dataclass(frozen=True, slots=True)
class MemberInfo:
    """``MemberOptions`` of a field."""

    type: str
    branch: str
    event: str
    extra_arguments: bool
    optional: bool


def _find_extension(pool: Any, extension: str) -> Any | None:
    try:
        return pool.FindExtensionByName(f"{OPTIONS_PACKAGE}.{extension}")
    except KeyError:
        return None


def _extension_value(file: FileDescriptor, options: Any, extension: str) -> Any | None:
    # The runtime parses options with the pool of the *options* message
    # class (normally the default pool), which need not be the pool the
    # descriptor lives in (e.g. descriptors fetched by server reflection).
    handle = _find_extension(options.DESCRIPTOR.file.pool, extension)
    if handle is None:
        handle = _find_extension(file.pool, extension)
        if handle is None:
            return None
        # Re-read the options with the descriptor's own pool, which knows them.
        options_class = message_factory.GetMessageClass(handle.containing_type)
        options = options_class.FromString(options.SerializeToString())
    if not options.HasExtension(handle):
        return None
    return options.Extensions[handle]


def type_info(descriptor: Descriptor) -> TypeInfo | None:
    """The message's ``(qapi_jobs.qapi.v1.type)`` option, or None if it has none."""
    value = _extension_value(descriptor.file, descriptor.GetOptions(), "type")
    if value is None:
        return None
    return TypeInfo(
        name=str(value.name), meta=str(value.meta), discriminator=str(value.discriminator)
    )


def member_info(field: FieldDescriptor) -> MemberInfo | None:
    """The field's ``(qapi_jobs.qapi.v1.member)`` option, or None if it has none."""
    owner = field.containing_type
    if owner is None:
        return None
    value = _extension_value(owner.file, field.GetOptions(), "member")
    if value is None:
        return None
    return MemberInfo(
        type=str(value.type),
        branch=str(value.branch),
        event=str(value.event),
        extra_arguments=bool(value.extra_arguments),
        optional=bool(value.optional),
    )


def value_name(value: EnumValueDescriptor) -> str | None:
    """The wire name of an enum value, or None (the synthetic ``_UNSPECIFIED``)."""
    options = _extension_value(value.type.file, value.GetOptions(), "value")
    if options is None or not options.name:
        return None
    return str(options.name)


def command_name(method: MethodDescriptor) -> str | None:
    """The QAPI command name of an rpc, or None if it carries no command option."""
    options = _extension_value(method.containing_service.file, method.GetOptions(), "command")
    if options is None or not options.name:
        return None
    return str(options.name)
