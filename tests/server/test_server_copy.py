"""Real backups and mirrors over gRPC: the target's bytes (and holes) match the source."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc
import pytest

from qapi_jobs.server.grpc.app import JobsServer
from qapi_jobs.transcoder import decode_arguments
from qapi_jobs.v1 import service_pb2
from tests.support.errors import assert_refused
from tests.support.events import Events, assert_in_order, wait_for_progress
from tests.support.images import KIB, MIB, data_ranges, make_dense, make_image, overwrite

if TYPE_CHECKING:
    from qapi_jobs.v1.service_pb2_grpc import JobsServiceAsyncStub as Stub

SPARSE = [(0, 128 * KIB), (MIB, 64 * KIB), (3 * MIB, 192 * KIB)]


def backup(job_id: str, target: str, **members: Any) -> service_pb2.DriveBackupRequest:
    arguments = {"job-id": job_id, "device": "disk.img", "target": target, "sync": "full"}
    return decode_arguments(service_pb2.DriveBackupRequest, arguments | members)


def mirror(job_id: str, target: str, **members: Any) -> service_pb2.DriveMirrorRequest:
    arguments = {"job-id": job_id, "device": "disk.img", "target": target, "sync": "full"}
    return decode_arguments(service_pb2.DriveMirrorRequest, arguments | members)


async def test_backup_of_a_sparse_image_keeps_its_holes(
    stub: Stub, events: Events, data_dir: Path
) -> None:
    content = make_image(data_dir / "disk.img", 4 * MIB, SPARSE)
    await stub.DriveBackup(backup("b1", "copy.img"))
    assert_in_order(
        await events.until("b1:null"),
        ["b1:created", "b1:running", "b1:waiting", "b1:pending", "[b1:COMPLETED]", "b1:concluded"],
    )
    assert (data_dir / "copy.img").read_bytes() == content
    assert data_ranges(data_dir / "copy.img") == SPARSE


async def test_backup_into_an_existing_target(stub: Stub, events: Events, data_dir: Path) -> None:
    content = make_dense(data_dir / "disk.img", 2 * MIB)
    make_dense(data_dir / "old.img", 2 * MIB, seed=7)
    await stub.DriveBackup(backup("b1", "old.img", mode="existing"))
    await events.until("b1:null")
    assert (data_dir / "old.img").read_bytes() == content


async def test_mirror_follows_writes_while_ready_then_completes(
    stub: Stub, events: Events, data_dir: Path
) -> None:
    source = data_dir / "disk.img"
    make_image(source, 4 * MIB, SPARSE)
    await stub.DriveMirror(mirror("m1", "mirror.img"))
    await events.until("[m1:READY]")

    overwrite(source, 2 * MIB, b"\x5a" * (256 * KIB))
    overwrite(source, 0, b"\xa5" * 4096)
    await stub.JobComplete(service_pb2.JobCompleteRequest(id="m1"))
    assert_in_order(
        await events.until("m1:null"),
        [
            "m1:running",
            "m1:ready",
            "[m1:READY]",
            "m1:waiting",
            "m1:pending",
            "[m1:COMPLETED]",
            "m1:concluded",
        ],
    )
    assert (data_dir / "mirror.img").read_bytes() == source.read_bytes()


async def test_soft_cancel_of_a_ready_mirror_ends_it_successfully(
    stub: Stub, events: Events, data_dir: Path
) -> None:
    content = make_dense(data_dir / "disk.img", 2 * MIB)
    await stub.DriveMirror(mirror("m1", "mirror.img"))
    await events.until("[m1:READY]")
    await stub.BlockJobCancel(service_pb2.BlockJobCancelRequest(device="m1"))
    seen = await events.until("m1:null")
    assert "[m1:COMPLETED]" in seen
    assert "m1:aborting" not in seen
    assert (data_dir / "mirror.img").read_bytes() == content


async def test_pause_mid_copy_then_resume_to_the_end(
    stub: Stub, server: JobsServer, events: Events, data_dir: Path
) -> None:
    content = make_dense(data_dir / "disk.img", 4 * MIB)
    await stub.DriveBackup(backup("b1", "copy.img", speed=512 * KIB))
    await wait_for_progress(server.manager, "b1")
    await stub.JobPause(service_pb2.JobPauseRequest(id="b1"))
    await events.until("b1:paused")
    (job,) = (await stub.QueryJobs(service_pb2.QueryJobsRequest())).result
    assert 0 < job.current_progress < job.total_progress == 4 * MIB

    await stub.BlockJobSetSpeed(service_pb2.BlockJobSetSpeedRequest(device="b1", speed=0))
    await stub.JobResume(service_pb2.JobResumeRequest(id="b1"))
    assert_in_order(
        await events.until("b1:null"),
        ["b1:running", "b1:paused", "b1:running", "[b1:COMPLETED]", "b1:concluded"],
    )
    assert (data_dir / "copy.img").read_bytes() == content


async def test_cancel_mid_copy_removes_the_target_it_created(
    stub: Stub, server: JobsServer, events: Events, data_dir: Path
) -> None:
    make_dense(data_dir / "disk.img", 4 * MIB)
    await stub.DriveBackup(backup("b1", "copy.img", speed=512 * KIB))
    await wait_for_progress(server.manager, "b1")
    await stub.JobCancel(service_pb2.JobCancelRequest(id="b1"))
    assert_in_order(
        await events.until("b1:null"),
        ["b1:running", "b1:aborting", "[b1:CANCELLED]", "b1:concluded"],
    )
    assert not (data_dir / "copy.img").exists()


async def test_a_backup_of_a_busy_source_is_refused_without_events(
    stub: Stub, server: JobsServer, events: Events, data_dir: Path
) -> None:
    content = make_dense(data_dir / "disk.img", 4 * MIB)
    make_dense(data_dir / "other.img", 4 * MIB)
    await stub.DriveBackup(backup("b1", "copy.img", speed=512 * KIB))
    await events.until("b1:running")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.DriveBackup(backup("b2", "disk.img", device="other.img", mode="existing"))
    assert_refused(
        caught.value,
        grpc.StatusCode.FAILED_PRECONDITION,
        "Node 'disk.img' is busy: block device is in use by block job: backup",
        "NODE_BUSY",
    )
    assert [info.id for info in server.manager.query_jobs()] == ["b1"]

    await stub.JobCancel(service_pb2.JobCancelRequest(id="b1"))
    await events.until("b1:null")
    await stub.DriveBackup(backup("b2", "second.img"))
    await events.until("b2:null")
    assert events.of("b2")[:2] == ["b2:created", "b2:running"], "nothing from the refusal"
    assert (data_dir / "second.img").read_bytes() == content
