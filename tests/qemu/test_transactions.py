"""Transactions of drive-backup actions on the qemu engine."""

from __future__ import annotations

from pathlib import Path

import pytest

from qapi_jobs.server.engines.qemu.jobs import QemuJobs
from qapi_jobs.server.jobs.errors import ErrorKind, JobError

from .conftest import statuses, until_all
from .images import MIB, create, same, write


def _backup(job_id: str, target: str, **extra: object) -> tuple[str, dict[str, object]]:
    data = {"job-id": job_id, "device": "src.qcow2", "target": target, "sync": "full", **extra}
    return ("drive-backup", data)


async def test_two_backups_in_one_transaction(jobs: QemuJobs, data_dir: Path) -> None:
    source = create(data_dir / "src.qcow2")
    write(source, 2, 0, MIB)
    events = jobs.subscribe()
    started = await jobs.start_transaction([_backup("t1", "a.qcow2"), _backup("t2", "b.raw")])
    assert [info.id for info in started] == ["t1", "t2"]
    seen = await until_all(events, {"t1": "null", "t2": "null"})
    assert statuses(seen, "t1")[-3:] == ["pending", "concluded", "null"]
    assert same(source, data_dir / "a.qcow2") and same(source, data_dir / "b.raw")


async def test_refused_action_rolls_back_the_earlier_ones(jobs: QemuJobs, data_dir: Path) -> None:
    create(data_dir / "src.qcow2")
    (data_dir / "taken.qcow2").write_bytes(b"mine")
    events = jobs.subscribe()
    with pytest.raises(JobError) as refused:
        await jobs.start_transaction(
            [_backup("r1", "a.qcow2"), _backup("r2", "taken.qcow2"), _backup("r3", "c.qcow2")]
        )
    assert refused.value.kind is ErrorKind.ALREADY_EXISTS
    assert "taken.qcow2" in refused.value.message
    # r1 was created by QEMU and rolled back; r3 was never even set up.
    recorded = events.get_nowait()
    assert statuses(recorded, "r1") == ["created", "aborting", "concluded", "null"]
    assert statuses(recorded, "r3") == []
    assert not (data_dir / "a.qcow2").exists() and not (data_dir / "c.qcow2").exists()
    assert (data_dir / "taken.qcow2").read_bytes() == b"mine"
    assert jobs.query_jobs() == []
    assert jobs.daemon.qmp is not None
    assert await jobs.daemon.qmp.execute("query-named-block-nodes") == []
