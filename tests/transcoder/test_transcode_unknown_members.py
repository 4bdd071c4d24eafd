"""Unknown members: refused at any depth in what a client sends (QEMU's text and
the path), ignored in replies and events."""

from __future__ import annotations

from typing import Any

import pytest

from qapi_jobs.transcoder import (
    TranscodeError,
    UnexpectedMember,
    command_table,
    decode_arguments,
    decode_event,
    decode_result,
    event_name,
    qmp_to_message,
)
from qapi_jobs.v1 import job_pb2, service_pb2

COMMANDS = command_table(service_pb2.DESCRIPTOR.services_by_name["JobsService"])
RAW = {"driver": "raw", "filename": "a.img", "size": 64}
BACKUP = {"device": "a.img", "target": "b.img", "sync": "full"}


def _refusal(command: str, arguments: dict[str, Any]) -> UnexpectedMember:
    with pytest.raises(UnexpectedMember) as caught:
        decode_arguments(COMMANDS[command].request, arguments)
    return caught.value


@pytest.mark.parametrize(
    ("command", "arguments", "path"),
    [
        (
            "blockdev-create",
            {"job-id": "j", "options": {**RAW, "prealocation": "full"}},
            "options.prealocation",
        ),
        ("blockdev-create", {"job-id": "j", "options": RAW, "jobid": "k"}, "jobid"),
        (
            "transaction",
            {
                "actions": [
                    {"type": "abort", "data": {}},
                    {"type": "drive-backup", "data": {**BACKUP, "sped": 1}},
                ]
            },
            "actions[1].data.sped",
        ),
        ("transaction", {"actions": [{"type": "abort", "data": {}, "dat": {}}]}, "actions[0].dat"),
    ],
)
def test_arguments_refuse_unknown_members_with_qemus_text(
    command: str, arguments: dict[str, Any], path: str
) -> None:
    error = _refusal(command, arguments)
    assert str(error) == error.message == f"Parameter '{path}' is unexpected"
    assert error.qmp_path == path
    assert error.path == "$." + path.replace("[", "").replace("]", "").replace(
        "1.", "[1]."
    ).replace("0.", "[0].")
    assert isinstance(error, TranscodeError)


def test_a_wrong_value_is_reported_before_an_unknown_member() -> None:
    with pytest.raises(TranscodeError) as caught:
        decode_arguments(
            COMMANDS["blockdev-create"].request,
            {"job-id": "j", "options": {**RAW, "size": "64M", "prealocation": "full"}},
        )
    assert caught.value.path == "$.options.size"


def test_union_branch_members_are_known_members() -> None:
    request = decode_arguments(service_pb2.BlockdevCreateRequest, {"job-id": "j", "options": RAW})
    assert request.options.raw.filename == "a.img"


def test_lenient_decoding_on_request() -> None:
    arguments = {"job-id": "j", "options": {**RAW, "prealocation": "full"}}
    request = decode_arguments(service_pb2.BlockdevCreateRequest, arguments, strict=False)
    assert request.options.raw.size == 64
    with pytest.raises(UnexpectedMember):
        qmp_to_message(arguments, COMMANDS["blockdev-create"].request, strict=True)


def test_replies_and_events_ignore_unknown_members() -> None:
    info = {
        "id": "j",
        "type": "create",
        "status": "running",
        "current-progress": 1,
        "total-progress": 2,
        "added-in-qemu-99": True,
    }
    assert qmp_to_message(info, job_pb2.JobInfo).id == "j"
    reply = decode_result(COMMANDS["query-jobs"].response, [info])
    assert reply.ListFields()
    event = decode_event(
        service_pb2.Event,
        "JOB_STATUS_CHANGE",
        {"id": "j", "status": "running", "new": 1},
        {"seconds": 1, "microseconds": 0},
    )
    assert event_name(event) == "JOB_STATUS_CHANGE"
