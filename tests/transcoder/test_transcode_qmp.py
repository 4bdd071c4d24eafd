"""Commands and events: arguments, results, the event envelope, gen: false."""

from __future__ import annotations

from types import MappingProxyType, ModuleType
from typing import Any

import pytest

from qapi_jobs.transcoder import (
    TranscodeError,
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
    message_to_qmp,
    qapi_name,
    qmp_to_message,
)
from qapi_jobs.v1 import service_pb2

JOB = {"id": "j", "type": "stream", "status": "paused", "current-progress": 5, "total-progress": 9}
STAMP = {"seconds": 1_700_000_000, "microseconds": 123_456}


def test_execute_with_arguments(pb: ModuleType) -> None:
    request = pb.JobPauseRequest(id="job0")
    assert encode_execute(request) == {"execute": "job-pause", "arguments": {"id": "job0"}}
    assert encode_execute(request, command_id=7) == {
        "execute": "job-pause",
        "arguments": {"id": "job0"},
        "id": 7,
    }


def test_execute_without_arguments(pb: ModuleType) -> None:
    assert encode_execute(pb.QueryJobsRequest()) == {"execute": "query-jobs"}


def test_decode_arguments(pb: ModuleType) -> None:
    assert decode_arguments(pb.JobPauseRequest, {"id": "a"}).id == "a"
    assert decode_arguments(pb.QueryJobsRequest, None) == pb.QueryJobsRequest()
    with pytest.raises(TranscodeError) as caught:
        decode_arguments(pb.JobPauseRequest, None)
    assert str(caught.value) == "$.id: required member is missing"


def test_empty_result(pb: ModuleType) -> None:
    assert decode_result(pb.JobPauseResponse, {}) == pb.JobPauseResponse()
    assert encode_result(pb.JobPauseResponse()) == {}
    with pytest.raises(TranscodeError) as caught:
        decode_result(pb.JobPauseResponse, [])
    assert str(caught.value) == "$: expected object, got array"


def test_array_result(pb: ModuleType) -> None:
    ret = [JOB, {**JOB, "id": "k", "error": "failed"}]
    response = decode_result(pb.QueryJobsResponse, ret)
    assert [job.id for job in response.result] == ["j", "k"]
    assert encode_result(response) == ret
    assert encode_result(pb.QueryJobsResponse()) == []
    with pytest.raises(TranscodeError) as caught:
        decode_result(pb.QueryJobsResponse, [JOB, {"id": 1}])
    assert str(caught.value) == "$[1].id: expected string, got integer"


def test_scalar_result(pb: ModuleType) -> None:
    response = decode_result(pb.QueryNameResponse, "guest-1")
    assert response.result == "guest-1"
    assert encode_result(response) == "guest-1"
    with pytest.raises(TranscodeError):
        decode_result(pb.QueryNameResponse, None)


@pytest.mark.parametrize("ret", [None, 5, "s", [1, {"a": None}], {"k": True}])
def test_any_result(pb: ModuleType, ret: Any) -> None:
    response = decode_result(pb.QomGetResponse, ret)
    assert encode_result(response) == ret


def test_union_result(pb: ModuleType) -> None:
    ret = {"driver": "raw", "filename": "f", "size": 1}
    response = decode_result(pb.QueryImageResponse, ret)
    assert response.result.raw.filename == "f"
    assert encode_result(response) == ret
    with pytest.raises(TranscodeError) as caught:
        encode_result(pb.QueryImageResponse())
    assert str(caught.value) == "$: required member is not set"


def test_result_helpers_check_the_message_kind(pb: ModuleType) -> None:
    with pytest.raises(TypeError, match="JobPauseRequest is not a command result"):
        decode_result(pb.JobPauseRequest, {})
    with pytest.raises(TypeError, match="JobPauseResponse is not command arguments"):
        encode_arguments(pb.JobPauseResponse())
    with pytest.raises(TypeError, match="JobInfo is not an event envelope"):
        decode_event(pb.JobInfo, "STOP")


def test_event_round_trip(pb: ModuleType) -> None:
    envelope = decode_event(
        pb.Event, "JOB_STATUS_CHANGE", {"id": "j", "status": "concluded"}, STAMP
    )
    assert envelope.job_status_change.status == pb.JOB_STATUS_CONCLUDED
    assert envelope.timestamp.seconds == 1_700_000_000
    assert envelope.timestamp.nanos == 123_456_000
    assert event_name(envelope) == "JOB_STATUS_CHANGE"
    assert encode_event(envelope) == {
        "event": "JOB_STATUS_CHANGE",
        "data": {"id": "j", "status": "concluded"},
        "timestamp": STAMP,
    }


def test_event_without_data(pb: ModuleType) -> None:
    envelope = decode_event(pb.Event, "STOP", None, STAMP)
    assert envelope.WhichOneof("kind") == "stop"
    assert encode_event(envelope) == {"event": "STOP", "timestamp": STAMP}


def test_event_with_only_optional_data_absent(pb: ModuleType) -> None:
    envelope = decode_event(pb.Event, "BLOCK_IO_ERROR", {"device": "d0"})
    assert not envelope.block_io_error.HasField("reason")
    assert encode_event(envelope)["data"] == {"device": "d0"}


@pytest.mark.parametrize("stamp", [None, {"seconds": -1, "microseconds": -1}])
def test_unknown_host_time(pb: ModuleType, stamp: dict[str, int] | None) -> None:
    envelope = decode_event(pb.Event, "STOP", None, stamp)
    assert not envelope.HasField("timestamp")
    assert encode_event(envelope)["timestamp"] == {"seconds": -1, "microseconds": -1}


def test_whole_event_object(pb: ModuleType) -> None:
    event = {
        "event": "BLOCK_IO_ERROR",
        "data": {"device": "d0", "reason": "ENOSPC"},
        "timestamp": STAMP,
    }
    envelope = qmp_to_message(event, pb.Event)
    assert envelope.block_io_error.reason == "ENOSPC"
    assert message_to_qmp(envelope) == event


@pytest.mark.parametrize(
    ("event", "error"),
    [
        ({"event": "NOPE", "timestamp": STAMP}, "$.event: unknown event 'NOPE'"),
        ({"event": 3, "timestamp": STAMP}, "$.event: expected string, got integer"),
        ({"timestamp": STAMP}, "$.event: required member is missing"),
        ({"event": "STOP"}, "$.timestamp: required member is missing"),
        (
            {"event": "STOP", "timestamp": {"seconds": 1}},
            "$.timestamp.microseconds: required member is missing",
        ),
        (
            {"event": "STOP", "timestamp": {"seconds": 1, "microseconds": 10**6}},
            "$.timestamp.microseconds: 1000000 is out of range",
        ),
        (
            {"event": "STOP", "timestamp": {"seconds": "1", "microseconds": 0}},
            "$.timestamp.seconds: expected integer, got string",
        ),
        (
            {"event": "JOB_STATUS_CHANGE", "data": {"id": "j"}, "timestamp": STAMP},
            "$.data.status: required member is missing",
        ),
        (
            {"event": "JOB_STATUS_CHANGE", "data": [], "timestamp": STAMP},
            "$.data: expected object, got array",
        ),
        ([], "$: expected object, got array"),
    ],
)
def test_event_errors(pb: ModuleType, event: Any, error: str) -> None:
    with pytest.raises(TranscodeError) as caught:
        qmp_to_message(event, pb.Event)
    assert str(caught.value) == error


def test_encode_empty_envelope(pb: ModuleType) -> None:
    assert event_name(pb.Event()) is None
    with pytest.raises(TranscodeError) as caught:
        encode_event(pb.Event())
    assert str(caught.value) == "$.event: the event envelope has no event set"


def test_encode_event_with_unset_required_data(pb: ModuleType) -> None:
    envelope = pb.Event()
    envelope.job_status_change.id = "j"
    with pytest.raises(TranscodeError) as caught:
        encode_event(envelope)
    assert caught.value.path == "$.data.status"


def test_event_names(pb: ModuleType) -> None:
    assert event_names(pb.Event) == ("JOB_STATUS_CHANGE", "STOP", "BLOCK_IO_ERROR")


def test_free_form_arguments(pb: ModuleType) -> None:
    arguments = {"driver": "virtio-blk", "id": "d0", "drive": "disk0", "bootindex": 1}
    request = decode_arguments(pb.DeviceAddRequest, arguments)
    assert request.driver == "virtio-blk"
    assert dict(request.extra_arguments) == {"drive": "disk0", "bootindex": 1.0}
    assert encode_arguments(request) == arguments


def test_free_form_arguments_cannot_repeat_declared_members(pb: ModuleType) -> None:
    request = pb.DeviceAddRequest(driver="e1000")
    request.extra_arguments.update({"driver": "other"})
    with pytest.raises(TranscodeError) as caught:
        encode_arguments(request)
    assert str(caught.value) == "$.driver: extra argument 'driver' repeats a declared member"


def test_command_table(pb: ModuleType) -> None:
    table = command_table(pb.DESCRIPTOR.services_by_name["TestService"])
    assert sorted(table) == ["device_add", "job-pause", "query-jobs"]
    pause = table["job-pause"]
    assert pause.method == "JobPause"
    assert pause.request is pb.JobPauseRequest
    assert pause.response is pb.JobPauseResponse


def test_qapi_names(pb: ModuleType) -> None:
    assert qapi_name(pb.JobPauseRequest) == "job-pause"
    assert qapi_name(pb.JobInfo()) == "JobInfo"
    assert qapi_name(pb.JobStatusChangeEvent.DESCRIPTOR) == "JOB_STATUS_CHANGE"
    assert qapi_name(pb.StreamEventsRequest) == "transcodetest.v1.StreamEventsRequest"


def test_event_data_may_be_a_read_only_mapping() -> None:
    """The job manager hands out its event data as a read-only mapping."""
    event = decode_event(
        service_pb2.Event,
        "JOB_STATUS_CHANGE",
        MappingProxyType({"id": "j1", "status": "running"}),
        {"seconds": 1, "microseconds": 2},
    )
    assert encode_event(event)["data"] == {"id": "j1", "status": "running"}
