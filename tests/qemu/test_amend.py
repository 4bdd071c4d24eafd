"""x-blockdev-amend: LUKS key slots of encrypted qcow2 images."""

from __future__ import annotations

from pathlib import Path

import pytest

from qapi_jobs.server.engines.qemu.jobs import QemuJobs
from qapi_jobs.server.jobs.errors import JobError
from qapi_jobs.server.jobs.events import Subscription

from .conftest import statuses, until
from .images import PBKDF_FLAKE, PBKDF_TRIES, active_slots, encrypted, unlocks


def _amend(job_id: str, **encrypt: object) -> dict[str, object]:
    return {
        "job-id": job_id,
        "options": {"driver": "qcow2", "filename": "enc.qcow2", "encrypt": encrypt},
    }


async def _leftovers(jobs: QemuJobs) -> tuple[object, object]:
    qmp = jobs.daemon.qmp
    assert qmp is not None
    objects = await qmp.execute("qom-list", {"path": "/objects"})
    secrets = [entry["name"] for entry in objects if entry["type"].startswith("child<secret")]
    return await qmp.execute("query-named-block-nodes"), secrets


async def _add_key(jobs: QemuJobs, events: Subscription, **encrypt: object) -> list[str]:
    """Add a key (retrying QEMU's flaky benchmark); return the successful job's statuses."""
    for attempt in range(PBKDF_TRIES):
        job_id = f"add{attempt}"
        await jobs.start_job("x-blockdev-amend", _amend(job_id, state="active", **encrypt))
        seen = await until(events, job_id, "concluded")
        error = jobs.job_info(job_id).error
        await jobs.job_dismiss(job_id)
        await until(events, job_id, "null")
        if error is None:
            return statuses(seen, job_id)
        assert error == PBKDF_FLAKE
    raise AssertionError(f"adding a key failed {PBKDF_TRIES} times: {PBKDF_FLAKE}")


async def test_add_then_remove_a_key(jobs: QemuJobs, data_dir: Path) -> None:
    image = encrypted(data_dir / "enc.qcow2", "first-pass")
    events = jobs.subscribe()
    added = await _add_key(
        jobs, events, secret="first-pass", **{"new-secret": "second-pass", "iter-time": 10}
    )
    assert added == ["created", "running", "waiting", "pending", "concluded"]
    assert active_slots(image) == [0, 1]
    assert unlocks(image, "second-pass") and unlocks(image, "first-pass")
    await jobs.start_job(
        "x-blockdev-amend", _amend("a2", state="inactive", **{"old-secret": "first-pass"})
    )
    await until(events, "a2", "concluded")
    assert jobs.job_info("a2").error is None
    await jobs.job_dismiss("a2")
    await until(events, "a2", "null")
    assert active_slots(image) == [1]
    assert unlocks(image, "second-pass") and not unlocks(image, "first-pass")
    assert await _leftovers(jobs) == ([], [])
    # No secret ever reaches an event or the daemon's log.
    everything = repr([record.data for record in jobs.events.events_after(0)])
    log = jobs.daemon.log_path.read_text()
    for secret in ("first-pass", "second-pass"):
        assert secret not in everything and secret not in log
    assert [path.name for path in jobs.daemon.run_dir.iterdir() if "secret" in path.name] == []


async def test_wrong_secret_is_refused_and_leaves_nothing(jobs: QemuJobs, data_dir: Path) -> None:
    image = encrypted(data_dir / "enc.qcow2", "right")
    with pytest.raises(JobError) as refused:
        await jobs.start_job(
            "x-blockdev-amend",
            _amend("a3", state="active", secret="wrong", **{"new-secret": "x", "iter-time": 10}),
        )
    assert "Invalid password" in refused.value.message
    assert "wrong" not in refused.value.message
    assert active_slots(image) == [0]
    assert await _leftovers(jobs) == ([], [])
    assert jobs.query_jobs() == []


async def test_removing_the_last_key_fails_in_the_job(jobs: QemuJobs, data_dir: Path) -> None:
    image = encrypted(data_dir / "enc.qcow2", "only")
    events = jobs.subscribe()
    await jobs.start_job(
        "x-blockdev-amend", _amend("a4", state="inactive", **{"old-secret": "only"})
    )
    seen = await until(events, "a4", "concluded")
    assert "aborting" in statuses(seen, "a4")
    error = jobs.job_info("a4").error
    assert error is not None and error.endswith("refusing operation")
    assert active_slots(image) == [0]
    assert image.exists()
