"""The Protobuf backend's view of a schema, as the client needs it.

The client must call the generated messages by exactly the names the proto
backend gave them, and import them from exactly the files it put them in.
Both depend on the lock file and on collision resolution, so nothing here
derives a name on its own: the proto backend plans its output in memory (on
a copy of the lock, which is never saved) and this module only reads what
it produced.
"""

from __future__ import annotations

from dataclasses import dataclass

from qapi_jobs.codegen.backends.proto import ir
from qapi_jobs.codegen.backends.proto.context import (
    SERVICE_SYMBOL,
    Context,
    Settings,
    request_symbol,
    response_symbol,
    rpc_key,
)
from qapi_jobs.codegen.backends.proto.translate import plan
from qapi_jobs.codegen.backends.proto.typemap import TypeMapper
from qapi_jobs.codegen.lockfile import Lock
from qapi_jobs.codegen.model import Command, Schema


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


def build(schema: Schema, settings: Settings, lock: Lock) -> ProtoView:
    """Plan the proto backend's output for ``schema`` and keep it as objects.

    ``lock`` is updated in memory the way the proto backend would; pass a
    freshly loaded lock and do not save it.
    """
    planned = plan(schema, settings, lock)
    ctx = planned.ctx
    where: dict[str, str] = {}
    messages: dict[str, ir.Message] = {}
    for file in planned.files:
        for element in file.elements:
            where[element.symbol] = python_module(file.path)
            if isinstance(element, ir.Message):
                messages[element.symbol] = element
    commands = [
        CommandView(
            command,
            ctx.rpc_names[rpc_key(command.name)],
            messages[request_symbol(command.name)],
            messages[response_symbol(command.name)],
        )
        for command in ctx.inventory.commands
    ]
    return ProtoView(ctx, list(planned.files), commands, where)
