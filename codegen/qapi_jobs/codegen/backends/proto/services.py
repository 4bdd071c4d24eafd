"""Commands and events (qapi-to-proto.md: "Commands", "Events").

A command becomes an rpc with its own request and response messages, even
when empty, so that QAPI may add arguments and results later without
changing the rpc's signature.  The request holds the wire ``arguments``
flattened, however the schema spells them (inline, named, boxed struct or
boxed union).  The response has a single ``result`` field (absent when the
command returns nothing).

An event becomes ``<Name>Event`` with its data flattened the same way.  All
events travel in one envelope, ``message Event`` (timestamp plus a oneof
over the event messages), streamed by ``rpc StreamEvents`` — one stream,
so that watchers see events in the order the server emitted them.
"""

from __future__ import annotations

from qapi_jobs.codegen.backends.proto import comments, ir
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
from qapi_jobs.codegen.backends.proto.messages import FieldSpec, Layout, finish, object_layout
from qapi_jobs.codegen.backends.proto.option_writer import (
    command_option,
    deprecated,
    member_option,
    type_option,
    with_deprecation,
)
from qapi_jobs.codegen.backends.proto.typemap import STRUCT, TIMESTAMP, ProtoType
from qapi_jobs.codegen.model import Command, Event, Struct, Union
from qapi_jobs.codegen.proto_names import field_name


def _arguments_layout(ctx: Context, owner: Command | Event) -> Layout:
    if owner.arg_type is None:
        return Layout()
    args = ctx.schema.lookup(owner.arg_type)
    assert isinstance(args, Struct | Union)
    return object_layout(ctx, args, [owner.doc])


def request_message(ctx: Context, command: Command) -> ir.Message:
    """``<Rpc>Request``: the command's arguments as they appear on the wire."""
    layout = _arguments_layout(ctx, command)
    if not command.gen:
        layout.fields.append(
            FieldSpec(
                key="*extra-arguments",
                natural="extra_arguments",
                fallback="_struct",
                type=STRUCT,
                qapi_option=member_option(extra_arguments=True),
                comment=[
                    "Arguments the schema does not describe (the command is declared",
                    "with gen: false and accepts them); merged into the QMP arguments.",
                ],
            )
        )
    options = with_deprecation(
        command.features,
        type_option(
            command.name,
            "command-arguments",
            discriminator=layout.discriminator,
            cond=command.cond,
            features=command.features,
        ),
    )
    return finish(
        ctx,
        request_symbol(command.name),
        layout,
        options=options,
        comment=[f"The arguments of {command.name}."],
    )


def response_message(ctx: Context, command: Command) -> ir.Message:
    """``<Rpc>Response``: ``result`` holds what the command returns, if anything."""
    layout = Layout()
    lead = f"The result of {command.name}."
    returns_doc = command.doc.section("Returns") if command.doc else ""
    if command.returns is not None:
        proto, label = ctx.types.member(command.returns, optional=False)
        layout.fields.append(
            FieldSpec(
                key="*return",
                natural="result",
                fallback="_field",
                type=proto,
                label=label,
                qapi_option=member_option(str(command.returns)),
                comment=comments.lines([returns_doc or f"What {command.name} returns."]),
            )
        )
    else:
        lead += "  The command returns nothing; the message is empty."
    options = with_deprecation(
        command.features,
        type_option(command.name, "command-result", cond=command.cond, features=command.features),
    )
    return finish(ctx, response_symbol(command.name), layout, options=options, comment=[lead])


def event_message(ctx: Context, event: Event) -> ir.Message:
    """``<Name>Event``: the event's data members."""
    layout = _arguments_layout(ctx, event)
    options = with_deprecation(
        event.features,
        type_option(
            event.name,
            "event",
            discriminator=layout.discriminator,
            cond=event.cond,
            features=event.features,
        ),
    )
    comment = comments.definition(
        event.doc, cond=event.cond, features=event.features, lead=[f"Event {event.name}."]
    )
    return finish(ctx, event_symbol(event.name), layout, options=options, comment=comment)


def envelope_message(ctx: Context) -> ir.Message:
    """``message Event``: when an event happened, and which event it was."""
    layout = Layout(
        fields=[
            FieldSpec(
                key="*timestamp",
                natural="timestamp",
                fallback="_field",
                type=TIMESTAMP,
                comment=[
                    "When the event happened (QMP's timestamp: seconds and microseconds);",
                    "unset when the server did not know the time.",
                ],
            )
        ],
        oneof="kind",
        oneof_comment=["The event, with its data."],
    )
    for event in ctx.inventory.events:
        symbol = event_symbol(event.name)
        layout.branches.append(
            FieldSpec(
                key=f"event:{event.name}",
                natural=field_name(event.name),
                fallback="_event",
                type=ProtoType(ctx.names[symbol], "message", symbol=symbol),
                qapi_option=member_option(
                    cond=event.cond, features=event.features, event=event.name
                ),
                deprecated=deprecated(event.features),
                comment=comments.element(f"Event {event.name}.", cond=event.cond),
                info=event.info,
            )
        )
    return finish(
        ctx,
        ENVELOPE_SYMBOL,
        layout,
        options=[type_option("", "event-envelope")],
        comment=["An event of the schema, as the event stream delivers it."],
    )


def stream_messages(ctx: Context) -> list[ir.Message]:
    """The request and response of the event stream rpc."""
    envelope = ctx.names[ENVELOPE_SYMBOL]
    request = finish(
        ctx,
        STREAM_REQUEST_SYMBOL,
        Layout(),
        comment=["Asks for the event stream; nothing to choose yet."],
    )
    response = finish(
        ctx,
        STREAM_RESPONSE_SYMBOL,
        Layout(
            fields=[
                FieldSpec(
                    key="*event",
                    natural="event",
                    fallback="_field",
                    type=ProtoType(envelope, "message", symbol=ENVELOPE_SYMBOL),
                    comment=["The event."],
                )
            ]
        ),
        comment=["One message of the event stream."],
    )
    return [request, response]


def service(ctx: Context) -> ir.Service:
    """The service: one rpc per command, then the event stream."""
    root = ctx.schema.modules[0].name if ctx.schema.modules else "the schema"
    result = ir.Service(
        SERVICE_SYMBOL,
        ctx.names[SERVICE_SYMBOL],
        comment=[
            f"The commands of {root}, one rpc each"
            + (", and the stream of its events." if ctx.inventory.events else ".")
        ],
    )
    for command in ctx.inventory.commands:
        options = with_deprecation(command.features, command_option(command))
        request, response = request_symbol(command.name), response_symbol(command.name)
        result.refs.update((request, response))
        result.rpcs.append(
            ir.Rpc(
                ctx.rpc_names[rpc_key(command.name)],
                ctx.names[request],
                ctx.names[response],
                options=options,
                comment=comments.definition(
                    command.doc,
                    cond=command.cond,
                    features=command.features,
                    returns=True,
                    errors=True,
                ),
            )
        )
    if ctx.inventory.events:
        result.refs.update((STREAM_REQUEST_SYMBOL, STREAM_RESPONSE_SYMBOL))
        result.rpcs.append(
            ir.Rpc(
                ctx.rpc_names[STREAM_RPC_KEY],
                ctx.names[STREAM_REQUEST_SYMBOL],
                ctx.names[STREAM_RESPONSE_SYMBOL],
                server_streaming=True,
                comment=[
                    "Every event the schema defines, in the order the server emits them.",
                ],
            )
        )
    return result
