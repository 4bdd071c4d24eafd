"""Per-descriptor transcoding plans, built once from descriptors and cached.

A plan says, for one message type, how its fields map onto QMP JSON: which
JSON member each field is, what JSON type and range its values take, which
oneof fields are union branches spliced into the parent object or
alternate branches chosen by JSON type.  Everything comes from the
descriptor (``json_name``) and the QAPI custom options; nothing is specific
to any one schema type.

Plans of recursive types refer to each other, so a plan object is created
first and filled afterwards.  Plans become visible to other threads only when
the outermost build has finished, so a reader never sees a half-built plan.
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor
from google.protobuf.message import Message

from qapi_jobs.transcoder.errors import DescriptorError
from qapi_jobs.transcoder.option_reader import member_info, type_info, value_name

VALUE_TYPE = "google.protobuf.Value"
STRUCT_TYPE = "google.protobuf.Struct"
TIMESTAMP_TYPE = "google.protobuf.Timestamp"
NULL_VALUE_TYPE = "google.protobuf.NullValue"


class Kind(enum.Enum):
    """How one JSON value is carried by one proto value."""

    STRING = "string"
    BOOL = "bool"
    INT = "int"
    DOUBLE = "double"
    ENUM = "enum"
    NULL = "null"
    ANY = "any"  # google.protobuf.Value
    STRUCT = "struct"  # google.protobuf.Struct (free-form arguments)
    MESSAGE = "message"  # a message with its own plan
    WRAPPER = "wrapper"  # optional-array wrapper message (meta "array")


MESSAGE_KINDS = frozenset({Kind.ANY, Kind.STRUCT, Kind.MESSAGE, Kind.WRAPPER})


class Shape(enum.Enum):
    """What a whole message looks like in QMP JSON."""

    OBJECT = "object"  # struct, union, command arguments, event data
    ALTERNATE = "alternate"
    RESULT = "result"  # the bare value of a command's "return"
    ENVELOPE = "envelope"  # {"event": ..., "data": ..., "timestamp": ...}
    WRAPPER = "wrapper"  # a JSON array
    ANY = "any"  # google.protobuf.Value: any JSON value
    STRUCT = "struct"  # google.protobuf.Struct: any JSON object


_OBJECT_METAS = frozenset({"struct", "union", "command-arguments", "event"})
_META_SHAPES = {
    "alternate": Shape.ALTERNATE,
    "command-result": Shape.RESULT,
    "event-envelope": Shape.ENVELOPE,
    "array": Shape.WRAPPER,
}

_INT64 = (-(2**63), 2**63 - 1)
_UINT64 = (0, 2**64 - 1)
_QAPI_INT_RANGES: dict[str, tuple[int, int]] = {
    "int": _INT64,
    "int64": _INT64,
    "int8": (-(2**7), 2**7 - 1),
    "int16": (-(2**15), 2**15 - 1),
    "int32": (-(2**31), 2**31 - 1),
    "uint8": (0, 2**8 - 1),
    "uint16": (0, 2**16 - 1),
    "uint32": (0, 2**32 - 1),
    "uint64": _UINT64,
    "size": _UINT64,
}
_PROTO_INT_TYPES: dict[int, tuple[str, tuple[int, int]]] = {
    FieldDescriptor.TYPE_INT32: ("int32", _QAPI_INT_RANGES["int32"]),
    FieldDescriptor.TYPE_SINT32: ("int32", _QAPI_INT_RANGES["int32"]),
    FieldDescriptor.TYPE_SFIXED32: ("int32", _QAPI_INT_RANGES["int32"]),
    FieldDescriptor.TYPE_INT64: ("int64", _INT64),
    FieldDescriptor.TYPE_SINT64: ("int64", _INT64),
    FieldDescriptor.TYPE_SFIXED64: ("int64", _INT64),
    FieldDescriptor.TYPE_UINT32: ("uint32", _QAPI_INT_RANGES["uint32"]),
    FieldDescriptor.TYPE_FIXED32: ("uint32", _QAPI_INT_RANGES["uint32"]),
    FieldDescriptor.TYPE_UINT64: ("uint64", _UINT64),
    FieldDescriptor.TYPE_FIXED64: ("uint64", _UINT64),
}


@dataclass(frozen=True, slots=True)
class EnumPlan:
    """Wire names of an enum's values; the synthetic zero value has none."""

    name: str
    numbers: dict[str, int]
    names: dict[int, str]


@dataclass(slots=True)
class ValueSpec:
    """How one JSON value maps to one proto value (a field's element)."""

    kind: Kind
    type_name: str  # QAPI type text ("int8", "JobStatus") for messages to humans
    low: int = 0
    high: int = 0
    narrowed: bool = False  # INT: the QAPI range is narrower than the proto type's
    enum: EnumPlan | None = None
    plan: MessagePlan | None = None  # MESSAGE
    item: ValueSpec | None = None  # WRAPPER: the element
    items_attr: str = ""  # WRAPPER: the repeated field inside the wrapper


@dataclass(slots=True)
class MemberPlan:
    """A field that is a member of the JSON object."""

    attr: str
    wire: str
    spec: ValueSpec
    repeated: bool
    presence: bool  # the field tracks presence (HasField works)
    optional: bool  # the QAPI member is optional


@dataclass(slots=True)
class BranchPlan:
    """A oneof field: union branch, alternate branch or envelope event."""

    key: str  # discriminator value, alternate branch name or event name
    attr: str
    spec: ValueSpec


@dataclass(slots=True, eq=False)
class MessagePlan:
    """Everything the codecs need to know about one message type."""

    descriptor: Descriptor
    shape: Shape
    qapi_name: str
    message_class: type[Message] | None = None
    members: tuple[MemberPlan, ...] = ()
    member_wires: frozenset[str] = frozenset()
    discriminator: MemberPlan | None = None
    oneof: str = ""
    branches: dict[str, BranchPlan] = field(default_factory=dict)  # by key
    branches_by_attr: dict[str, BranchPlan] = field(default_factory=dict)
    json_branches: dict[str, BranchPlan] = field(default_factory=dict)  # alternate
    extra_attr: str = ""  # gen: false free-form arguments (google.protobuf.Struct)
    result: MemberPlan | None = None
    timestamp_attr: str = ""
    item: ValueSpec | None = None  # WRAPPER
    items_attr: str = ""
    # Specialised functions compiled on first use by the decode and encode
    # modules; kept here so the hot path needs no extra lookup.
    decoder: Callable[[Message, Any], None] | None = None
    strict_decoder: Callable[[Message, Any], None] | None = None
    encoder: Callable[[Message], Any] | None = None

    def new_message(self) -> Message:
        """A new, empty message of this plan's type."""
        cls = self.message_class
        if cls is None:
            cls = message_factory.GetMessageClass(self.descriptor)
            self.message_class = cls
        return cls()


_lock = threading.RLock()
_plans: dict[Descriptor, MessagePlan] = {}
_enums: dict[EnumDescriptor, EnumPlan] = {}
_building: dict[Descriptor, MessagePlan] = {}
_depth = 0


def plan_for(descriptor: Descriptor) -> MessagePlan:
    """The (cached) plan of a message type.

    Raises :class:`DescriptorError` when the descriptor does not follow the
    QAPI mapping (for example a union whose discriminator is not a field).
    """
    plan = _plans.get(descriptor)
    if plan is not None:
        return plan
    global _depth
    with _lock:
        plan = _plans.get(descriptor) or _building.get(descriptor)
        if plan is not None:
            return plan
        _depth += 1
        try:
            plan = _build(descriptor)
        except BaseException:
            _depth -= 1
            if _depth == 0:
                _building.clear()
            raise
        _depth -= 1
        if _depth == 0:
            _plans.update(_building)
            _building.clear()
        return plan


def _build(descriptor: Descriptor) -> MessagePlan:
    info = type_info(descriptor)
    shape = _shape_of(descriptor, info.meta if info else None)
    plan = MessagePlan(
        descriptor=descriptor,
        shape=shape,
        qapi_name=info.name if info and info.name else descriptor.full_name,
    )
    # Registered before its fields are planned, so recursion finds it.
    _building[descriptor] = plan
    if shape is Shape.OBJECT:
        _fill_object(plan, info.discriminator if info else "")
    elif shape is Shape.ALTERNATE:
        _fill_alternate(plan)
    elif shape is Shape.RESULT:
        _fill_result(plan)
    elif shape is Shape.ENVELOPE:
        _fill_envelope(plan)
    elif shape is Shape.WRAPPER:
        _fill_wrapper(plan)
    return plan


def _shape_of(descriptor: Descriptor, meta: str | None) -> Shape:
    if meta is None:
        if descriptor.full_name == VALUE_TYPE:
            return Shape.ANY
        if descriptor.full_name == STRUCT_TYPE:
            return Shape.STRUCT
        fields = descriptor.fields
        if len(fields) == 1 and fields[0].name == "items" and _is_repeated(fields[0]):
            return Shape.WRAPPER
        return Shape.OBJECT
    if meta in _OBJECT_METAS:
        return Shape.OBJECT
    shape = _META_SHAPES.get(meta)
    if shape is None:
        raise DescriptorError(f"{descriptor.full_name}: unknown QAPI meta {meta!r}")
    return shape


def _is_repeated(fd: FieldDescriptor) -> bool:
    return bool(fd.is_repeated)


def _message_type(fd: FieldDescriptor) -> Descriptor:
    message_type = fd.message_type
    assert message_type is not None
    return message_type


def _message_name(fd: FieldDescriptor) -> str:
    if fd.type != FieldDescriptor.TYPE_MESSAGE:
        return ""
    return _message_type(fd).full_name


def _element_type(type_text: str) -> str:
    if type_text.startswith("[") and type_text.endswith("]"):
        return type_text[1:-1]
    return type_text


def _member(fd: FieldDescriptor, optional_default: bool | None = None) -> MemberPlan:
    info = member_info(fd)
    repeated = _is_repeated(fd)
    presence = not repeated and bool(fd.has_presence)
    if info is not None:
        optional = info.optional
    elif optional_default is not None:
        optional = optional_default
    else:
        # A field without QAPI options (a hand-written message such as
        # google.protobuf.Duration) follows proto3: any field may be absent.
        optional = True
    return MemberPlan(
        attr=fd.name,
        wire=fd.json_name,
        spec=_spec(fd, _element_type(info.type) if info else ""),
        repeated=repeated,
        presence=presence,
        optional=optional,
    )


def _spec(fd: FieldDescriptor, qapi_type: str) -> ValueSpec:
    t = fd.type
    where = fd.full_name
    if t == FieldDescriptor.TYPE_STRING:
        return ValueSpec(Kind.STRING, qapi_type or "str")
    if t == FieldDescriptor.TYPE_BOOL:
        return ValueSpec(Kind.BOOL, qapi_type or "bool")
    if t in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return ValueSpec(Kind.DOUBLE, qapi_type or "number")
    proto_int = _PROTO_INT_TYPES.get(t)
    if proto_int is not None:
        proto_name, (proto_low, proto_high) = proto_int
        low, high = proto_low, proto_high
        qapi_range = _QAPI_INT_RANGES.get(qapi_type)
        if qapi_range is not None:
            low, high = max(low, qapi_range[0]), min(high, qapi_range[1])
        return ValueSpec(
            Kind.INT,
            qapi_type or proto_name,
            low=low,
            high=high,
            narrowed=(low, high) != (proto_low, proto_high),
        )
    if t == FieldDescriptor.TYPE_ENUM:
        enum_type = fd.enum_type
        assert enum_type is not None
        if enum_type.full_name == NULL_VALUE_TYPE:
            return ValueSpec(Kind.NULL, "null")
        enum_plan = _enum_plan(enum_type)
        return ValueSpec(Kind.ENUM, qapi_type or enum_plan.name, enum=enum_plan)
    if t == FieldDescriptor.TYPE_MESSAGE:
        return _message_spec(_message_type(fd), qapi_type)
    raise DescriptorError(f"{where}: proto type {t} has no QMP JSON form")


def _message_spec(descriptor: Descriptor, qapi_type: str) -> ValueSpec:
    name = descriptor.full_name
    if name == VALUE_TYPE:
        return ValueSpec(Kind.ANY, qapi_type or "any")
    if name == STRUCT_TYPE:
        return ValueSpec(Kind.STRUCT, qapi_type or "object")
    plan = plan_for(descriptor)
    if plan.shape is Shape.WRAPPER:
        # Planned from the wrapper's own field rather than from plan.item,
        # which is not there yet while a recursive type is being planned.
        items_fd = _wrapper_items(descriptor)
        element = _element_type(qapi_type)
        if not element:
            info = member_info(items_fd)
            element = _element_type(info.type) if info else ""
        item = _spec(items_fd, element)
        return ValueSpec(
            Kind.WRAPPER,
            qapi_type or f"[{item.type_name}]",
            plan=plan,
            item=item,
            items_attr=items_fd.name,
        )
    # Any other message is its own JSON value; besides structs, unions and
    # alternates this covers e.g. an event envelope inside a stream message.
    return ValueSpec(Kind.MESSAGE, qapi_type or plan.qapi_name, plan=plan)


def _enum_plan(enum_type: EnumDescriptor) -> EnumPlan:
    cached = _enums.get(enum_type)
    if cached is not None:
        return cached
    numbers: dict[str, int] = {}
    for value in enum_type.values:
        wire = value_name(value)
        if wire is not None:
            numbers[wire] = value.number
    plan = EnumPlan(
        name=enum_type.full_name,
        numbers=numbers,
        names={number: wire for wire, number in numbers.items()},
    )
    _enums[enum_type] = plan
    return plan


def _fill_object(plan: MessagePlan, discriminator: str) -> None:
    members: list[MemberPlan] = []
    for fd in plan.descriptor.fields:
        info = member_info(fd)
        if info is not None and info.branch:
            _add_branch(plan, fd, info.branch)
        elif info is not None and info.extra_arguments:
            if _message_name(fd) != STRUCT_TYPE:
                raise DescriptorError(f"{fd.full_name}: extra arguments must be a Struct")
            plan.extra_attr = fd.name
        else:
            members.append(_member(fd))
    plan.members = tuple(members)
    plan.member_wires = frozenset(m.wire for m in members)
    where = plan.descriptor.full_name
    if discriminator:
        disc = next((m for m in members if m.wire == discriminator), None)
        if disc is None or disc.spec.kind is not Kind.ENUM or disc.repeated:
            raise DescriptorError(f"{where}: discriminator {discriminator!r} is not an enum member")
        plan.discriminator = disc
        assert disc.spec.enum is not None
        for key in plan.branches:
            if key not in disc.spec.enum.numbers:
                raise DescriptorError(
                    f"{where}: branch {key!r} is not a value of {disc.spec.type_name}"
                )
    elif plan.branches:
        raise DescriptorError(f"{where}: union branches without a discriminator")
    for branch in plan.branches.values():
        target = branch.spec.plan
        if (
            branch.spec.kind is not Kind.MESSAGE
            or target is None
            or (target.shape is not Shape.OBJECT)
        ):
            raise DescriptorError(f"{where}.{branch.attr}: a union branch must be an object type")


def _add_branch(plan: MessagePlan, fd: FieldDescriptor, key: str) -> None:
    oneof = fd.containing_oneof
    where = fd.full_name
    if oneof is None:
        raise DescriptorError(f"{where}: branch field outside a oneof")
    if plan.oneof and plan.oneof != oneof.name:
        raise DescriptorError(f"{where}: branch fields spread over several oneofs")
    if key in plan.branches:
        raise DescriptorError(f"{where}: branch {key!r} appears twice")
    plan.oneof = oneof.name
    info = member_info(fd)
    branch = BranchPlan(key=key, attr=fd.name, spec=_spec(fd, info.type if info else ""))
    plan.branches[key] = branch
    plan.branches_by_attr[fd.name] = branch


_JSON_CLASS_OF_KIND = {
    Kind.STRING: "string",
    Kind.ENUM: "string",
    Kind.BOOL: "boolean",
    Kind.INT: "integer",
    Kind.DOUBLE: "number",
    Kind.NULL: "null",
    Kind.WRAPPER: "array",
}


def _fill_alternate(plan: MessagePlan) -> None:
    where = plan.descriptor.full_name
    for fd in plan.descriptor.fields:
        info = member_info(fd)
        _add_branch(plan, fd, info.branch if info and info.branch else fd.name)
    if not plan.branches:
        raise DescriptorError(f"{where}: an alternate needs at least one branch")
    for branch in plan.branches.values():
        spec = branch.spec
        json_class = _JSON_CLASS_OF_KIND.get(spec.kind)
        if spec.kind is Kind.MESSAGE and spec.plan is not None and spec.plan.shape is Shape.OBJECT:
            json_class = "object"
        if json_class is None:
            raise DescriptorError(f"{where}.{branch.attr}: not a valid alternate branch type")
        if json_class in plan.json_branches:
            other = plan.json_branches[json_class].key
            raise DescriptorError(
                f"{where}: branches {other!r} and {branch.key!r} both take a JSON {json_class}"
            )
        plan.json_branches[json_class] = branch


def _fill_result(plan: MessagePlan) -> None:
    fields = plan.descriptor.fields
    if len(fields) > 1:
        raise DescriptorError(f"{plan.descriptor.full_name}: a command result has one field")
    if fields:
        plan.result = _member(fields[0], optional_default=False)


def _fill_envelope(plan: MessagePlan) -> None:
    where = plan.descriptor.full_name
    for fd in plan.descriptor.fields:
        info = member_info(fd)
        if info is not None and info.event:
            _add_branch(plan, fd, info.event)
        elif _message_name(fd) == TIMESTAMP_TYPE:
            plan.timestamp_attr = fd.name
        else:
            raise DescriptorError(f"{fd.full_name}: neither the timestamp nor an event")
    for branch in plan.branches.values():
        target = branch.spec.plan
        if target is None or target.shape is not Shape.OBJECT:
            raise DescriptorError(f"{where}.{branch.attr}: event data must be an object type")


def _wrapper_items(descriptor: Descriptor) -> FieldDescriptor:
    fields = descriptor.fields
    if len(fields) != 1 or not _is_repeated(fields[0]):
        raise DescriptorError(
            f"{descriptor.full_name}: an array wrapper has exactly one repeated field"
        )
    return fields[0]


def _fill_wrapper(plan: MessagePlan) -> None:
    items_fd = _wrapper_items(plan.descriptor)
    info = member_info(items_fd)
    plan.item = _spec(items_fd, _element_type(info.type) if info else "")
    plan.items_attr = items_fd.name


_by_type: dict[type[Message] | Descriptor, MessagePlan] = {}


def plan_of_type(target: type[Message] | Descriptor) -> MessagePlan:
    """The plan of a message class or descriptor, cached by the class itself."""
    plan = _by_type.get(target)
    if plan is None:
        plan = plan_for(descriptor_of(target))
        _by_type[target] = plan
    return plan


def descriptor_of(target: type[Message] | Descriptor | Message) -> Descriptor:
    """The descriptor of a message class, a message or a descriptor itself."""
    if isinstance(target, Descriptor):
        return target
    descriptor: Any = getattr(target, "DESCRIPTOR", None)
    if not isinstance(descriptor, Descriptor):
        raise TypeError(f"{target!r} is not a message class, message or descriptor")
    return descriptor
