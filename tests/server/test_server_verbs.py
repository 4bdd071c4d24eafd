"""Every job verb and query over gRPC: success, and each refusal's code, text and details."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc
import pytest

from qapi_jobs.server.grpc.app import JobsServer
from qapi_jobs.transcoder import decode_arguments, message_to_qmp
from qapi_jobs.v1 import job_pb2, service_pb2
from tests.support.errors import assert_refused
from tests.support.events import Events, assert_in_order
from tests.support.images import KIB, MIB, make_dense

if TYPE_CHECKING:
    from qapi_jobs.v1.service_pb2_grpc import JobsServiceAsyncStub as Stub

NOT_FOUND = grpc.StatusCode.NOT_FOUND
FAILED_PRECONDITION = grpc.StatusCode.FAILED_PRECONDITION
INVALID_ARGUMENT = grpc.StatusCode.INVALID_ARGUMENT
ALREADY_EXISTS = grpc.StatusCode.ALREADY_EXISTS
SLOW = 256 * KIB
"""A speed limit that keeps a 4 MiB copy busy for many seconds."""


def backup_request(job_id: str = "b1", **members: Any) -> service_pb2.DriveBackupRequest:
    arguments = {"job-id": job_id, "device": "disk.img", "target": f"{job_id}.img", "sync": "full"}
    return decode_arguments(service_pb2.DriveBackupRequest, arguments | members)


def create_request(
    job_id: str = "c1", filename: str = "new.img"
) -> service_pb2.BlockdevCreateRequest:
    options = {"driver": "raw", "filename": filename, "size": MIB}
    return decode_arguments(
        service_pb2.BlockdevCreateRequest, {"job-id": job_id, "options": options}
    )


@pytest.fixture
def disk(data_dir: Path) -> bytes:
    return make_dense(data_dir / "disk.img", 4 * MIB)


async def slow_backup(
    stub: Stub, events: Events, job_id: str = "b1", members: dict[str, Any] | None = None
) -> None:
    """Start a throttled backup (with extra ``members``) and wait until it runs."""
    await stub.DriveBackup(backup_request(job_id, speed=SLOW, **(members or {})))
    await events.until(f"{job_id}:running")


async def concluded_create(stub: Stub, events: Events, job_id: str = "c1") -> None:
    """A blockdev-create job sitting in CONCLUDED (create jobs never dismiss themselves)."""
    await stub.BlockdevCreate(create_request(job_id, f"{job_id}.img"))
    await events.until(f"{job_id}:concluded")


async def refusal(call: Any) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    return caught.value


# ------------------------------------------------------------------ unknown jobs


@pytest.mark.parametrize(
    "method", ["JobPause", "JobResume", "JobCancel", "JobComplete", "JobDismiss", "JobFinalize"]
)
async def test_job_verbs_on_an_unknown_job(stub: Stub, method: str) -> None:
    request_type = getattr(service_pb2, f"{method}Request")
    error = await refusal(getattr(stub, method)(request_type(id="ghost")))
    assert_refused(error, NOT_FOUND, "Job not found", "JOB_NOT_FOUND", {"job_id": "ghost"})


async def test_block_job_verbs_on_a_job_that_is_not_a_block_job(
    stub: Stub, events: Events, disk: bytes
) -> None:
    await concluded_create(stub, events)
    text = "Block job 'c1' not found"
    details = {
        "job_id": "c1",
        "hint": "'c1' is a create job, not a block job: use the job-* command instead.",
    }
    error = await refusal(
        stub.BlockJobSetSpeed(service_pb2.BlockJobSetSpeedRequest(device="c1", speed=1))
    )
    assert_refused(error, NOT_FOUND, text, "BLOCK_JOB_NOT_FOUND", details)
    error = await refusal(stub.BlockJobCancel(service_pb2.BlockJobCancelRequest(device="c1")))
    assert_refused(error, NOT_FOUND, text, "BLOCK_JOB_NOT_FOUND", details)
    error = await refusal(stub.BlockJobDismiss(service_pb2.BlockJobDismissRequest(id="c1")))
    assert_refused(error, NOT_FOUND, text, "BLOCK_JOB_NOT_FOUND", details)
    await stub.JobDismiss(service_pb2.JobDismissRequest(id="c1"))


# ------------------------------------------------------------------ pause and resume


async def test_pause_resume_and_their_refusals(
    stub: Stub, server: JobsServer, events: Events, disk: bytes
) -> None:
    await slow_backup(stub, events)
    error = await refusal(stub.JobResume(service_pb2.JobResumeRequest(id="b1")))
    assert_refused(
        error,
        FAILED_PRECONDITION,
        "Can't resume a job that was not paused",
        "NOT_PAUSED",
        {"job_id": "b1", "status": "running", "verb": "resume"},
    )

    await stub.JobPause(service_pb2.JobPauseRequest(id="b1"))
    await events.until("b1:paused")
    error = await refusal(stub.JobPause(service_pb2.JobPauseRequest(id="b1")))
    assert_refused(
        error,
        FAILED_PRECONDITION,
        "Job is already paused",
        "ALREADY_PAUSED",
        {"job_id": "b1", "status": "paused", "verb": "pause"},
    )
    (block_job,) = (await stub.QueryBlockJobs(service_pb2.QueryBlockJobsRequest())).result
    assert block_job.paused and block_job.status == job_pb2.JOB_STATUS_PAUSED

    await stub.JobResume(service_pb2.JobResumeRequest(id="b1"))
    await events.until("b1:running", count=2)
    assert events.of("b1")[-2:] == ["b1:paused", "b1:running"]
    await stub.JobCancel(service_pb2.JobCancelRequest(id="b1"))
    await events.until("b1:null")


async def test_verbs_refused_in_concluded(stub: Stub, events: Events) -> None:
    await concluded_create(stub, events)
    for method, verb in [
        ("JobPause", "pause"),
        ("JobCancel", "cancel"),
        ("JobComplete", "complete"),
        ("JobFinalize", "finalize"),
    ]:
        request = getattr(service_pb2, f"{method}Request")(id="c1")
        error = await refusal(getattr(stub, method)(request))
        assert_refused(
            error,
            FAILED_PRECONDITION,
            f"Job 'c1' in state 'concluded' cannot accept command verb '{verb}'",
            "VERB_NOT_ALLOWED",
            {"job_id": "c1", "status": "concluded", "verb": verb},
        )
    await stub.JobDismiss(service_pb2.JobDismissRequest(id="c1"))
    await events.until("c1:null")


# ------------------------------------------------------------------ cancel


async def test_cancel_a_running_job(stub: Stub, events: Events, disk: bytes) -> None:
    await slow_backup(stub, events, members={"auto-dismiss": False})
    await stub.JobCancel(service_pb2.JobCancelRequest(id="b1"))
    await events.until("b1:concluded")
    assert_in_order(events.of("b1"), ["b1:running", "b1:aborting", "[b1:CANCELLED]"])
    (job,) = (await stub.QueryJobs(service_pb2.QueryJobsRequest())).result
    assert (job.status, job.error) == (job_pb2.JOB_STATUS_CONCLUDED, "Operation canceled")
    await stub.JobDismiss(service_pb2.JobDismissRequest(id="b1"))
    await events.until("b1:null")


async def test_block_job_cancel_of_a_paused_job_needs_force(
    stub: Stub, events: Events, disk: bytes
) -> None:
    await slow_backup(stub, events)
    await stub.JobPause(service_pb2.JobPauseRequest(id="b1"))
    await events.until("b1:paused")
    for request in (
        service_pb2.BlockJobCancelRequest(device="b1"),
        service_pb2.BlockJobCancelRequest(device="b1", force=False),
    ):
        error = await refusal(stub.BlockJobCancel(request))
        assert_refused(
            error,
            FAILED_PRECONDITION,
            "The block job for device 'b1' is currently paused",
            "JOB_PAUSED",
            {"job_id": "b1", "status": "paused", "verb": "cancel"},
        )
    await stub.BlockJobCancel(service_pb2.BlockJobCancelRequest(device="b1", force=True))
    assert_in_order(
        await events.until("b1:null"), ["b1:paused", "b1:running", "b1:aborting", "b1:concluded"]
    )


# ------------------------------------------------------------------ complete, finalize, dismiss


async def test_complete_is_refused_for_a_running_backup(
    stub: Stub, events: Events, disk: bytes
) -> None:
    await slow_backup(stub, events)
    error = await refusal(stub.JobComplete(service_pb2.JobCompleteRequest(id="b1")))
    assert_refused(
        error,
        FAILED_PRECONDITION,
        "Job 'b1' in state 'running' cannot accept command verb 'complete'",
        "VERB_NOT_ALLOWED",
        {"job_id": "b1", "status": "running", "verb": "complete"},
    )
    await stub.JobCancel(service_pb2.JobCancelRequest(id="b1"))
    await events.until("b1:null")


async def test_finalize_a_pending_job(
    stub: Stub, events: Events, disk: bytes, data_dir: Path
) -> None:
    await stub.DriveBackup(backup_request("b1", **{"auto-finalize": False}))
    await events.until("b1:pending")
    await stub.JobFinalize(service_pb2.JobFinalizeRequest(id="b1"))
    assert_in_order(
        await events.until("b1:null"),
        ["b1:waiting", "b1:pending", "[b1:PENDING]", "[b1:COMPLETED]", "b1:concluded", "b1:null"],
    )
    assert (data_dir / "b1.img").read_bytes() == disk


async def test_finalize_refused_while_running(stub: Stub, events: Events, disk: bytes) -> None:
    await slow_backup(stub, events, members={"auto-finalize": False})
    error = await refusal(stub.JobFinalize(service_pb2.JobFinalizeRequest(id="b1")))
    assert_refused(
        error,
        FAILED_PRECONDITION,
        "Job 'b1' in state 'running' cannot accept command verb 'finalize'",
        "VERB_NOT_ALLOWED",
        {"job_id": "b1", "status": "running", "verb": "finalize"},
    )
    await stub.JobCancel(service_pb2.JobCancelRequest(id="b1"))
    await events.until("b1:null")


async def test_dismiss(stub: Stub, events: Events, disk: bytes) -> None:
    await slow_backup(stub, events)
    error = await refusal(stub.JobDismiss(service_pb2.JobDismissRequest(id="b1")))
    assert_refused(
        error,
        FAILED_PRECONDITION,
        "Job 'b1' in state 'running' cannot accept command verb 'dismiss'",
        "VERB_NOT_ALLOWED",
        {"job_id": "b1", "status": "running", "verb": "dismiss"},
    )
    await stub.JobCancel(service_pb2.JobCancelRequest(id="b1"))

    await concluded_create(stub, events)
    await stub.JobDismiss(service_pb2.JobDismissRequest(id="c1"))
    await events.until("c1:null")
    error = await refusal(stub.JobDismiss(service_pb2.JobDismissRequest(id="c1")))
    assert_refused(error, NOT_FOUND, "Job not found", "JOB_NOT_FOUND")
    await events.until("b1:null")


# ------------------------------------------------------------------ speed


async def test_set_speed(stub: Stub, events: Events, disk: bytes) -> None:
    await slow_backup(stub, events)
    await stub.BlockJobSetSpeed(service_pb2.BlockJobSetSpeedRequest(device="b1", speed=SLOW // 2))
    (info,) = (await stub.QueryBlockJobs(service_pb2.QueryBlockJobsRequest())).result
    assert (info.device, info.speed) == ("b1", SLOW // 2)

    error = await refusal(
        stub.BlockJobSetSpeed(service_pb2.BlockJobSetSpeedRequest(device="b1", speed=-1))
    )
    assert_refused(
        error,
        INVALID_ARGUMENT,
        "Parameter 'speed' expects a non-negative value",
        "NEGATIVE_SPEED",
        {"job_id": "b1"},
    )
    error = await refusal(
        stub.BlockJobSetSpeed(service_pb2.BlockJobSetSpeedRequest(device="nope", speed=1))
    )
    assert_refused(error, NOT_FOUND, "Block job 'nope' not found", "BLOCK_JOB_NOT_FOUND")

    await stub.BlockJobSetSpeed(service_pb2.BlockJobSetSpeedRequest(device="b1", speed=0))
    await events.until("b1:null")


async def test_negative_speed_at_creation_emits_created_then_null(
    stub: Stub, events: Events, disk: bytes
) -> None:
    error = await refusal(stub.DriveBackup(backup_request("b1", speed=-1)))
    assert_refused(
        error, INVALID_ARGUMENT, "Parameter 'speed' expects a non-negative value", "NEGATIVE_SPEED"
    )
    assert events.drain() == ["b1:created", "b1:null"]


# ------------------------------------------------------------------ queries


async def test_queries_list_jobs_newest_first(stub: Stub, events: Events, disk: bytes) -> None:
    assert list((await stub.QueryJobs(service_pb2.QueryJobsRequest())).result) == []
    await slow_backup(stub, events, "b1")
    await concluded_create(stub, events, "c1")

    jobs = (await stub.QueryJobs(service_pb2.QueryJobsRequest())).result
    assert [job.id for job in jobs] == ["c1", "b1"]
    assert message_to_qmp(jobs[0]) == {
        "id": "c1",
        "type": "create",
        "status": "concluded",
        "current-progress": MIB,
        "total-progress": MIB,
    }
    assert (jobs[1].type, jobs[1].total_progress) == (job_pb2.JOB_TYPE_BACKUP, 4 * MIB)

    (block_job,) = (await stub.QueryBlockJobs(service_pb2.QueryBlockJobsRequest())).result
    shown = message_to_qmp(block_job)
    assert {key: shown[key] for key in ("type", "device", "len", "speed", "io-status")} == {
        "type": "backup",
        "device": "b1",
        "len": 4 * MIB,
        "speed": SLOW,
        "io-status": "ok",
    }
    assert (shown["auto-finalize"], shown["auto-dismiss"], shown["ready"]) == (True, True, False)

    await stub.JobCancel(service_pb2.JobCancelRequest(id="b1"))
    await stub.JobDismiss(service_pb2.JobDismissRequest(id="c1"))
    await events.until("b1:null")


# ------------------------------------------------------------------ creation


async def test_blockdev_create_and_its_refusals(stub: Stub, events: Events, data_dir: Path) -> None:
    await concluded_create(stub, events, "c1")
    assert (data_dir / "c1.img").stat().st_size == MIB

    error = await refusal(stub.BlockdevCreate(create_request("c1", "other.img")))
    assert_refused(
        error,
        ALREADY_EXISTS,
        "Job ID 'c1' already in use",
        "JOB_ID_IN_USE",
        {
            "job_id": "c1",
            "hint": "Choose another ID, or dismiss the old job first (job-dismiss) if it has "
            "concluded.",
        },
    )
    error = await refusal(stub.BlockdevCreate(create_request("1st", "other.img")))
    assert_refused(error, INVALID_ARGUMENT, "Invalid job ID '1st'", "INVALID_JOB_ID")
    error = await refusal(stub.BlockdevCreate(create_request("", "other.img")))
    assert_refused(error, INVALID_ARGUMENT, "Invalid job ID ''", "INVALID_JOB_ID")
    error = await refusal(stub.BlockdevCreate(create_request("c2", "c1.img")))
    assert error.code() == ALREADY_EXISTS
    assert str(error.details()).startswith("Image 'c1.img' already exists")
    await stub.JobDismiss(service_pb2.JobDismissRequest(id="c1"))
    assert events.drain()[-1] == "c1:null"


async def test_backup_job_id_defaults_to_the_device(
    stub: Stub, events: Events, disk: bytes, data_dir: Path
) -> None:
    request = decode_arguments(
        service_pb2.DriveBackupRequest, {"device": "disk.img", "target": "copy.img", "sync": "full"}
    )
    await stub.DriveBackup(request)
    await events.until("disk.img:null")
    assert (data_dir / "copy.img").read_bytes() == disk


@pytest.mark.parametrize(
    ("method", "arguments"),
    [
        ("BlockStream", {"device": "disk.img"}),
        ("BlockCommit", {"device": "disk.img"}),
        (
            "XBlockdevAmend",
            {"job-id": "a1", "options": {"driver": "qcow2", "filename": "disk.img"}},
        ),
    ],
)
async def test_commands_that_need_the_qemu_engine(
    stub: Stub, events: Events, disk: bytes, method: str, arguments: dict[str, Any]
) -> None:
    request = decode_arguments(getattr(service_pb2, f"{method}Request"), arguments)
    error = await refusal(getattr(stub, method)(request))
    text = str(error.details())
    assert "qemu engine" in text
    assert "builtin engine" in text
    assert_refused(error, FAILED_PRECONDITION, text, "NEEDS_QEMU_ENGINE")
    assert events.drain() == []


async def test_builtin_engine_limits_are_failed_preconditions(stub: Stub, disk: bytes) -> None:
    error = await refusal(stub.DriveBackup(backup_request("b1", sync="top")))
    assert_refused(
        error,
        FAILED_PRECONDITION,
        "Sync mode 'top' not supported: the builtin engine supports only 'full'; "
        "the qemu engine runs the others",
        "UNSUPPORTED_SYNC_MODE",
    )
