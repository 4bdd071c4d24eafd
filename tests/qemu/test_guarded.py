"""The qemu engine under the service's limits and an owner_only policy, across a takeover."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import grpc
import pytest

from qapi_jobs.server.grpc.app import build_server
from qapi_jobs.server.grpc.config import LimitsConfig, ServerConfig
from qapi_jobs.server.jobs.limits import JobLimits
from qapi_jobs.transcoder import decode_arguments
from qapi_jobs.v1 import service_pb2, service_pb2_grpc
from tests.security.support import failure, reason_of, refused_for_owner
from tests.support.policies import token_operator

from .conftest import until
from .images import MIB, create, write

ALICE: Any = (("authorization", "Bearer a"),)
BOB: Any = (("authorization", "Bearer b"),)


def _backup(job_id: str, target: str, **members: Any) -> service_pb2.DriveBackupRequest:
    arguments = {"job-id": job_id, "device": "src.qcow2", "target": target, "sync": "full"}
    return decode_arguments(service_pb2.DriveBackupRequest, arguments | members)


@pytest.fixture
def config(qsd: str, data_dir: Path) -> ServerConfig:
    write(create(data_dir / "src.qcow2"), 7, 0, MIB)
    return ServerConfig(
        data_dir=data_dir,
        listen=("127.0.0.1:0",),
        engine="qemu",
        qemu_storage_daemon=qsd,
        shutdown_grace=5.0,
    )


async def test_job_limits_apply_to_the_daemons_jobs(config: ServerConfig, data_dir: Path) -> None:
    jobs = JobLimits(max_jobs=2, max_running_jobs=1, max_job_id_length=16)
    async with await build_server(replace(config, limits=LimitsConfig(jobs=jobs))) as server:
        events = server.manager.subscribe()
        async with grpc.aio.insecure_channel(server.address) as channel:
            stub = service_pb2_grpc.JobsServiceStub(channel)
            error = await failure(stub.DriveBackup(_backup("j" * 17, "long.qcow2")))
            assert reason_of(error) == "MAX_JOB_ID_LENGTH"
            # A throttled backup stays at work until it is cancelled.
            await stub.DriveBackup(_backup("slow", "a.qcow2", speed=65536))
            error = await failure(stub.DriveBackup(_backup("second", "b.qcow2")))
            assert (error.code(), reason_of(error)) == (
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                "MAX_RUNNING_JOBS",
            )
            assert not (data_dir / "b.qcow2").exists()
            action = {"job-id": "t", "device": "src.qcow2", "target": "t.qcow2", "sync": "full"}
            transaction = decode_arguments(
                service_pb2.TransactionRequest,
                {"actions": [{"type": "drive-backup", "data": action}]},
            )
            error = await failure(stub.Transaction(transaction))
            assert reason_of(error) == "MAX_RUNNING_JOBS"
            await stub.JobCancel(service_pb2.JobCancelRequest(id="slow"))
            await until(events, "slow", "null")
            await stub.DriveBackup(_backup("one", "c.qcow2", **{"auto-dismiss": False}))
            await until(events, "one", "concluded")
            await stub.DriveBackup(_backup("two", "d.qcow2", **{"auto-dismiss": False}))
            await until(events, "two", "concluded")
            error = await failure(stub.DriveBackup(_backup("three", "e.qcow2")))
            assert reason_of(error) == "MAX_JOBS"
            assert not (data_dir / "e.qcow2").exists()


async def test_a_taken_over_job_still_belongs_to_its_starter(
    config: ServerConfig, tmp_path: Path
) -> None:
    policy = tmp_path / "owners.toml"
    policy.write_text(
        "owner_only = true\n" + token_operator("alice", "a") + token_operator("bob", "b")
    )
    config = replace(config, policy=policy)
    cancel = service_pb2.JobCancelRequest(id="slow")
    for run, keep in enumerate((True, False)):
        async with (
            await build_server(replace(config, qemu_keep_daemon=keep)) as server,
            grpc.aio.insecure_channel(server.address) as channel,
        ):
            stub = service_pb2_grpc.JobsServiceStub(channel)
            if run == 0:
                await stub.DriveBackup(_backup("slow", "a.qcow2", speed=65536), metadata=ALICE)
            await refused_for_owner(
                stub.JobCancel(cancel, metadata=BOB), "token:alice", f"run {run}"
            )
            if run == 1:
                events = server.manager.subscribe()
                await stub.JobCancel(cancel, metadata=ALICE)
                await until(events, "slow", "null")
