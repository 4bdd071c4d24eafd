"""The block-job-* verbs, hints in error details, and requests from a newer schema."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc
import pytest

from qapi_jobs.server.jobs.refusals import JOB_ID_RULE
from qapi_jobs.transcoder import decode_arguments
from qapi_jobs.v1 import service_pb2
from tests.support.errors import assert_refused, bad_request, error_info
from tests.support.events import Events
from tests.support.images import MIB, make_dense

if TYPE_CHECKING:
    from qapi_jobs.v1.service_pb2_grpc import JobsServiceAsyncStub as Stub


@pytest.fixture
def disk(data_dir: Path) -> bytes:
    return make_dense(data_dir / "disk.img", 4 * MIB)


def backup_arguments(**members: Any) -> dict[str, Any]:
    return {"device": "disk.img", "target": "copy.img", "sync": "full", **members}


def backup(**members: Any) -> service_pb2.DriveBackupRequest:
    return decode_arguments(service_pb2.DriveBackupRequest, backup_arguments(**members))


async def refusal(call: Any) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    return caught.value


async def test_block_job_verbs_drive_a_job_to_its_end(
    stub: Stub, events: Events, disk: bytes, data_dir: Path
) -> None:
    await stub.DriveMirror(
        decode_arguments(
            service_pb2.DriveMirrorRequest,
            {
                "job-id": "m1",
                "device": "disk.img",
                "target": "copy.img",
                "sync": "full",
                "auto-finalize": False,
                "auto-dismiss": False,
            },
        )
    )
    await events.until("m1:ready")
    await stub.BlockJobPause(service_pb2.BlockJobPauseRequest(device="m1"))
    await events.until("m1:standby")
    await stub.BlockJobResume(service_pb2.BlockJobResumeRequest(device="m1"))
    await events.until("m1:ready", 2)
    await stub.BlockJobComplete(service_pb2.BlockJobCompleteRequest(device="m1"))
    await events.until("m1:pending")
    await stub.BlockJobFinalize(service_pb2.BlockJobFinalizeRequest(id="m1"))
    await events.until("m1:concluded")
    await stub.BlockJobDismiss(service_pb2.BlockJobDismissRequest(id="m1"))
    await events.until("m1:null")
    assert (data_dir / "copy.img").read_bytes() == disk


@pytest.mark.parametrize(
    ("method", "request_type", "member"),
    [
        ("BlockJobPause", service_pb2.BlockJobPauseRequest, "device"),
        ("BlockJobResume", service_pb2.BlockJobResumeRequest, "device"),
        ("BlockJobComplete", service_pb2.BlockJobCompleteRequest, "device"),
        ("BlockJobFinalize", service_pb2.BlockJobFinalizeRequest, "id"),
        ("BlockJobDismiss", service_pb2.BlockJobDismissRequest, "id"),
    ],
)
async def test_block_job_verbs_on_an_unknown_id(
    stub: Stub, method: str, request_type: Any, member: str
) -> None:
    error = await refusal(getattr(stub, method)(request_type(**{member: "x"})))
    assert_refused(
        error, grpc.StatusCode.NOT_FOUND, "Block job 'x' not found", "BLOCK_JOB_NOT_FOUND"
    )


async def test_an_invalid_default_job_id_says_to_pass_job_id(
    stub: Stub, events: Events, data_dir: Path
) -> None:
    (data_dir / "vms").mkdir()
    make_dense(data_dir / "vms" / "a.raw", MIB)
    error = await refusal(stub.DriveBackup(backup(device="vms/a.raw")))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    text = str(error.details())
    assert "Invalid job ID 'vms/a.raw'" not in text
    assert "'vms/a.raw' (taken from 'device')" in text
    assert "pass 'job-id'" in text
    info = error_info(error)
    assert info.reason == "INVALID_DEFAULT_JOB_ID"
    assert JOB_ID_RULE in info.metadata["hint"]
    assert info.metadata["default_from"] == "device"
    # With a job-id the same device is fine.
    await stub.DriveBackup(backup(device="vms/a.raw", **{"job-id": "b1"}))
    await events.until("b1:null")


async def test_an_invalid_job_id_keeps_qemu_text_and_states_the_rule(stub: Stub) -> None:
    request = decode_arguments(
        service_pb2.BlockdevCreateRequest,
        {"job-id": "1st", "options": {"driver": "raw", "filename": "n.img", "size": MIB}},
    )
    error = await refusal(stub.BlockdevCreate(request))
    assert error.details() == "Invalid job ID '1st'"
    assert JOB_ID_RULE in error_info(error).metadata["hint"]


async def test_a_small_target_gets_both_sizes_in_the_details(
    stub: Stub, disk: bytes, data_dir: Path
) -> None:
    make_dense(data_dir / "small.img", MIB)
    error = await refusal(stub.DriveBackup(backup(target="small.img", mode="existing")))
    assert error.details() == "Source and target image have different sizes"
    metadata = error_info(error).metadata
    assert (metadata["source_size"], metadata["target_size"]) == (str(4 * MIB), str(MIB))
    assert "at least as large" in metadata["hint"]


async def test_a_field_from_a_newer_schema_is_refused(stub: Stub, data_dir: Path) -> None:
    request = decode_arguments(
        service_pb2.BlockdevCreateRequest,
        {"job-id": "c1", "options": {"driver": "raw", "filename": "n.img", "size": MIB}},
    )
    # Field 99 of ImageCreateOptionsRaw, varint 1: what a newer client could send.
    request.options.raw.MergeFromString(bytes([0x98, 0x06, 0x01]))
    error = await refusal(stub.BlockdevCreate(request))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details() == "Parameter 'options.#99' is unexpected"
    info = error_info(error)
    assert info.reason == "UNKNOWN_FIELD"
    assert info.metadata["field_number"] == "99"
    assert "newer schema" in info.metadata["hint"]
    assert bad_request(error).field_violations[0].field == "options.#99"
    assert not (data_dir / "n.img").exists()


async def test_a_newer_field_deep_in_a_transaction_is_refused(stub: Stub, disk: bytes) -> None:
    request = decode_arguments(
        service_pb2.TransactionRequest,
        {"actions": [{"type": "drive-backup", "data": backup_arguments()}]},
    )
    request.actions[0].drive_backup.data.MergeFromString(bytes([0x98, 0x06, 0x01]))
    error = await refusal(stub.Transaction(request))
    assert error.details() == "Parameter 'actions[0].data.#99' is unexpected"
    assert error_info(error).metadata["message_type"] == "qapi_jobs.v1.DriveBackup"
