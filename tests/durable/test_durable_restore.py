"""What a restart restores with a job besides its status: its owner, and its files' removal.

An owner_only policy still keeps a restored job to its starter.  The
files an interrupted job created are found beneath the data directory
where it is now, never through a symbolic link, and only when the record
names their inode.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import grpc

from qapi_jobs.client import AsyncJobsClient
from qapi_jobs.server.engines.backend import BuiltinJobs
from qapi_jobs.server.engines.builtin import BuiltinEngine
from qapi_jobs.server.engines.builtin.image_job import remove_restored
from qapi_jobs.server.engines.builtin.paths import CREATION_TAG, DataDir
from qapi_jobs.server.grpc.app import build_server
from qapi_jobs.server.grpc.config import ServerConfig
from qapi_jobs.server.jobs.records import INTERRUPTED
from qapi_jobs.transcoder import decode_arguments
from qapi_jobs.v1 import block_ops_pb2, job_pb2, service_pb2, service_pb2_grpc
from tests.durable.watchers import end
from tests.security.support import failure, reason_of
from tests.support.policies import token_operator
from tests.support.servers import ServerProcess, free_port

MIB = 1 << 20


async def test_a_restored_job_still_belongs_to_its_starter(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    policy = tmp_path / "owners.toml"
    policy.write_text(
        "owner_only = true\n" + token_operator("alice", "a") + token_operator("bob", "b")
    )
    config = ServerConfig(data_dir=data, listen=("127.0.0.1:0",), policy=policy)
    alice: Any = (("authorization", "Bearer a"),)
    bob: Any = (("authorization", "Bearer b"),)
    dismiss = service_pb2.JobDismissRequest(id="c1")
    create = decode_arguments(
        service_pb2.BlockdevCreateRequest,
        {"job-id": "c1", "options": {"driver": "raw", "filename": "c1.raw", "size": 4096}},
    )

    for run in range(2):
        server = await build_server(replace(config, listen=("127.0.0.1:0",)))
        await server.start()
        try:
            async with grpc.aio.insecure_channel(server.address) as channel:
                stub = service_pb2_grpc.JobsServiceStub(channel)
                if run == 0:
                    await stub.BlockdevCreate(create, metadata=alice)
                error = await failure(stub.JobDismiss(dismiss, metadata=bob))
                assert (error.code(), reason_of(error)) == (
                    grpc.StatusCode.PERMISSION_DENIED,
                    "NOT_JOB_OWNER",
                ), f"run {run}"
                assert "belongs to token:alice" in (error.details() or "")
                if run == 1:
                    await stub.JobDismiss(dismiss, metadata=alice)
        finally:
            await server.stop()


async def test_a_moved_data_directory_still_loses_the_half_made_file(tmp_path: Path) -> None:
    first = tmp_path / "first"
    first.mkdir()
    (first / "src.raw").write_bytes(os.urandom(8 * MIB))
    server = ServerProcess(first, free_port()).start()
    try:
        async with AsyncJobsClient(server.address, timeout=10) as client:
            await client.drive_backup(
                job_id="copy",
                device="src.raw",
                target="copy.raw",
                sync=block_ops_pb2.MIRROR_SYNC_MODE_FULL,
                speed=64 << 10,
            )
            async with contextlib.aclosing(client.watch_jobs(min_interval=0.01)) as progress:
                async for snapshot in progress:
                    if any(job.id == "copy" and job.current_progress for job in snapshot.jobs):
                        break
        end(server, "kill")
    finally:
        with contextlib.suppress(Exception):
            server.kill()
    moved = tmp_path / "moved"
    shutil.move(first, moved)
    assert (moved / "copy.raw").exists()
    server = ServerProcess(moved, free_port()).start()
    try:
        async with AsyncJobsClient(server.address, timeout=10) as client:
            (job,) = await client.query_jobs()
            assert job.status == job_pb2.JOB_STATUS_CONCLUDED and job.error == INTERRUPTED
        assert not (moved / "copy.raw").exists()
        assert (moved / "src.raw").exists()
    finally:
        server.stop()


def _record(job_id: str, files: list[list[object]]) -> dict[str, object]:
    """The record of a create job that was running when its server was killed."""
    return {
        "id": job_id,
        "type": "create",
        "block": False,
        "converging": False,
        "status": "running",
        "auto_finalize": True,
        "auto_dismiss": False,
        "speed": 0,
        "current": 0,
        "total": 0,
        "ret": 0,
        "error": None,
        "txn": None,
        "created_at": 0.0,
        "owner": None,
        "files": files,
    }


async def test_restored_removal_follows_no_link_and_needs_the_inode(tmp_path: Path) -> None:
    data = tmp_path / "data"
    outside = tmp_path / "outside"
    data.mkdir()
    outside.mkdir()
    victim = outside / "x.raw"
    victim.write_bytes(b"not the job's")
    (data / "sub").symlink_to(outside)
    fresh = data / "fresh.raw"  # changed just now, but the record names no inode
    fresh.write_bytes(b"someone else's")
    untagged = data / "untagged.raw"  # the record's tag, but not on the file
    untagged.write_bytes(b"someone else's")
    st = victim.stat()
    data_dir = DataDir(data)
    manager = BuiltinJobs(BuiltinEngine(data_dir))
    await manager.restore(
        [
            _record("linked", [["sub/x.raw", st.st_dev, st.st_ino]]),
            _record("absolute", [[str(victim), st.st_dev, st.st_ino]]),
            _record("noinode", [["fresh.raw", None, None]]),
            _record("untagged", [["untagged.raw", None, None, "f00d"]]),
        ],
        remove_files=functools.partial(remove_restored, data_dir),
    )
    jobs = {job.id: job for job in manager.query_jobs()}
    assert {job.error for job in jobs.values()} == {INTERRUPTED}
    assert victim.read_bytes() == b"not the job's"
    assert fresh.read_bytes() == b"someone else's"
    assert untagged.read_bytes() == b"someone else's"


async def test_restored_removal_removes_the_recorded_inode_only(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "dir").mkdir(parents=True)
    made = data / "dir" / "made.raw"
    made.write_bytes(b"half made")
    other = data / "other.raw"
    other.write_bytes(b"replaced")
    tagged = data / "tagged.raw"  # created, but killed before its inode was recorded
    tagged.write_bytes(b"half made")
    os.setxattr(tagged, CREATION_TAG, b"f00d")
    made_st, other_st = made.stat(), other.stat()
    data_dir = DataDir(data)
    manager = BuiltinJobs(BuiltinEngine(data_dir))
    await manager.restore(
        [
            _record("made", [["dir//./made.raw", made_st.st_dev, made_st.st_ino]]),
            # The name now leads to a file other than the one recorded.
            _record("swapped", [["other.raw", other_st.st_dev, other_st.st_ino + 1]]),
            _record("tagged", [["tagged.raw", None, None, "f00d"]]),
        ],
        remove_files=functools.partial(remove_restored, data_dir),
    )
    assert not made.exists() and not tagged.exists()
    assert other.read_bytes() == b"replaced"
