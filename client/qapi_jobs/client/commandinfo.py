"""How the generated command table describes commands (for the command line).

The ``qapi-jobs`` command line is built from these records, which the client
generator writes from the QAPI schema: one subcommand per command, one
``--member-name`` option per argument, help text from the doc comments.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from google.protobuf.message import Message

MemberKind = Literal["str", "int", "size", "bool", "number", "enum", "json"]
"""How a command-line value is read: as text, a number, a size with an
optional suffix (``1G``), a boolean, one of an enum's values, or as JSON
in QMP form (objects, unions, arrays, ``any``)."""


@dataclass(frozen=True)
class MemberInfo:
    """One argument of a command.

    ``name`` is the QAPI wire name (``job-id``), ``field`` the request
    message's field (``job_id``), ``type`` the QAPI type as written
    (``str``, ``[TransactionAction]``).  ``flatten`` marks a branch of a
    boxed union: its JSON object's members go beside the other arguments.
    """

    name: str
    field: str
    type: str
    kind: MemberKind
    optional: bool
    help: str
    enum_values: tuple[str, ...] = ()
    flatten: bool = False


@dataclass(frozen=True)
class CommandInfo:
    """One command: its QAPI name, client method, rpc and messages, docs."""

    name: str
    method: str
    rpc: str
    request: type[Message]
    response: type[Message]
    summary: str
    description: str
    members: tuple[MemberInfo, ...]
    returns: str = ""
