"""One scenario on both backends: the gRPC layer must not be able to tell them apart."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable
from pathlib import Path

import pytest

from qapi_jobs.server.engines.backend import BuiltinJobs, JobBackend
from qapi_jobs.server.engines.builtin import BuiltinEngine
from qapi_jobs.server.engines.qemu.process import StorageDaemon, run_dir_for
from qapi_jobs.server.jobs.errors import ErrorKind, JobError
from qapi_jobs.server.jobs.events import EventRecord

from .conftest import ENGINES, binary_of, opened, statuses, until, until_all
from .images import MIB, create, same, write


@pytest.fixture(params=ENGINES)
async def backend(request: pytest.FixtureRequest, data_dir: Path) -> AsyncIterator[JobBackend]:
    if request.param != "builtin":
        daemon = StorageDaemon(run_dir_for(data_dir), binary_of(request.param))
        async with opened(daemon, data_dir) as jobs:
            yield jobs
        return
    builtin = BuiltinJobs(BuiltinEngine(data_dir))
    yield builtin
    await builtin.shutdown()


async def test_create_then_dismiss(backend: JobBackend, data_dir: Path) -> None:
    events = backend.subscribe()
    options = {"driver": "raw", "filename": "new.raw", "size": MIB}
    info = await backend.start_job("blockdev-create", {"job-id": "c", "options": options})
    assert (info.id, info.type.value) == ("c", "create")
    seen = await until(events, "c", "concluded")
    assert statuses(seen, "c") == ["created", "running", "waiting", "pending", "concluded"]
    with pytest.raises(JobError) as refused:
        await backend.job_pause("c")
    assert (
        refused.value.message == "Job 'c' in state 'concluded' cannot accept command verb 'pause'"
    )
    assert (refused.value.kind, refused.value.reason) == (ErrorKind.WRONG_STATE, "VERB_NOT_ALLOWED")
    await backend.job_dismiss("c")
    await until(events, "c", "null")
    assert backend.query_jobs() == []
    assert (data_dir / "new.raw").stat().st_size == MIB


async def test_refusals_have_the_same_texts(backend: JobBackend) -> None:
    with pytest.raises(JobError) as missing:
        await backend.job_cancel("ghost")
    assert (missing.value.message, missing.value.reason) == ("Job not found", "JOB_NOT_FOUND")
    with pytest.raises(JobError) as block:
        await backend.block_job_set_speed("ghost", 1)
    assert block.value.message == "Block job 'ghost' not found"
    assert block.value.reason == "BLOCK_JOB_NOT_FOUND"


async def test_full_raw_backup(backend: JobBackend, data_dir: Path) -> None:
    source = create(data_dir / "src.raw", "raw", 2 * MIB)
    write(source, 3, 0, MIB, "raw")
    snapshot, events = backend.snapshot_and_subscribe()
    assert snapshot.jobs == ()
    await backend.start_job(
        "drive-backup",
        {"job-id": "b", "device": "src.raw", "target": "copy.raw", "format": "raw",
         "sync": "full"},
    )  # fmt: skip
    seen = await until(events, "b", "null")
    assert statuses(seen, "b") == [
        "created", "running", "waiting", "pending", "concluded", "null",
    ]  # fmt: skip
    assert [r.name for r in seen].count("BLOCK_JOB_COMPLETED") == 1
    assert same(source, data_dir / "copy.raw")
    assert backend.snapshot().last_seq == seen[-1].seq


def _slow_backup(job_id: str, target: str, **extra: object) -> dict[str, object]:
    """A backup of ``src.raw`` at 64 KiB/s: still running whenever the test acts on it."""
    return {"job-id": job_id, "device": "src.raw", "target": target, "format": "raw",
            "sync": "full", "speed": 65536, **extra}  # fmt: skip


def _raw_source(data_dir: Path) -> Path:
    source = create(data_dir / "src.raw", "raw", 2 * MIB)
    write(source, 4, 0, 2 * MIB, "raw")
    return source


async def _refusal(call: Awaitable[None]) -> tuple[str, str]:
    with pytest.raises(JobError) as refused:
        await call
    return refused.value.message, refused.value.reason


async def test_verbs_in_the_wrong_state(backend: JobBackend, data_dir: Path) -> None:
    _raw_source(data_dir)
    events = backend.subscribe()
    await backend.start_job("drive-backup", _slow_backup("v", "v.raw", **{"auto-dismiss": False}))
    seen = await until(events, "v", "running")
    verb = "Job 'v' in state 'running' cannot accept command verb '{}'"
    assert [
        await _refusal(backend.job_resume("v")),
        await _refusal(backend.job_complete("v")),
        await _refusal(backend.job_finalize("v")),
        await _refusal(backend.job_dismiss("v")),
        await _refusal(backend.block_job_resume("v")),
    ] == [
        ("Can't resume a job that was not paused", "NOT_PAUSED"),
        (verb.format("complete"), "VERB_NOT_ALLOWED"),
        (verb.format("finalize"), "VERB_NOT_ALLOWED"),
        (verb.format("dismiss"), "VERB_NOT_ALLOWED"),
        ("Can't resume a job that was not paused", "NOT_PAUSED"),
    ]
    await backend.job_pause("v")
    await until(events, "v", "paused", seen)
    assert await _refusal(backend.job_pause("v")) == ("Job is already paused", "ALREADY_PAUSED")
    await backend.job_resume("v")
    await backend.job_cancel("v")
    await until(events, "v", "concluded", seen)
    assert [await _refusal(backend.job_cancel("v")), await _refusal(backend.job_resume("v"))] == [
        ("Job 'v' in state 'concluded' cannot accept command verb 'cancel'", "VERB_NOT_ALLOWED"),
        # QEMU asks whether the user paused it before it asks the state.
        ("Can't resume a job that was not paused", "NOT_PAUSED"),
    ]
    await backend.job_dismiss("v")
    await until(events, "v", "null", seen)
    assert statuses(seen, "v") == [
        "created", "running", "aborting", "concluded", "null",
    ]  # fmt: skip
    assert not (data_dir / "v.raw").exists()


async def test_unknown_ids(backend: JobBackend) -> None:
    job_verbs = [backend.job_pause, backend.job_resume, backend.job_complete,
                 backend.job_finalize, backend.job_dismiss]  # fmt: skip
    for job_verb in job_verbs:
        assert await _refusal(job_verb("ghost")) == ("Job not found", "JOB_NOT_FOUND")
    block_verbs = [backend.block_job_pause, backend.block_job_resume, backend.block_job_cancel,
                   backend.block_job_complete]  # fmt: skip
    for block_verb in block_verbs:
        assert await _refusal(block_verb("ghost")) == (
            "Block job 'ghost' not found", "BLOCK_JOB_NOT_FOUND",
        )  # fmt: skip


async def test_grouped_transaction_cancels_every_member(
    backend: JobBackend, data_dir: Path
) -> None:
    _raw_source(data_dir)
    snapshot, events = backend.snapshot_and_subscribe()
    started = await backend.start_transaction(
        [("drive-backup", _slow_backup("g1", "a.raw")),
         ("drive-backup", _slow_backup("g2", "b.raw"))],
        grouped=True,
    )  # fmt: skip
    assert [info.id for info in started] == ["g1", "g2"]
    seen = await until(events, "g2", "running")
    assert {job.id for job in backend.snapshot().jobs} == {"g1", "g2"}
    await backend.job_cancel("g1")
    await until_all(events, {"g1": "null", "g2": "null"}, seen)
    for job_id in ("g1", "g2"):
        assert statuses(seen, job_id) == [
            "created", "running", "aborting", "concluded", "null",
        ]  # fmt: skip
    assert sorted(str(r.data["device"]) for r in seen if r.name == "BLOCK_JOB_CANCELLED") == [
        "g1", "g2",
    ]  # fmt: skip
    assert [r.seq for r in seen] == list(range(snapshot.last_seq + 1, seen[-1].seq + 1))
    assert not (data_dir / "a.raw").exists() and not (data_dir / "b.raw").exists()


async def test_abort_action_refuses_the_transaction(backend: JobBackend, data_dir: Path) -> None:
    _raw_source(data_dir)
    with pytest.raises(JobError) as refused:
        await backend.start_transaction(
            [("drive-backup", _slow_backup("x", "a.raw")), ("abort", {})]
        )
    assert refused.value.message == "Transaction aborted using Abort action"
    assert refused.value.reason == "TRANSACTION_ABORTED"
    assert not (data_dir / "a.raw").exists()
    assert backend.query_jobs() == []


async def test_event_stream_of_a_mirror(backend: JobBackend, data_dir: Path) -> None:
    """The same events in the same order, drain pairs aside, and a snapshot of the READY job."""
    source = _raw_source(data_dir)
    events = backend.subscribe()
    await backend.start_job(
        "drive-mirror",
        {"job-id": "m", "device": "src.raw", "target": "m.raw", "format": "raw", "sync": "full"},
    )
    seen = await until(events, "m", "ready")
    (job,) = backend.snapshot().jobs
    assert (job.id, job.status.value) == ("m", "ready")
    await backend.job_complete("m")
    await until(events, "m", "null", seen)
    assert _without_drains(seen) == [
        ("JOB_STATUS_CHANGE", "created"), ("JOB_STATUS_CHANGE", "running"),
        ("JOB_STATUS_CHANGE", "ready"), ("BLOCK_JOB_READY", None),
        ("JOB_STATUS_CHANGE", "waiting"), ("JOB_STATUS_CHANGE", "pending"),
        ("BLOCK_JOB_COMPLETED", None), ("JOB_STATUS_CHANGE", "concluded"),
        ("JOB_STATUS_CHANGE", "null"),
    ]  # fmt: skip
    assert same(source, data_dir / "m.raw")


def _without_drains(records: list[EventRecord]) -> list[tuple[str, object]]:
    """(event, status) in order, with drain pairs (paused/running, standby/ready) left out."""
    result: list[tuple[str, object]] = []
    for record in records:
        entry = (record.name, record.data.get("status"))
        if result and (result[-1][1], entry[1]) in {("paused", "running"), ("standby", "ready")}:
            result.pop()
            continue
        result.append(entry)
    return result
