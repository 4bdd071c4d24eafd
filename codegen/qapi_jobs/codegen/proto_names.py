"""How QAPI names become Protobuf names (qapi-to-proto.md, "Names").

Every function here is pure and depends only on its argument, so a name
computed today is the name computed tomorrow: the lock file relies on that
to notice renames.  The rules mirror what protoc and ``buf lint`` (STANDARD)
check, because a name that either of them rejects is useless:

* message, enum and rpc names are PascalCase;
* field and oneof names are lower_snake_case;
* enum value names are UPPER_SNAKE_CASE and start with the enum's prefix,
  which buf computes with its own word-splitting algorithm
  (:func:`upper_snake`).
"""

from __future__ import annotations

import re

_NON_ALNUM_RUN = re.compile(r"[^A-Za-z0-9]+")
_BUF_DELIMITERS = frozenset(".-_ \t\n\r")


def _pieces(name: str) -> list[str]:
    """Split on non-alphanumerics (a downstream ``__`` prefix leaves no piece)."""
    return [piece for piece in _NON_ALNUM_RUN.split(name) if piece]


def type_name(qapi_name: str) -> str:
    """Message or enum name for a QAPI type: pieces capitalized, rest kept.

    ``__org.qemu_x-Struct`` → ``OrgQemuXStruct``; ``X86CPURegister32`` stays.
    """
    return "".join(piece[0].upper() + piece[1:] for piece in _pieces(qapi_name))


def command_name(qapi_name: str) -> str:
    """rpc name for a command (also the stem of event messages).

    Each piece is capitalized and the rest lower-cased:
    ``block_set_io_throttle`` → ``BlockSetIoThrottle``,
    ``JOB_STATUS_CHANGE`` → ``JobStatusChange``.
    """
    return "".join(piece[0].upper() + piece[1:].lower() for piece in _pieces(qapi_name))


def event_message_name(qapi_name: str) -> str:
    """Message name for an event: ``JOB_STATUS_CHANGE`` → ``JobStatusChangeEvent``."""
    return command_name(qapi_name) + "Event"


def field_name(qapi_name: str) -> str:
    """lower_snake_case field name for a member, branch or event.

    A ``_`` goes between a lower-case letter or digit and a following
    capital, runs of other characters become one ``_``:
    ``current-progress`` → ``current_progress``, ``UUID`` → ``uuid``,
    ``__org.qemu_x-member1`` → ``org_qemu_x_member1``.
    """
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", qapi_name)
    return _NON_ALNUM_RUN.sub("_", spaced).strip("_").lower()


def upper_snake(name: str) -> str:
    """buf's UPPER_SNAKE_CASE conversion, character for character.

    buf derives the required enum value prefix from the enum name with this
    algorithm (ENUM_VALUE_PREFIX), so it must match exactly.  A ``_`` is
    inserted before a capital when the output does not already end in
    ``_`` and either the next character is a lower-case letter or the
    previous one is.  A capital followed by a digit continues its word:
    ``X86CPURegister32`` → ``X86CPU_REGISTER32``, ``ABC2x`` → ``ABC2X``,
    ``PCIELinkSpeed`` → ``PCIE_LINK_SPEED``.
    """
    text = name.strip("".join(_BUF_DELIMITERS))
    out: list[str] = []
    for i, char in enumerate(text):
        if char in _BUF_DELIMITERS:
            char = "_"
        if i and char.isupper() and out[-1] != "_":
            nxt = text[i + 1] if i + 1 < len(text) else ""
            next_starts_word = nxt.isupper() or nxt.isdigit() or nxt in _BUF_DELIMITERS
            if (nxt and not next_starts_word) or text[i - 1].islower():
                out.append("_")
        out.append(char)
    return "".join(out).upper()


def enum_value_prefix(enum_proto_name: str) -> str:
    """The prefix every value of enum ``enum_proto_name`` must carry (no ``_``)."""
    return upper_snake(enum_proto_name)


def enum_value_name(enum_proto_name: str, qapi_value: str) -> str:
    """``PREFIX_VALUE`` for a QAPI enum value, runs of ``_`` collapsed.

    ``JobStatus``/``undefined`` → ``JOB_STATUS_UNDEFINED``;
    ``PCIELinkSpeed``/``2_5`` → ``PCIE_LINK_SPEED_2_5``;
    ``BlockdevVmdkSubformat``/``monolithicSparse`` →
    ``BLOCKDEV_VMDK_SUBFORMAT_MONOLITHIC_SPARSE``.
    """
    value = re.sub(r"_+", "_", upper_snake(_NON_ALNUM_RUN.sub("_", qapi_value))).strip("_")
    return f"{enum_value_prefix(enum_proto_name)}_{value}"


def enum_zero_name(enum_proto_name: str) -> str:
    """The synthetic zero value: ``JOB_STATUS_UNSPECIFIED``."""
    return f"{enum_value_prefix(enum_proto_name)}_UNSPECIFIED"


def json_default_name(field: str) -> str:
    """protoc's default JSON name: ``_`` dropped, the next character capitalized.

    protoc rejects two fields of a message whose default JSON names are
    equal, even when explicit ``json_name`` options differ (``foo2`` and
    ``foo_2`` both give ``foo2``).
    """
    out: list[str] = []
    capitalize = False
    for char in field:
        if char == "_":
            capitalize = True
        elif capitalize:
            out.append(char.upper())
            capitalize = False
        else:
            out.append(char)
    return "".join(out)


def enum_value_uniqueness_key(enum_proto_name: str, value_name: str) -> str:
    """The form protoc compares to reject look-alike values of one enum.

    protoc strips the enum name from the front (ignoring case and ``_``),
    then rebuilds the rest in PascalCase; two values with the same result
    and different numbers are an error.  ``H_2_5`` and ``H_25`` both give
    ``25``; ``G_FOO_BAR`` (``FooBar``) and ``G_FOOBAR`` (``Foobar``) differ.
    """
    prefix = enum_proto_name.replace("_", "").lower()
    stripped = value_name
    i = j = 0
    while i < len(value_name) and j < len(prefix):
        if value_name[i] != "_":
            if value_name[i].lower() != prefix[j]:
                break
            j += 1
        i += 1
    else:
        if j == len(prefix):
            while i < len(value_name) and value_name[i] == "_":
                i += 1
            if i < len(value_name):
                stripped = value_name[i:]
    out: list[str] = []
    upper_next = True
    for char in stripped:
        if char == "_":
            upper_next = True
        else:
            out.append(char.upper() if upper_next else char.lower())
            upper_next = False
    return "".join(out)


def file_stem(module: str) -> str:
    """lower_snake file stem for a QAPI module path: ``block-job.json`` → ``block_job``.

    Directory parts are kept (joined with ``_``) because a buf package lives
    in one directory; ``..`` and ``.`` parts are dropped.
    """
    path = module[:-5] if module.endswith(".json") else module
    parts = [p for p in path.replace("\\", "/").split("/") if p not in ("", ".", "..")]
    stem = field_name("_".join(parts))
    if not stem or stem[0].isdigit():
        stem = f"module_{stem}"
    return stem


def package_path(package: str) -> str:
    """The directory of a package in buf's layout: ``qapi_jobs.v1`` → ``qapi_jobs/v1``."""
    return package.replace(".", "/")
