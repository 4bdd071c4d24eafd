"""What each generated client method looks like, before it becomes text.

A :class:`MethodSpec` holds everything the renderers need for one command:
the Python method name, one :class:`Param` per request field (named like
the field, typed with the generated message and enum classes), the result
and the doc comment.  Every name comes from the proto backend's output
(:mod:`.protoview`); this module only decides how Python spells the types.
"""

from __future__ import annotations

import keyword
from dataclasses import dataclass, field
from typing import Literal

from qapi_jobs.codegen.backends import BackendError
from qapi_jobs.codegen.backends.client.protoview import CommandView, ProtoRef, ProtoView
from qapi_jobs.codegen.backends.proto import ir
from qapi_jobs.codegen.backends.proto.comments import condition_note, feature_notes
from qapi_jobs.codegen.backends.proto.context import request_symbol, response_symbol
from qapi_jobs.codegen.backends.proto.typemap import ProtoType
from qapi_jobs.codegen.model import (
    Builtin,
    Doc,
    Enum,
    Member,
    Schema,
    Struct,
    TypeRef,
    Union,
)
from qapi_jobs.codegen.proto_names import field_name

# Names the hand-written client classes use for themselves; a command whose
# snake_case name is one of these gets ``_command`` appended.
RESERVED_METHODS = frozenset(
    {
        "call",
        "channel",
        "close",
        "find_job",
        "reconnect",
        "run_job",
        "wait_for_status",
        "watch_events",
        "watch_jobs",
    }
)

_SCALARS = {
    "string": "str",
    "bool": "bool",
    "double": "float",
    "float": "float",
    "int32": "int",
    "int64": "int",
    "uint32": "int",
    "uint64": "int",
    "sint32": "int",
    "sint64": "int",
}
_WELL_KNOWN = {"google/protobuf/struct.proto": "google.protobuf.struct_pb2"}

CliKind = Literal["str", "int", "size", "bool", "number", "enum", "json"]
_CLI_KINDS: dict[str, CliKind] = {
    "string": "str",
    "int": "int",
    "boolean": "bool",
    "number": "number",
}


@dataclass(frozen=True)
class Param:
    """One keyword argument of a method: the request field it fills.

    ``wrap`` names the list wrapper message an optional array goes into.
    ``qapi`` is the member's wire name (None for fields the backend added,
    such as a boxed union's branches).  ``flatten`` marks a union branch,
    whose members sit beside the others in QMP's arguments object.
    """

    name: str
    field: str
    annotation: str
    optional: bool
    doc: str
    qapi: str | None = None
    qapi_type: str = ""
    cli_kind: CliKind = "json"
    enum_values: tuple[str, ...] = ()
    wrap: ProtoRef | None = None
    flatten: bool = False


@dataclass(frozen=True)
class Result:
    """What a method returns: ``kind`` says how to take it out of the response."""

    kind: Literal["none", "single", "list"]
    annotation: str = "None"
    field: str = ""
    doc: str = ""
    qapi_type: str = ""


@dataclass(frozen=True)
class MethodSpec:
    """One generated method (the same for the sync and the async class)."""

    name: str
    command: str
    rpc: str
    request: ProtoRef
    response: ProtoRef
    params: tuple[Param, ...]
    result: Result
    doc: Doc | None
    timeout_param: str
    notes: tuple[str, ...] = ()
    imports: frozenset[str] = field(default_factory=frozenset)


class _Types:
    """Python annotations for proto types, collecting the modules they need."""

    def __init__(self, view: ProtoView) -> None:
        self.view = view
        self.imports: set[str] = set()

    def ref(self, symbol: str) -> ProtoRef:
        ref = self.view.ref(symbol)
        self.imports.add(ref.module)
        return ref

    def annotation(self, proto: ProtoType) -> str:
        if proto.kind == "scalar":
            return _SCALARS[proto.text]
        if proto.symbol:
            text = str(self.ref(proto.symbol))
        else:
            module = _WELL_KNOWN.get(proto.import_path)
            if module is None:
                raise BackendError(f"the client cannot spell proto type {proto.text}")
            self.imports.add(module)
            text = f"{module.rsplit('.', 1)[-1]}.{proto.text.rsplit('.', 1)[-1]}"
        return f"{text}.ValueType" if proto.kind == "enum" else text


def _description(docs: list[Doc | None], name: str) -> str:
    return next((d.member(name) for d in docs if d is not None and d.member(name)), "")


def _cli_kind(schema: Schema, ref: TypeRef) -> tuple[CliKind, tuple[str, ...]]:
    if ref.is_array:
        return "json", ()
    definition = schema.lookup(ref.name)
    if isinstance(definition, Builtin):
        if definition.name == "size":
            return "size", ()
        return _CLI_KINDS.get(definition.json_type, "json"), ()
    if isinstance(definition, Enum):
        return "enum", definition.value_names()
    return "json", ()


def _python_name(name: str, taken: set[str]) -> str:
    candidate = f"{name}_" if keyword.iskeyword(name) or name == "self" else name
    while candidate in taken:
        candidate += "_"
    taken.add(candidate)
    return candidate


def _member_param(
    types: _Types, schema: Schema, member: Member, proto_field: ir.Field, doc: str, name: str
) -> Param:
    mapper = types.view.types
    ref = member.type
    kind, values = _cli_kind(schema, ref)
    annotation = types.annotation(mapper.element(ref.name))
    wrap: ProtoRef | None = None
    if ref.is_array:
        annotation = f"Iterable[{annotation}]"
        if member.optional:
            wrapper = mapper.wrapper(ref.name)
            wrap = types.ref(wrapper.symbol)
    if member.optional:
        annotation += " | None"
    return Param(
        name=name,
        field=proto_field.name,
        annotation=annotation,
        optional=member.optional,
        doc=doc,
        qapi=member.name,
        qapi_type=str(ref),
        cli_kind=kind,
        enum_values=values,
        wrap=wrap,
    )


def _params(types: _Types, view: CommandView) -> list[Param]:
    schema = types.view.context.schema
    command = view.command
    request = view.request
    taken: set[str] = set()
    params: list[Param] = []
    fields = list(request.fields)
    if command.arg_type is not None:
        args = schema.lookup(command.arg_type)
        assert isinstance(args, Struct | Union)
        declared = schema.declared_members(args)
        if len(fields) < len(declared):
            raise BackendError(f"request of {command.name} does not match its arguments")
        for (member, declarer), proto_field in zip(declared, fields, strict=False):
            doc = _description([declarer.doc, command.doc, args.doc], member.name)
            name = _python_name(proto_field.name, taken)
            params.append(_member_param(types, schema, member, proto_field, doc, name))
        fields = fields[len(declared) :]
        if isinstance(args, Union) and request.oneof is not None:
            branches = [b for b in args.branches if not b.implicit]
            for branch, proto_field in zip(branches, request.oneof.fields, strict=True):
                annotation = types.annotation(types.view.types.branch(branch.type))
                params.append(
                    Param(
                        name=_python_name(proto_field.name, taken),
                        field=proto_field.name,
                        annotation=f"{annotation} | None",
                        optional=True,
                        doc=f"the members for {args.discriminator} {branch.name}",
                        qapi_type=str(branch.type),
                        flatten=True,
                    )
                )
    for proto_field in fields:
        # Fields the backend adds itself (extra arguments of gen: false commands).
        if proto_field.type != "google.protobuf.Struct":
            raise BackendError(
                f"unexpected field {proto_field.name} in the request of {command.name}"
            )
        types.imports.add(_WELL_KNOWN["google/protobuf/struct.proto"])
        params.append(
            Param(
                name=_python_name(proto_field.name, taken),
                field=proto_field.name,
                annotation="struct_pb2.Struct | None",
                optional=True,
                doc="arguments the schema does not describe, passed on as they are",
            )
        )
    return params


def _result(types: _Types, view: CommandView) -> Result:
    command = view.command
    if command.returns is None:
        return Result("none")
    if not view.response.fields:
        raise BackendError(f"the response of {command.name} has no result field")
    result_field = view.response.fields[0].name
    element = types.annotation(types.view.types.element(command.returns.name))
    doc = command.doc.section("Returns") if command.doc else ""
    if command.returns.is_array:
        return Result("list", f"list[{element}]", result_field, doc, str(command.returns))
    return Result("single", element, result_field, doc, str(command.returns))


def method_specs(view: ProtoView) -> list[MethodSpec]:
    """One spec per command, in schema order."""
    specs: list[MethodSpec] = []
    used: set[str] = set()
    for command_view in view.commands:
        command = command_view.command
        types = _Types(view)
        name = field_name(command.name)
        if name in RESERVED_METHODS or keyword.iskeyword(name):
            name += "_command"
        if name in used:
            raise BackendError(
                f"command {command.name!r} becomes method {name}, which another command has",
                command.info,
            )
        used.add(name)
        params = _params(types, command_view)
        result = _result(types, command_view)
        taken = {p.name for p in params}
        timeout = next(n for n in ("timeout", "call_timeout", "rpc_timeout") if n not in taken)
        request = types.ref(request_symbol(command.name))
        response = types.ref(response_symbol(command.name))
        specs.append(
            MethodSpec(
                name=name,
                command=command.name,
                rpc=command_view.rpc,
                request=request,
                response=response,
                params=tuple(params),
                result=result,
                doc=command.doc,
                timeout_param=timeout,
                notes=tuple(
                    feature_notes(command.features, [command.doc]) + condition_note(command.cond)
                ),
                imports=frozenset(types.imports),
            )
        )
    return specs
