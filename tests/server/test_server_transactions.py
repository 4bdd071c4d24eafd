"""The transaction rpc: grouped and individual completion, aborts, and rollback of refusals."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc
import pytest

from qapi_jobs.server.grpc.app import JobsServer
from qapi_jobs.server.store import STATE_DIR_NAME
from qapi_jobs.transcoder import decode_arguments
from qapi_jobs.v1 import service_pb2
from tests.support.errors import assert_refused
from tests.support.events import Events, assert_in_order, wait_for_progress
from tests.support.images import KIB, MIB, make_dense

if TYPE_CHECKING:
    from qapi_jobs.v1.service_pb2_grpc import JobsServiceAsyncStub as Stub

SLOW = 512 * KIB


def backup_action(job_id: str, device: str, **members: Any) -> dict[str, Any]:
    data = {"job-id": job_id, "device": device, "target": f"{job_id}.img", "sync": "full"}
    return {"type": "drive-backup", "data": data | members}


def transaction(
    *actions: dict[str, Any], mode: str | None = None
) -> service_pb2.TransactionRequest:
    arguments: dict[str, Any] = {"actions": list(actions)}
    if mode is not None:
        arguments["properties"] = {"completion-mode": mode}
    return decode_arguments(service_pb2.TransactionRequest, arguments)


@pytest.fixture
def sources(data_dir: Path) -> dict[str, bytes]:
    return {
        "disk-a.img": make_dense(data_dir / "disk-a.img", 2 * MIB, seed=1),
        "disk-b.img": make_dense(data_dir / "disk-b.img", 4 * MIB, seed=2),
    }


async def test_grouped_transaction_succeeds_as_a_whole(
    stub: Stub, events: Events, data_dir: Path, sources: dict[str, bytes]
) -> None:
    await stub.Transaction(
        transaction(
            backup_action("a", "disk-a.img"), backup_action("b", "disk-b.img"), mode="grouped"
        )
    )
    seen = await events.until("a:null")
    await events.until("b:null")
    assert seen[:4] == ["a:created", "b:created", "a:running", "b:running"]
    # Which copy finishes first is up to the disk; the group moves on only
    # once both wait, and then always in the same order.
    settled = [entry for entry in events.seen if entry.endswith((":waiting", ":pending"))]
    assert sorted(settled[:2]) == ["a:waiting", "b:waiting"]
    assert settled[2:] == ["b:pending", "a:pending"]
    assert (data_dir / "a.img").read_bytes() == sources["disk-a.img"]
    assert (data_dir / "b.img").read_bytes() == sources["disk-b.img"]


async def test_a_failing_member_aborts_the_group(
    stub: Stub, server: JobsServer, events: Events, data_dir: Path, sources: dict[str, bytes]
) -> None:
    await stub.Transaction(
        transaction(
            backup_action("a", "disk-a.img", speed=SLOW),
            backup_action("b", "disk-b.img", speed=SLOW),
            mode="grouped",
        )
    )
    await wait_for_progress(server.manager, "b")
    await stub.JobPause(service_pb2.JobPauseRequest(id="b"))
    await events.until("b:paused")
    os.truncate(data_dir / "disk-b.img", 0)
    await stub.JobResume(service_pb2.JobResumeRequest(id="b"))

    await events.until("a:null")
    await events.until("b:null")
    assert_in_order(
        events.seen, ["b:aborting", "b:concluded", "a:aborting", "[a:CANCELLED]", "a:concluded"]
    )
    (completed,) = [text for text in events.of("b") if text.startswith("[b:COMPLETED")]
    assert "error=Source and target image have different sizes" in completed
    assert not (data_dir / "a.img").exists()
    assert not (data_dir / "b.img").exists()


async def test_cancelling_one_member_cancels_the_group(
    stub: Stub, events: Events, sources: dict[str, bytes]
) -> None:
    await stub.Transaction(
        transaction(
            backup_action("a", "disk-a.img", speed=SLOW),
            backup_action("b", "disk-b.img", speed=SLOW),
            mode="grouped",
        )
    )
    await events.until("b:running")
    await stub.JobCancel(service_pb2.JobCancelRequest(id="a"))
    await events.until("a:null")
    await events.until("b:null")
    assert_in_order(
        events.seen, ["a:aborting", "b:aborting", "[b:CANCELLED]", "[a:CANCELLED]", "a:null"]
    )


async def test_individual_members_finish_on_their_own(
    stub: Stub, events: Events, data_dir: Path, sources: dict[str, bytes]
) -> None:
    await stub.Transaction(
        transaction(
            backup_action("a", "disk-a.img", speed=SLOW),
            backup_action("b", "disk-b.img"),
        )
    )
    await stub.JobCancel(service_pb2.JobCancelRequest(id="a"))
    await events.until("a:null")
    await events.until("b:null")
    assert "[b:COMPLETED]" in events.seen
    assert (data_dir / "b.img").read_bytes() == sources["disk-b.img"]
    assert not (data_dir / "a.img").exists()


async def test_finalize_through_any_member(
    stub: Stub, events: Events, data_dir: Path, sources: dict[str, bytes]
) -> None:
    manual = {"auto-finalize": False}
    await stub.Transaction(
        transaction(
            backup_action("a", "disk-a.img", **manual),
            backup_action("b", "disk-b.img", speed=SLOW, **manual),
            mode="grouped",
        )
    )
    await events.until("a:waiting")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.JobFinalize(service_pb2.JobFinalizeRequest(id="a"))
    assert_refused(
        caught.value,
        grpc.StatusCode.FAILED_PRECONDITION,
        "Job 'a' in state 'waiting' cannot accept command verb 'finalize'",
        "VERB_NOT_ALLOWED",
        {"job_id": "a", "status": "waiting", "verb": "finalize"},
    )

    await stub.BlockJobSetSpeed(service_pb2.BlockJobSetSpeedRequest(device="b", speed=0))
    await events.until("[a:PENDING]")
    await stub.JobFinalize(service_pb2.JobFinalizeRequest(id="b"))
    await events.until("a:null")
    assert_in_order(
        events.seen,
        [
            "b:pending",
            "[b:PENDING]",
            "a:pending",
            "[a:PENDING]",
            "[b:COMPLETED]",
            "b:concluded",
            "b:null",
            "[a:COMPLETED]",
            "a:concluded",
            "a:null",
        ],
    )
    assert (data_dir / "a.img").read_bytes() == sources["disk-a.img"]
    assert (data_dir / "b.img").read_bytes() == sources["disk-b.img"]


async def test_abort_action_refuses_the_whole_transaction(
    stub: Stub, events: Events, data_dir: Path, sources: dict[str, bytes]
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Transaction(
            transaction(
                backup_action("a", "disk-a.img"),
                {"type": "abort", "data": {}},
                backup_action("b", "disk-b.img"),
            )
        )
    assert_refused(
        caught.value,
        grpc.StatusCode.INVALID_ARGUMENT,
        "Transaction aborted using Abort action",
        "TRANSACTION_ABORTED",
    )
    assert events.drain() == ["a:created", "a:aborting", "a:concluded", "a:null"]
    assert list((await stub.QueryJobs(service_pb2.QueryJobsRequest())).result) == []
    assert sorted(set(os.listdir(data_dir)) - {STATE_DIR_NAME}) == ["disk-a.img", "disk-b.img"]


async def test_a_refused_action_rolls_back_the_jobs_before_it(
    stub: Stub, events: Events, data_dir: Path, sources: dict[str, bytes]
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Transaction(
            transaction(
                backup_action("a", "disk-a.img"),
                backup_action("b", "missing.img"),
                mode="grouped",
            )
        )
    assert_refused(
        caught.value,
        grpc.StatusCode.NOT_FOUND,
        "Could not open 'missing.img': No such file or directory",
        "IMAGE_NOT_FOUND",
    )
    assert events.drain() == ["a:created", "a:aborting", "a:concluded", "a:null"]
    assert sorted(set(os.listdir(data_dir)) - {STATE_DIR_NAME}) == ["disk-a.img", "disk-b.img"]


async def test_a_refused_first_action_creates_nothing(
    stub: Stub, events: Events, sources: dict[str, bytes]
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Transaction(
            transaction(backup_action("a", "/etc/passwd"), backup_action("b", "disk-b.img"))
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert events.drain() == []


async def test_a_backup_onto_anothers_source_refuses_the_transaction(
    stub: Stub, events: Events, data_dir: Path, sources: dict[str, bytes]
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Transaction(
            transaction(
                backup_action("a", "disk-b.img"),
                backup_action("b", "disk-a.img", target="disk-b.img", mode="existing"),
                mode="grouped",
            )
        )
    assert_refused(
        caught.value,
        grpc.StatusCode.FAILED_PRECONDITION,
        "Node 'disk-b.img' is busy: block device is in use by block job: backup",
        "NODE_BUSY",
    )
    assert events.drain() == ["a:created", "a:aborting", "a:concluded", "a:null"]
    assert list((await stub.QueryJobs(service_pb2.QueryJobsRequest())).result) == []
    assert sorted(set(os.listdir(data_dir)) - {STATE_DIR_NAME}) == ["disk-a.img", "disk-b.img"]

    # The rolled-back job let go of the source.
    await stub.Transaction(transaction(backup_action("b", "disk-a.img")))
    assert "[b:COMPLETED]" in await events.until("b:null")
    assert (data_dir / "b.img").read_bytes() == sources["disk-a.img"]


async def test_duplicate_job_ids_in_one_transaction(
    stub: Stub, events: Events, sources: dict[str, bytes]
) -> None:
    # Distinct targets: with one target both, the second action would be
    # refused for the busy file before its id is even looked at.
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Transaction(
            transaction(
                backup_action("a", "disk-a.img"),
                backup_action("a", "disk-b.img", target="a2.img"),
            )
        )
    assert_refused(
        caught.value,
        grpc.StatusCode.ALREADY_EXISTS,
        "Job ID 'a' already in use",
        "JOB_ID_IN_USE",
    )
    assert events.drain() == ["a:created", "a:aborting", "a:concluded", "a:null"]


async def test_an_empty_transaction_does_nothing(stub: Stub, events: Events) -> None:
    await stub.Transaction(transaction())
    assert events.drain() == []
