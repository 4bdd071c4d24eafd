"""Descriptor-driven transcoding between QMP JSON and the generated Protobuf messages.

QMP JSON differs from protobuf's own JSON mapping (unions are flat, alternates
are untagged, enums use QAPI names, 64-bit integers are numbers, optional
arrays are bare), so this package walks the message descriptors and the QAPI
custom options instead.  It needs no schema and has no code per type.

JSON values are the plain Python objects ``json.loads`` produces::

    info = qmp_to_message({"id": "j0", "type": "backup", ...}, job_pb2.JobInfo)
    message_to_qmp(info)                      # -> the same dict
    encode_execute(service_pb2.JobPauseRequest(id="j0"))
    # -> {"execute": "job-pause", "arguments": {"id": "j0"}}
    decode_event(service_pb2.Event, "JOB_STATUS_CHANGE", data, timestamp)

Decoding rejects everything the schema does not allow; object members it
does not define are rejected in what a client sends (``decode_arguments``,
``qmp_to_message(..., strict=True)``: :class:`UnexpectedMember`, with QEMU's
text) and ignored in replies and events (the other decoders, by default).
Encoding rejects unset required members, unspecified enums and unknown
fields.  Both raise :class:`TranscodeError`, whose
``path`` (``$.options.size``) says where.  A descriptor that does not follow
the mapping raises :class:`DescriptorError`.
"""

from qapi_jobs.transcoder.decode import qmp_to_message
from qapi_jobs.transcoder.encode import message_to_qmp
from qapi_jobs.transcoder.errors import DescriptorError, TranscodeError, UnexpectedMember
from qapi_jobs.transcoder.qmp import (
    Command,
    command_table,
    decode_arguments,
    decode_event,
    decode_result,
    encode_arguments,
    encode_event,
    encode_execute,
    encode_result,
    event_name,
    event_names,
    qapi_name,
)

__all__ = [
    "Command",
    "DescriptorError",
    "TranscodeError",
    "UnexpectedMember",
    "command_table",
    "decode_arguments",
    "decode_event",
    "decode_result",
    "encode_arguments",
    "encode_event",
    "encode_execute",
    "encode_result",
    "event_name",
    "event_names",
    "message_to_qmp",
    "qapi_name",
    "qmp_to_message",
]
