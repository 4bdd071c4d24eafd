"""blockdev-create on the qemu engine: raw and qcow2, checked with qemu-img."""

from __future__ import annotations

from pathlib import Path

import pytest

from qapi_jobs.server.engines.qemu.jobs import QemuJobs
from qapi_jobs.server.jobs.errors import ErrorKind, JobError

from .conftest import statuses, until
from .images import MIB, create, info


async def test_raw_with_full_preallocation(jobs: QemuJobs, data_dir: Path) -> None:
    events = jobs.subscribe()
    options = {"driver": "raw", "filename": "disk.raw", "size": 2 * MIB, "preallocation": "full"}
    started = await jobs.start_job("blockdev-create", {"job-id": "c1", "options": options})
    assert started.id == "c1"
    seen = await until(events, "c1", "concluded")
    assert statuses(seen, "c1") == ["created", "running", "waiting", "pending", "concluded"]
    assert jobs.job_info("c1").error is None
    image = info(data_dir / "disk.raw")
    assert (image["format"], image["virtual-size"]) == ("raw", 2 * MIB)
    assert image["actual-size"] >= 2 * MIB
    # blockdev-create does not dismiss itself; the client does.
    await jobs.job_dismiss("c1")
    await until(events, "c1", "null")
    assert jobs.query_jobs() == []


async def test_qcow2_with_cluster_size_and_relative_backing(jobs: QemuJobs, data_dir: Path) -> None:
    (data_dir / "images").mkdir()
    create(data_dir / "base.qcow2")
    events = jobs.subscribe()
    options = {
        "driver": "qcow2",
        "filename": "images/overlay.qcow2",
        "size": 4 * MIB,
        "cluster-size": 4096,
        "backing-file": "base.qcow2",
    }
    await jobs.start_job("blockdev-create", {"job-id": "c2", "options": options})
    await until(events, "c2", "concluded")
    assert jobs.job_info("c2").error is None
    image = info(data_dir / "images" / "overlay.qcow2")
    assert image["format"] == "qcow2"
    assert image["cluster-size"] == 4096
    assert image["backing-filename"] == "../base.qcow2"
    assert image["backing-filename-format"] == "qcow2"
    # Every node the engine opened for the job is closed again.
    assert jobs.daemon.qmp is not None
    assert await jobs.daemon.qmp.execute("query-named-block-nodes") == []


async def test_existing_file_is_refused_and_untouched(jobs: QemuJobs, data_dir: Path) -> None:
    existing = data_dir / "taken.raw"
    existing.write_bytes(b"keep me")
    options = {"driver": "raw", "filename": "taken.raw", "size": MIB}
    with pytest.raises(JobError) as refused:
        await jobs.start_job("blockdev-create", {"job-id": "c3", "options": options})
    assert refused.value.kind is ErrorKind.ALREADY_EXISTS
    assert "taken.raw" in refused.value.message
    assert existing.read_bytes() == b"keep me"
    assert jobs.query_jobs() == []


async def test_failed_create_removes_its_file(jobs: QemuJobs, data_dir: Path) -> None:
    events = jobs.subscribe()
    options = {"driver": "qcow2", "filename": "bad.qcow2", "size": MIB, "cluster-size": 3000}
    await jobs.start_job("blockdev-create", {"job-id": "c4", "options": options})
    seen = await until(events, "c4", "concluded")
    assert statuses(seen, "c4") == ["created", "running", "aborting", "concluded"]
    error = jobs.job_info("c4").error
    assert error is not None and "Cluster size must be a power of two" in error
    # The engine removed the file before it published 'concluded'.
    assert not (data_dir / "bad.qcow2").exists()


async def test_job_id_in_use_is_refused_before_any_file(jobs: QemuJobs, data_dir: Path) -> None:
    events = jobs.subscribe()
    options = {"driver": "raw", "filename": "one.raw", "size": MIB}
    await jobs.start_job("blockdev-create", {"job-id": "dup", "options": options})
    await until(events, "dup", "concluded")
    again = {"driver": "raw", "filename": "two.raw", "size": MIB}
    with pytest.raises(JobError, match="Job ID 'dup' already in use"):
        await jobs.start_job("blockdev-create", {"job-id": "dup", "options": again})
    assert not (data_dir / "two.raw").exists()


async def test_invalid_job_id_is_qemus_refusal_and_undone(jobs: QemuJobs, data_dir: Path) -> None:
    options = {"driver": "qcow2", "filename": "x.qcow2", "size": MIB}
    with pytest.raises(JobError) as refused:
        await jobs.start_job("blockdev-create", {"job-id": "1bad", "options": options})
    assert refused.value.message == "Invalid job ID '1bad'"
    assert refused.value.reason == "INVALID_JOB_ID"
    assert not (data_dir / "x.qcow2").exists()
    assert jobs.daemon.qmp is not None
    assert await jobs.daemon.qmp.execute("query-named-block-nodes") == []
