"""Print :mod:`.ir` elements as proto3 source text.

Formatting is fixed (two-space indent, options on the field's line unless
that line would pass :data:`LINE_LIMIT` columns) so that the same elements
always give the same bytes.
"""

from __future__ import annotations

from qapi_jobs.codegen.backends.proto import ir

LINE_LIMIT = 100
_INDENT = "  "


def render_file(file: ir.ProtoFile) -> str:
    """The complete text of one .proto file."""
    out: list[str] = []
    out.extend(_comment(file.header, ""))
    if file.header:
        out.append("")
    out.append('syntax = "proto3";')
    out.append("")
    out.append(f"package {file.package};")
    if file.imports:
        out.append("")
        out.extend(f'import "{path}";' for path in file.imports)
    if file.options:
        out.append("")
        out.extend(_statement_options(file.options, ""))
    for element in file.elements:
        out.append("")
        if isinstance(element, ir.Message):
            out.extend(_message(element))
        elif isinstance(element, ir.Enum):
            out.extend(_enum(element))
        else:
            out.extend(_service(element))
    return "\n".join(out) + "\n"


def _comment(lines: list[str], indent: str) -> list[str]:
    return [f"{indent}//{' ' + line if line else ''}".rstrip() for line in lines]


def _option_lines(option: ir.Option, indent: str, prefix: str = "", suffix: str = "") -> list[str]:
    """One option, on one line if it fits, else an aggregate one key per line."""
    line = f"{indent}{prefix}{option}{suffix}"
    if len(line) <= LINE_LIMIT or not isinstance(option, ir.Aggregate):
        return [line]
    lines = [f"{indent}{prefix}({option.extension}) = {{"]
    lines.extend(f"{indent}{_INDENT}{key}: {value}" for key, value in option.fields)
    lines.append(f"{indent}}}{suffix}")
    return lines


def _statement_options(options: list[ir.Option], indent: str) -> list[str]:
    return [line for o in options for line in _option_lines(o, indent, "option ", ";")]


def _options_suffix(options: list[ir.Option], head: str, indent: str) -> list[str]:
    """``head`` (a declaration without its ``;``) with its ``[options]``."""
    if not options:
        return [f"{head};"]
    one_line = f"{head} [{', '.join(str(o) for o in options)}];"
    if len(one_line) <= LINE_LIMIT:
        return [one_line]
    lines = [f"{head} ["]
    for i, option in enumerate(options):
        comma = "," if i < len(options) - 1 else ""
        lines.extend(_option_lines(option, indent + _INDENT, suffix=comma))
    lines.append(f"{indent}];")
    return lines


def _field(field: ir.Field, indent: str) -> list[str]:
    label = f"{field.label} " if field.label else ""
    head = f"{indent}{label}{field.type} {field.name} = {field.number}"
    return _comment(field.comment, indent) + _options_suffix(field.options, head, indent)


def _reserved(numbers: list[int], names: list[str], indent: str) -> list[str]:
    out: list[str] = []
    if numbers:
        out.append(f"{indent}reserved {', '.join(str(n) for n in numbers)};")
    if names:
        out.append(f"{indent}reserved {', '.join(quote(n) for n in names)};")
    return out


def _message(message: ir.Message) -> list[str]:
    out = _comment(message.comment, "")
    body: list[list[str]] = []
    reserved = _reserved(message.reserved_numbers, message.reserved_names, _INDENT)
    if reserved:
        body.append(reserved)
    body.extend(_field(f, _INDENT) for f in message.fields)
    if message.oneof is not None:
        oneof = _comment(message.oneof.comment, _INDENT)
        oneof.append(f"{_INDENT}oneof {message.oneof.name} {{")
        items = [_field(f, _INDENT * 2) for f in message.oneof.fields]
        spaced = any(len(item) > 1 for item in items)
        for i, item in enumerate(items):
            if i and spaced:
                oneof.append("")
            oneof.extend(item)
        oneof.append(f"{_INDENT}}}")
        body.append(oneof)
    return out + _block(f"message {message.name}", message.options, body)


def _enum(enum: ir.Enum) -> list[str]:
    out = _comment(enum.comment, "")
    body: list[list[str]] = []
    reserved = _reserved(enum.reserved_numbers, enum.reserved_names, _INDENT)
    if reserved:
        body.append(reserved)
    for value in enum.values:
        head = f"{_INDENT}{value.name} = {value.number}"
        body.append(
            _comment(value.comment, _INDENT) + _options_suffix(value.options, head, _INDENT)
        )
    return out + _block(f"enum {enum.name}", enum.options, body)


def _service(service: ir.Service) -> list[str]:
    out = _comment(service.comment, "")
    body: list[list[str]] = []
    for rpc in service.rpcs:
        stream = "stream " if rpc.server_streaming else ""
        head = f"{_INDENT}rpc {rpc.name}({rpc.request}) returns ({stream}{rpc.response})"
        lines = _comment(rpc.comment, _INDENT)
        if rpc.options:
            lines.append(f"{head} {{")
            lines.extend(_statement_options(rpc.options, _INDENT * 2))
            lines.append(f"{_INDENT}}}")
        else:
            lines.append(f"{head};")
        body.append(lines)
    return out + _block(f"service {service.name}", [], body)


def _block(head: str, options: list[ir.Option], body: list[list[str]]) -> list[str]:
    """``head {`` options, then items ``}``; items are separated by blank
    lines when any of them is commented or spans several lines."""
    if not options and not body:
        return [f"{head} {{}}"]
    out = [f"{head} {{"]
    out.extend(_statement_options(options, _INDENT))
    if options and body:
        out.append("")
    spaced = any(len(item) > 1 for item in body)
    for i, item in enumerate(body):
        if i and spaced:
            out.append("")
        out.extend(item)
    out.append("}")
    return out


def quote(text: str) -> str:
    """A proto (and text-format) string literal for ``text``."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
