"""Restarts (SIGTERM and SIGKILL) in the middle of copies, with jobs waiting and concluded.

After the restart the jobs are all there: the copy that ran ends
CONCLUDED with the error that says why and its half-written target is
gone; the PENDING and CONCLUDED jobs are as they were.  Watchers carry on
under the same log identity: the typed client without a relist, a raw
WatchEvents stream resumed from an earlier sequence number with exactly
the events it missed.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import pytest

from qapi_jobs.client import AsyncJobsClient, ReconnectPolicy
from qapi_jobs.server.jobs.records import INTERRUPTED
from qapi_jobs.transcoder import decode_arguments
from qapi_jobs.v1 import block_ops_pb2, image_pb2, job_pb2, service_pb2
from tests.durable.watchers import TypedWatch, assert_contiguous, end, read_after
from tests.support.servers import ServerProcess, free_port

QUICK = ReconnectPolicy(initial=0.05, maximum=0.3, give_up_after=30)
MIB = 1 << 20
SLOW = 64 << 10
FULL = block_ops_pb2.MIRROR_SYNC_MODE_FULL


def _raw(name: str) -> image_pb2.BlockdevCreateOptions:
    return image_pb2.BlockdevCreateOptions(
        driver=image_pb2.IMAGE_DRIVER_RAW,
        raw=image_pb2.ImageCreateOptionsRaw(filename=name, size=MIB),
    )


async def _jobs(client: AsyncJobsClient) -> dict[str, job_pb2.JobInfo]:
    return {job.id: job for job in await client.query_jobs()}


def _status(job: job_pb2.JobInfo) -> str:
    return job_pb2.JobStatus.Name(job.status).removeprefix("JOB_STATUS_").lower()


@pytest.mark.parametrize("how", ["term", "kill"])
@pytest.mark.parametrize("kind", ["backup", "mirror"])
async def test_a_restart_mid_copy_keeps_every_job_and_every_event(
    tmp_path: Path, kind: str, how: str
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    # Two chunks of the default 4 MiB: the speed limit holds the second one back.
    (data / "src.raw").write_bytes(os.urandom(8 * MIB))
    (data / "small.raw").write_bytes(os.urandom(MIB))
    server = ServerProcess(data, free_port()).start()
    try:
        async with AsyncJobsClient(server.address, timeout=10, reconnect=QUICK) as client:
            typed = TypedWatch(client.watch_events(snapshot=True))
            await typed.started()
            await client.blockdev_create(job_id="done", options=_raw("done.raw"))
            await client.drive_backup(
                job_id="pend",
                device="small.raw",
                target="pend.raw",
                sync=FULL,
                auto_finalize=False,
                auto_dismiss=False,
            )
            await typed.until(
                lambda: typed.saw("done", "concluded") and typed.saw("pend", "pending")
            )
            start = client.drive_backup if kind == "backup" else client.drive_mirror
            await start(job_id="copy", device="src.raw", target="copy.raw", sync=FULL, speed=SLOW)
            async with contextlib.aclosing(client.watch_jobs(min_interval=0.01)) as progress:
                async for snapshot in progress:
                    copy = [job for job in snapshot.jobs if job.id == "copy"]
                    if copy and copy[0].current_progress > 0:
                        break
            assert (data / "copy.raw").exists()
            resumed_from = typed.events[-1].sequence  # a watcher that loses its stream here
            instance_id = typed.resyncs[0].instance_id

            end(server, how)
            server.start()

            await typed.until(lambda: typed.saw("copy", "concluded"))
            jobs = await _jobs(client)
            assert _status(jobs["copy"]) == "concluded" and jobs["copy"].error == INTERRUPTED
            assert _status(jobs["done"]) == "concluded" and not jobs["done"].error
            assert _status(jobs["pend"]) == "pending"
            assert not (data / "copy.raw").exists()  # removed, as on cancel
            assert (data / "pend.raw").exists() and (data / "done.raw").exists()

            # No relist: one log, numbered on across the restart.
            assert len(typed.resyncs) == 1
            assert_contiguous(typed.events, instance_id)
            statuses = [
                e.data["status"]
                for e in typed.events
                if e.job_id == "copy" and e.name == "JOB_STATUS_CHANGE"
            ]
            assert statuses[-2:] == ["aborting", "concluded"]
            assert any(e.name == "BLOCK_JOB_CANCELLED" and e.job_id == "copy" for e in typed.events)

            # A watcher resuming from before the restart gets exactly what it missed.
            newest = typed.events[-1].sequence
            missed = await read_after(server.address, resumed_from, instance_id, newest)
            assert [r.event.sequence for r in missed] == list(range(resumed_from + 1, newest + 1))
            expected = [e.event for e in typed.events if e.sequence > resumed_from]
            assert [r.event.event for r in missed] == expected

            # The restored records answer the verbs.
            await client.job_dismiss(id="copy")
            await client.job_dismiss(id="done")
            await client.job_finalize(id="pend")
            await typed.until(lambda: typed.saw("pend", "concluded"))
            await client.job_dismiss(id="pend")
            assert await _jobs(client) == {}
            assert (data / "pend.raw").read_bytes() == (data / "small.raw").read_bytes()
            await typed.close()
    finally:
        server.kill()


def _backup_action(job_id: str, device: str, **members: object) -> dict[str, object]:
    data = {"job-id": job_id, "device": device, "target": f"{job_id}.raw", "sync": "full"}
    return {"type": "drive-backup", "data": data | members}


@pytest.mark.parametrize("how", ["term", "kill"])
async def test_a_restart_mid_transaction_aborts_the_whole_group(tmp_path: Path, how: str) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "quick.raw").write_bytes(os.urandom(MIB))
    (data / "slow.raw").write_bytes(os.urandom(8 * MIB))
    server = ServerProcess(data, free_port()).start()
    try:
        async with AsyncJobsClient(server.address, timeout=10, reconnect=QUICK) as client:
            typed = TypedWatch(client.watch_events(snapshot=True))
            await typed.started()
            request = decode_arguments(
                service_pb2.TransactionRequest,
                {
                    "actions": [
                        _backup_action("a", "quick.raw"),
                        _backup_action("b", "slow.raw", speed=SLOW),
                    ],
                    "properties": {"completion-mode": "grouped"},
                },
            )
            await client.transaction(actions=request.actions, properties=request.properties)
            await typed.until(lambda: typed.saw("a", "waiting"))
            assert (data / "a.raw").exists()

            end(server, how)
            server.start()

            await typed.until(lambda: typed.saw("a", "concluded") and typed.saw("b", "concluded"))
            jobs = await _jobs(client)
            assert {job_id: (_status(job), job.error) for job_id, job in jobs.items()} == {
                "a": ("concluded", INTERRUPTED),
                "b": ("concluded", INTERRUPTED),
            }
            # a had finished its copy, but its group failed: its target goes too.
            assert not (data / "a.raw").exists() and not (data / "b.raw").exists()
            assert len(typed.resyncs) == 1
            assert_contiguous(typed.events, typed.resyncs[0].instance_id)
            await typed.close()
    finally:
        server.kill()


async def test_a_job_paused_when_the_server_died_leaves_its_pause_first(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "src.raw").write_bytes(os.urandom(8 * MIB))
    server = ServerProcess(data, free_port()).start()
    try:
        async with AsyncJobsClient(server.address, timeout=10, reconnect=QUICK) as client:
            typed = TypedWatch(client.watch_events(snapshot=True))
            await typed.started()
            await client.drive_backup(
                job_id="copy", device="src.raw", target="copy.raw", sync=FULL, speed=SLOW
            )
            await typed.until(lambda: typed.saw("copy", "running"))
            await client.job_pause(id="copy")
            await typed.until(lambda: typed.saw("copy", "paused"))
            server.kill()
            server.start()
            await typed.until(lambda: typed.saw("copy", "concluded"))
            statuses = [
                e.data["status"]
                for e in typed.events
                if e.job_id == "copy" and e.name == "JOB_STATUS_CHANGE"
            ]
            assert statuses == ["created", "running", "paused", "running", "aborting", "concluded"]
            assert not (data / "copy.raw").exists()
            await typed.close()
    finally:
        server.kill()
