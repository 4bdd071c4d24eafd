"""Proto names for every message, enum and rpc (qapi-to-proto.md, "Names").

All messages and enums share the package's namespace with the service and
(C++ scoping) every enum value; rpc names share the service's.  Names the
lock file recorded are kept; among new elements QAPI's own types come
first, then event messages, request/response messages, the event envelope
and the list wrappers, each with a deterministic fallback if its natural
name is taken:

* a QAPI type: ``Name`` → ``NameType``, ``NameType2`` ...
* an event message: ``XEvent`` → ``XEventData`` ...
* a request/response: ``XRequest`` → ``<Service>XRequest`` (the only other
  form buf's RPC_REQUEST_STANDARD_NAME accepts), else an error;
* the envelope: ``Event`` → ``EventEnvelope`` ...
* a list wrapper: ``TList`` → ``TListWrapper`` ...
"""

from __future__ import annotations

from qapi_jobs.codegen.backends.proto.collisions import Claim, Namespace, resolve
from qapi_jobs.codegen.backends.proto.context import (
    ENVELOPE_SYMBOL,
    SERVICE_SYMBOL,
    STREAM_REQUEST_SYMBOL,
    STREAM_RESPONSE_SYMBOL,
    STREAM_RPC_KEY,
    Context,
    event_symbol,
    request_symbol,
    response_symbol,
    rpc_key,
)
from qapi_jobs.codegen.backends.proto.typemap import symbol_of, wrapper_symbol
from qapi_jobs.codegen.lockfile import Entry
from qapi_jobs.codegen.model import Builtin, Enum
from qapi_jobs.codegen.proto_names import command_name, event_message_name, type_name


def lock_entry(ctx: Context, symbol: str) -> Entry:
    """The lock entry of a message or enum symbol, created when missing."""
    if symbol.startswith("enum:"):
        return ctx.lock.enums.setdefault(symbol[len("enum:") :], Entry())
    return ctx.lock.messages.setdefault(symbol, Entry())


def _locked_name(ctx: Context, symbol: str) -> str:
    if symbol.startswith("enum:"):
        entry = ctx.lock.enums.get(symbol[len("enum:") :])
    else:
        entry = ctx.lock.messages.get(symbol)
    return entry.name if entry is not None else ""


def name_rpcs(ctx: Context) -> None:
    """Choose rpc names: recorded ones, then the event stream, then commands."""
    claims: list[Claim] = []
    keys: list[str] = []
    if ctx.inventory.events:
        keys.append(STREAM_RPC_KEY)
        claims.append(
            Claim(
                "the event stream rpc",
                ["StreamEvents", "StreamAllEvents"],
                locked=ctx.lock.rpcs.get(STREAM_RPC_KEY, ""),
            )
        )
    for command in ctx.inventory.commands:
        keys.append(rpc_key(command.name))
        natural = command_name(command.name)
        claims.append(
            Claim(
                f"command {command.name!r}",
                [natural, f"{natural}Command"],
                locked=ctx.lock.rpcs.get(rpc_key(command.name), ""),
                info=command.info,
            )
        )
    names = resolve(Namespace(f"service {ctx.settings.service}"), claims)
    for key, name in zip(keys, names, strict=True):
        ctx.rpc_names[key] = name
        ctx.lock.rpcs[key] = name


def name_elements(ctx: Context) -> None:
    """Choose the names of all messages and enums (rpc names must be known)."""
    service = ctx.settings.service
    ctx.package_names.claim_new(Claim(f"service {service}", [service], numbered=False))
    ctx.names[SERVICE_SYMBOL] = service

    symbols: list[str] = []
    claims: list[Claim] = []

    def add(symbol: str, claim: Claim) -> None:
        symbols.append(symbol)
        claims.append(claim)

    for definition in ctx.inventory.types:
        symbol = symbol_of(definition)
        natural = type_name(definition.name)
        kind = "enum" if isinstance(definition, Enum) else "type"
        add(
            symbol,
            Claim(
                f"{kind} {definition.name!r}",
                [natural, f"{natural}Type"],
                locked=_locked_name(ctx, symbol),
                info=definition.info,
            ),
        )
    for event in ctx.inventory.events:
        symbol = event_symbol(event.name)
        natural = event_message_name(event.name)
        add(
            symbol,
            Claim(
                f"event {event.name!r}",
                [natural, f"{natural}Data"],
                locked=_locked_name(ctx, symbol),
                info=event.info,
            ),
        )
    for command in ctx.inventory.commands:
        rpc = ctx.rpc_names[rpc_key(command.name)]
        for symbol, suffix in (
            (request_symbol(command.name), "Request"),
            (response_symbol(command.name), "Response"),
        ):
            add(
                symbol,
                Claim(
                    f"the {suffix.lower()} of command {command.name!r}",
                    [f"{rpc}{suffix}", f"{service}{rpc}{suffix}"],
                    locked=_locked_name(ctx, symbol),
                    numbered=False,
                    info=command.info,
                ),
            )
    if ctx.inventory.events:
        add(
            ENVELOPE_SYMBOL,
            Claim(
                "the event envelope",
                ["Event", "EventEnvelope"],
                locked=_locked_name(ctx, ENVELOPE_SYMBOL),
            ),
        )
        rpc = ctx.rpc_names[STREAM_RPC_KEY]
        for symbol, suffix in (
            (STREAM_REQUEST_SYMBOL, "Request"),
            (STREAM_RESPONSE_SYMBOL, "Response"),
        ):
            add(
                symbol,
                Claim(
                    f"the {suffix.lower()} of rpc {rpc}",
                    [f"{rpc}{suffix}", f"{service}{rpc}{suffix}"],
                    locked=_locked_name(ctx, symbol),
                    numbered=False,
                ),
            )
    _record(ctx, symbols, resolve(ctx.package_names, claims))
    _name_wrappers(ctx)


def _name_wrappers(ctx: Context) -> None:
    """Wrapper names derive from their element's name, so they come last;
    wrappers of the schema's own types before those of built-ins."""
    symbols: list[str] = []
    claims: list[Claim] = []
    elements = sorted(
        ctx.inventory.wrapped,
        key=lambda name: isinstance(ctx.schema.lookup(name), Builtin),
    )
    for element in elements:
        definition = ctx.schema.lookup(element)
        if isinstance(definition, Builtin):
            stem = type_name(element)
            candidates = [f"{stem}List", f"Builtin{stem}List"]
        else:
            stem = ctx.names[symbol_of(definition)]
            candidates = [f"{stem}List", f"{stem}ListWrapper"]
        symbol = wrapper_symbol(element)
        symbols.append(symbol)
        claims.append(
            Claim(f"the list wrapper of {element!r}", candidates, locked=_locked_name(ctx, symbol))
        )
    _record(ctx, symbols, resolve(ctx.package_names, claims))


def _record(ctx: Context, symbols: list[str], names: list[str]) -> None:
    for symbol, name in zip(symbols, names, strict=True):
        ctx.names[symbol] = name
        lock_entry(ctx, symbol).name = name
