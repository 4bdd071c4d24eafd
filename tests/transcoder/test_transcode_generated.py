"""The transcoder over the project's own generated messages (proto/qapi_jobs/v1).

Skipped until the generated Python modules exist.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType
from typing import Any

import pytest
from google.protobuf.descriptor import Descriptor

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
    message_to_qmp,
    qmp_to_message,
)
from qapi_jobs.transcoder.descriptors import plan_for

JOB = {
    "id": "job0",
    "type": "backup",
    "status": "ready",
    "current-progress": 7,
    "total-progress": 9,
}
STAMP = {"seconds": 1_700_000_123, "microseconds": 999_999}


@pytest.fixture(scope="module")
def job_pb2() -> ModuleType:
    module: ModuleType = pytest.importorskip("qapi_jobs.v1.job_pb2")
    return module


@pytest.fixture(scope="module")
def image_pb2() -> ModuleType:
    module: ModuleType = pytest.importorskip("qapi_jobs.v1.image_pb2")
    return module


@pytest.fixture(scope="module")
def service_pb2() -> ModuleType:
    module: ModuleType = pytest.importorskip("qapi_jobs.v1.service_pb2")
    return module


def _generated_modules() -> list[ModuleType]:
    package = pytest.importorskip("qapi_jobs.v1")
    names = [
        info.name
        for info in pkgutil.iter_modules(package.__path__, "qapi_jobs.v1.")
        if info.name.endswith("_pb2")
    ]
    if not names:
        pytest.skip("no generated modules in qapi_jobs.v1")
    return [importlib.import_module(name) for name in names]


def test_every_generated_message_has_a_plan() -> None:
    checked = 0
    for module in _generated_modules():
        descriptors: list[Descriptor] = list(module.DESCRIPTOR.message_types_by_name.values())
        for descriptor in descriptors:
            plan_for(descriptor)
            checked += 1
    assert checked > 0


def test_job_info(job_pb2: ModuleType) -> None:
    for value in (JOB, {**JOB, "status": "concluded", "error": "I/O error"}):
        message = qmp_to_message(value, job_pb2.JobInfo)
        assert message.type == job_pb2.JOB_TYPE_BACKUP
        assert message_to_qmp(message) == value


def test_job_status_change_event(service_pb2: ModuleType, job_pb2: ModuleType) -> None:
    data = {"id": "job0", "status": "undefined"}
    envelope = decode_event(service_pb2.Event, "JOB_STATUS_CHANGE", data, STAMP)
    assert envelope.job_status_change.status == job_pb2.JOB_STATUS_UNDEFINED
    event = {"event": "JOB_STATUS_CHANGE", "data": data, "timestamp": STAMP}
    assert encode_event(envelope) == event
    assert message_to_qmp(qmp_to_message(event, service_pb2.Event)) == event


@pytest.mark.parametrize(
    "value",
    [
        {"driver": "raw", "filename": "/img/a.raw", "size": 1 << 30},
        {"driver": "raw", "filename": "b", "size": 0, "preallocation": "off"},
        {
            "driver": "qcow2",
            "filename": "/img/top.qcow2",
            "size": 2**64 - 1,
            "backing-file": "/img/base.raw",
            "backing-fmt": "raw",
            "cluster-size": 65536,
            "preallocation": "metadata",
        },
    ],
)
def test_blockdev_create_options(image_pb2: ModuleType, value: dict[str, Any]) -> None:
    message = qmp_to_message(value, image_pb2.BlockdevCreateOptions)
    assert message.WhichOneof("driver_branch") == value["driver"]
    assert message_to_qmp(message) == value


def test_blockdev_create_options_errors(image_pb2: ModuleType) -> None:
    with pytest.raises(TranscodeError) as caught:
        qmp_to_message({"driver": "vmdk"}, image_pb2.BlockdevCreateOptions)
    assert str(caught.value) == "$.driver: 'vmdk' is not a value of ImageDriver"
    with pytest.raises(TranscodeError) as caught:
        qmp_to_message(
            {"driver": "qcow2", "filename": "f", "size": -1}, image_pb2.BlockdevCreateOptions
        )
    assert str(caught.value) == "$.size: -1 is out of range for size"


def test_blockdev_create_command(service_pb2: ModuleType) -> None:
    arguments = {"job-id": "c0", "options": {"driver": "raw", "filename": "x", "size": 512}}
    request = decode_arguments(service_pb2.BlockdevCreateRequest, arguments)
    assert request.options.raw.size == 512
    assert encode_execute(request) == {"execute": "blockdev-create", "arguments": arguments}


def test_transaction_arguments(service_pb2: ModuleType) -> None:
    arguments: dict[str, Any] = {
        "actions": [
            {"type": "abort", "data": {}},
            {
                "type": "drive-backup",
                "data": {
                    "job-id": "b0",
                    "device": "drive0",
                    "target": "/backup/drive0.qcow2",
                    "format": "qcow2",
                    "sync": "full",
                    "mode": "absolute-paths",
                    "speed": 0,
                    "on-source-error": "report",
                    "auto-finalize": False,
                },
            },
        ],
        "properties": {"completion-mode": "grouped"},
    }
    request = decode_arguments(service_pb2.TransactionRequest, arguments)
    assert request.actions[1].drive_backup.data.device == "drive0"
    assert encode_arguments(request) == arguments
    assert encode_execute(request)["execute"] == "transaction"
    without_properties = {"actions": arguments["actions"][:1]}
    request = decode_arguments(service_pb2.TransactionRequest, without_properties)
    assert not request.HasField("properties")
    assert encode_arguments(request) == without_properties


def test_transaction_argument_errors(service_pb2: ModuleType) -> None:
    bad = {"actions": [{"type": "drive-backup", "data": {"device": "d", "target": "t"}}]}
    with pytest.raises(TranscodeError) as caught:
        decode_arguments(service_pb2.TransactionRequest, bad)
    assert str(caught.value) == "$.actions[0].data.sync: required member is missing"


def test_query_jobs_result(service_pb2: ModuleType) -> None:
    ret = [JOB, {**JOB, "id": "job1", "error": "boom"}]
    response = decode_result(service_pb2.QueryJobsResponse, ret)
    assert encode_result(response) == ret


def test_command_table(service_pb2: ModuleType) -> None:
    services = service_pb2.DESCRIPTOR.services_by_name
    table: dict[str, Any] = {}
    for service in services.values():
        table.update(command_table(service))
    for name in ("job-pause", "query-jobs", "blockdev-create", "transaction"):
        assert name in table
    assert table["transaction"].request is service_pb2.TransactionRequest
