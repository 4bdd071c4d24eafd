"""One subcommand per command of the schema, built from the generated table.

``qapi-jobs job-pause --id j1`` builds the QMP arguments object from the
options (``--member-name VALUE``; complex members as JSON), decodes it into
the request message with the transcoder, calls the rpc and prints the
result: QMP-form JSON with ``--json``, indented JSON otherwise (nothing
for commands that return nothing).  Commands that start jobs take
``--wait`` (see :mod:`~qapi_jobs.client.cli.following`).
"""

from __future__ import annotations

import argparse
from typing import Any

from rich.json import JSON

from qapi_jobs.client.cli.connection import OPTION_NAMES, add_connection_options, connect
from qapi_jobs.client.cli.following import done_statuses, follow, started_jobs, starts_jobs
from qapi_jobs.client.cli.output import console, print_json
from qapi_jobs.client.cli.values import BadValue, expand_sizes, parse_value
from qapi_jobs.client.commandinfo import CommandInfo, MemberInfo
from qapi_jobs.client.generated import COMMANDS
from qapi_jobs.transcoder import decode_arguments, encode_result
from qapi_jobs.transcoder.descriptors import plan_of_type

_METAVARS = {
    "str": "TEXT",
    "int": "N",
    "size": "SIZE",
    "bool": "BOOL",
    "number": "NUM",
    "enum": "VALUE",
    "json": "JSON",
}
_INTEGER_NOTE = "suffixes K, M, G, T, P, E (powers of 1024) allowed"
_KIND_NOTES = {
    "int": _INTEGER_NOTE,
    "size": f"bytes; {_INTEGER_NOTE}",
    "bool": "true/false; alone means true",
    "json": "JSON in QMP form, or @FILE",
}


def option_name(member: MemberInfo) -> str:
    """The long option of a member: ``--job-id`` (``--arg-NAME`` on a clash)."""
    name = member.name.lstrip("_")
    return f"--arg-{name}" if name in OPTION_NAMES else f"--{name}"


def _dest(member: MemberInfo) -> str:
    return f"member__{member.field}"


def _help(member: MemberInfo) -> str:
    notes = [member.type]
    if member.kind in _KIND_NOTES:
        notes.append(_KIND_NOTES[member.kind])
    if not member.optional:
        notes.append("required")
    text = member.help or ""
    return f"{text} ({'; '.join(notes)})".strip()


def add_command_parsers(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    """One sub-parser per schema command."""
    for info in COMMANDS:
        sub = commands.add_parser(
            info.name,
            help=info.summary,
            description=info.description,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        group = sub.add_argument_group("arguments")
        for member in info.members:
            kwargs: dict[str, Any] = {
                "dest": _dest(member),
                "metavar": _METAVARS[member.kind],
                "help": _help(member),
                "required": not member.optional,
            }
            if member.kind == "enum":
                kwargs["choices"] = member.enum_values
                kwargs.pop("metavar")
            if member.kind == "bool":
                kwargs["nargs"] = "?"
                kwargs["const"] = "true"
            group.add_argument(option_name(member), **kwargs)
        if starts_jobs(info):
            sub.add_argument(
                "--wait",
                action="store_true",
                help="follow the started job(s) until done and exit with the outcome (9 if "
                "a job fails or is cancelled): live progress on a terminal, a line per change "
                "otherwise.  A converging job (drive-mirror) is done once it is ready; it "
                "then keeps mirroring until job-complete or a cancel",
            )
        add_connection_options(sub, suppress=True)
        sub.set_defaults(run=run_command, command_info=info, wait=False)


def arguments_of(info: CommandInfo, args: argparse.Namespace) -> dict[str, Any]:
    """The QMP ``arguments`` object the options describe (BadValue if a value is wrong)."""
    arguments: dict[str, Any] = {}
    for member in info.members:
        text = getattr(args, _dest(member), None)
        if text is None:
            continue
        value = parse_value(member, text)
        if member.flatten:
            if not isinstance(value, dict):
                raise BadValue(f"{option_name(member)} takes a JSON object")
            arguments.update(value)
        else:
            arguments[member.name] = value
    expanded: dict[str, Any] = expand_sizes(plan_of_type(info.request), arguments)
    return expanded


def run_command(args: argparse.Namespace) -> int:
    """Run the schema command the sub-parser was made for."""
    info: CommandInfo = args.command_info
    arguments = arguments_of(info, args)
    request = decode_arguments(info.request, arguments)
    with connect(args, probe=args.wait) as client:
        if args.wait:
            return follow(
                client,
                started_jobs(arguments),
                lambda: client.call(info.rpc, request),
                done=done_statuses(arguments),
                json=args.json,
            )
        response = client.call(info.rpc, request)
    result = encode_result(response)
    if args.json:
        print_json({} if result is None else result)
    elif info.returns:
        console().print(JSON.from_data(result, indent=2))
    return 0
