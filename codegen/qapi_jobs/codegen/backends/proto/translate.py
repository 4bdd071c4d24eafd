"""The Protobuf backend from schema to file texts, in one pass.

Order matters: rpc names first (request names derive from them), then the
names of all messages and enums, then enum value names (they derive from
enum names), then the elements, and last the files.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

from qapi_jobs.codegen.backends.proto import ir
from qapi_jobs.codegen.backends.proto.collisions import Namespace
from qapi_jobs.codegen.backends.proto.context import (
    ENVELOPE_SYMBOL,
    SERVICE_SYMBOL,
    STREAM_REQUEST_SYMBOL,
    STREAM_RESPONSE_SYMBOL,
    Context,
    Settings,
    event_symbol,
    request_symbol,
    response_symbol,
)
from qapi_jobs.codegen.backends.proto.enums import enum_element, name_values
from qapi_jobs.codegen.backends.proto.inventory import take_inventory
from qapi_jobs.codegen.backends.proto.layout import (
    BUILTINS_HOME,
    SERVICE_HOME,
    ModuleInfo,
    plan_files,
)
from qapi_jobs.codegen.backends.proto.messages import type_message, wrapper_message
from qapi_jobs.codegen.backends.proto.option_writer import OPTIONS_PATH
from qapi_jobs.codegen.backends.proto.render import render_file
from qapi_jobs.codegen.backends.proto.services import (
    envelope_message,
    event_message,
    request_message,
    response_message,
    service,
    stream_messages,
)
from qapi_jobs.codegen.backends.proto.symbols import name_elements, name_rpcs
from qapi_jobs.codegen.backends.proto.typemap import symbol_of, wrapper_symbol
from qapi_jobs.codegen.lockfile import Lock
from qapi_jobs.codegen.model import (
    Alternate,
    Builtin,
    Definition,
    Enum,
    Event,
    Schema,
    Struct,
    Union,
)


def options_proto_text() -> str:
    """The canonical options.proto, shipped as a package resource."""
    resource = resources.files("qapi_jobs.codegen") / "resources" / "options.proto"
    return resource.read_text(encoding="utf-8")


def _home(definition: Definition, modules: set[str]) -> str:
    if isinstance(definition, Builtin) or definition.module not in modules:
        return BUILTINS_HOME
    return definition.module


@dataclass(frozen=True)
class Plan:
    """The translation before printing: every file with its elements, and
    the context that holds the chosen names (``ctx.names`` by symbol,
    ``ctx.rpc_names`` by rpc key).  Other backends read it to refer to the
    generated messages exactly as they are named and placed."""

    ctx: Context
    files: tuple[ir.ProtoFile, ...]


def plan(schema: Schema, settings: Settings, lock: Lock) -> Plan:
    """Name, number and place every element (updating ``lock`` in place)."""
    ctx = Context(
        schema, settings, lock, take_inventory(schema), Namespace(f"package {settings.package}")
    )
    name_rpcs(ctx)
    name_elements(ctx)
    value_names = name_values(ctx)

    modules = {m.name for m in schema.modules}
    chosen = {d.name for d in ctx.inventory.types}
    wrapped = set(ctx.inventory.wrapped)
    elements: list[ir.Element] = []
    homes: dict[str, str] = {}
    for definition in schema.definitions:
        home = _home(definition, modules)
        if definition.name in chosen:
            if isinstance(definition, Enum):
                elements.append(enum_element(ctx, definition, value_names))
            elif isinstance(definition, Struct | Union | Alternate):
                elements.append(type_message(ctx, definition))
            homes[symbol_of(definition)] = home
        if definition.name in wrapped:
            elements.append(wrapper_message(ctx, definition.name))
            homes[wrapper_symbol(definition.name)] = home
        if isinstance(definition, Event):
            elements.append(event_message(ctx, definition))
            homes[event_symbol(definition.name)] = home

    elements.append(service(ctx))
    homes[SERVICE_SYMBOL] = SERVICE_HOME
    for command in ctx.inventory.commands:
        elements.append(request_message(ctx, command))
        elements.append(response_message(ctx, command))
        homes[request_symbol(command.name)] = SERVICE_HOME
        homes[response_symbol(command.name)] = SERVICE_HOME
    if ctx.inventory.events:
        elements.append(envelope_message(ctx))
        elements.extend(stream_messages(ctx))
        for symbol in (ENVELOPE_SYMBOL, STREAM_REQUEST_SYMBOL, STREAM_RESPONSE_SYMBOL):
            homes[symbol] = SERVICE_HOME

    root = schema.modules[0].name if schema.modules else "schema"
    files = plan_files(
        package=settings.package,
        root=root,
        modules=[ModuleInfo(m.name, tuple(d.text for d in m.free_docs)) for m in schema.modules],
        elements=elements,
        homes=homes,
    )
    return Plan(ctx, tuple(files))


def translate(schema: Schema, settings: Settings, lock: Lock) -> dict[str, str]:
    """Every output file (path relative to the output root → text).

    ``lock`` is read for known names and numbers and updated in place with
    this run's; the caller saves it.
    """
    out = {file.path: render_file(file) for file in plan(schema, settings, lock).files}
    out[OPTIONS_PATH] = options_proto_text()
    return out
