"""The Protobuf backend's view of a schema, as the client needs it.

The client must call the generated messages by exactly the names the proto
backend gave them, and import them from exactly the files it put them in.
Both depend on the lock file and on collision resolution, so nothing here
derives a name on its own: the proto backend's builders run in memory (on a
copy of the lock, which is never saved) and this module only reads what
they produced.
"""

from __future__ import annotations

from dataclasses import dataclass

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
    rpc_key,
)
from qapi_jobs.codegen.backends.proto.enums import enum_element, name_values
from qapi_jobs.codegen.backends.proto.inventory import take_inventory
from qapi_jobs.codegen.backends.proto.layout import BUILTINS_HOME, SERVICE_HOME, ModuleInfo
from qapi_jobs.codegen.backends.proto.layout import plan_files as layout_files
from qapi_jobs.codegen.backends.proto.messages import type_message, wrapper_message
from qapi_jobs.codegen.backends.proto.services import (
    envelope_message,
    event_message,
    request_message,
    response_message,
    service,
    stream_messages,
)
from qapi_jobs.codegen.backends.proto.symbols import name_elements, name_rpcs
from qapi_jobs.codegen.backends.proto.typemap import TypeMapper, symbol_of, wrapper_symbol
from qapi_jobs.codegen.lockfile import Lock
from qapi_jobs.codegen.model import (
    Alternate,
    Builtin,
    Command,
    Definition,
    Enum,
    Event,
    Schema,
    Struct,
    Union,
)


@dataclass(frozen=True)
class ProtoRef:
    """Where a generated message or enum lives: Python module and name."""

    module: str
    name: str

    @property
    def alias(self) -> str:
        """The module's last component, which the client imports it as."""
        return self.module.rsplit(".", 1)[-1]

    def __str__(self) -> str:
        return f"{self.alias}.{self.name}"


@dataclass(frozen=True)
class CommandView:
    """A command as the proto backend rendered it."""

    command: Command
    rpc: str
    request: ir.Message
    response: ir.Message


@dataclass
class ProtoView:
    """The proto backend's output for one schema, kept as objects.

    ``files`` are the planned .proto files; ``commands`` every command's
    rpc and messages; :meth:`ref` finds the module of any element.
    """

    context: Context
    files: list[ir.ProtoFile]
    commands: list[CommandView]
    _modules: dict[str, str]

    @property
    def types(self) -> TypeMapper:
        """The proto backend's type mapper, with the final names."""
        return self.context.types

    def ref(self, symbol: str) -> ProtoRef:
        """Module and name of the element behind ``symbol``."""
        return ProtoRef(self._modules[symbol], self.context.names[symbol])

    @property
    def service_module(self) -> str:
        """The Python module of the service's file (``..._pb2``)."""
        return self._modules[SERVICE_SYMBOL]


def python_module(proto_path: str) -> str:
    """The module protoc's Python generator writes for a .proto path."""
    return proto_path.removesuffix(".proto").replace("/", ".") + "_pb2"


def _home(definition: Definition, modules: set[str]) -> str:
    if isinstance(definition, Builtin) or definition.module not in modules:
        return BUILTINS_HOME
    return definition.module


def build(schema: Schema, settings: Settings, lock: Lock) -> ProtoView:
    """Run the proto backend's builders over ``schema`` in the same order as
    its ``translate`` does, and keep their results.

    ``lock`` is updated in memory the way the proto backend would; pass a
    freshly loaded lock and do not save it.
    """
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
    commands: list[CommandView] = []
    for command in ctx.inventory.commands:
        request = request_message(ctx, command)
        response = response_message(ctx, command)
        elements.extend((request, response))
        homes[request_symbol(command.name)] = SERVICE_HOME
        homes[response_symbol(command.name)] = SERVICE_HOME
        commands.append(
            CommandView(command, ctx.rpc_names[rpc_key(command.name)], request, response)
        )
    if ctx.inventory.events:
        elements.append(envelope_message(ctx))
        elements.extend(stream_messages(ctx))
        for symbol in (ENVELOPE_SYMBOL, STREAM_REQUEST_SYMBOL, STREAM_RESPONSE_SYMBOL):
            homes[symbol] = SERVICE_HOME

    root = schema.modules[0].name if schema.modules else "schema"
    files = layout_files(
        package=settings.package,
        root=root,
        modules=[ModuleInfo(m.name, tuple(d.text for d in m.free_docs)) for m in schema.modules],
        elements=elements,
        homes=homes,
    )
    where: dict[str, str] = {}
    for file in files:
        for element in file.elements:
            where[element.symbol] = python_module(file.path)
    return ProtoView(ctx, files, commands, where)
