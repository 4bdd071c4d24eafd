"""One scenario on both backends: the gRPC layer must not be able to tell them apart."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from qapi_jobs.server.engines.backend import BuiltinJobs, JobBackend
from qapi_jobs.server.engines.builtin import BuiltinEngine
from qapi_jobs.server.engines.qemu.jobs import QemuJobs
from qapi_jobs.server.jobs.errors import ErrorKind, JobError

from .conftest import statuses, until
from .images import MIB, create, same, write


@pytest.fixture(params=["builtin", "qemu"])
async def backend(
    request: pytest.FixtureRequest, data_dir: Path, jobs: QemuJobs
) -> AsyncIterator[JobBackend]:
    if request.param == "qemu":
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
