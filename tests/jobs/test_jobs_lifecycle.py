"""Single jobs: complete event sequences for the life cycles of the specification."""

from __future__ import annotations

import errno

import pytest

from qapi_jobs.server.jobs.driver import IoErrorDecision, IoOperation
from qapi_jobs.server.jobs.errors import ErrorKind, JobError
from qapi_jobs.server.jobs.policy import BlockdevOnError, IoStatus
from qapi_jobs.server.jobs.status import JobStatus
from tests.support.harness import Advance, Fail, Finish, Harness, IoError, RateLimit, Ready

START = ["j:created", "j:running"]


# ------------------------------------------------------------ finite jobs


async def test_finite_job_auto_finalize_auto_dismiss(harness: Harness) -> None:
    driver = await harness.start("j")
    driver.feed(Advance(100), Finish())
    await harness.settle()
    assert harness.log() == [
        *START,
        "j:waiting",
        "j:pending",
        "[j:COMPLETED]",
        "j:concluded",
        "j:null",
    ]
    assert harness.manager.query_jobs() == []
    assert driver.hooks == ["prepare", "commit", "clean"]


async def test_finite_job_auto_finalize_manual_dismiss(harness: Harness) -> None:
    driver = await harness.start("j", auto_dismiss=False)
    driver.feed(Advance(100), Finish())
    await harness.settle()
    assert harness.log() == [*START, "j:waiting", "j:pending", "[j:COMPLETED]", "j:concluded"]
    (info,) = harness.manager.query_jobs()
    assert info.to_qmp() == {
        "id": "j",
        "type": "backup",
        "status": "concluded",
        "current-progress": 100,
        "total-progress": 100,
    }
    mark = harness.mark()
    await harness.manager.job_dismiss("j")
    assert harness.log(mark) == ["j:null"]
    with pytest.raises(JobError, match=r"^Job not found$"):
        await harness.manager.job_dismiss("j")


async def test_finite_job_manual_finalize_auto_dismiss(harness: Harness) -> None:
    driver = await harness.start("j", auto_finalize=False)
    driver.feed(Finish())
    await harness.settle()
    assert harness.log() == [*START, "j:waiting", "j:pending", "[j:PENDING]"]
    assert driver.hooks == []
    mark = harness.mark()
    await harness.manager.job_finalize("j")
    assert harness.log(mark) == ["[j:COMPLETED]", "j:concluded", "j:null"]


async def test_finite_job_manual_finalize_manual_dismiss(harness: Harness) -> None:
    driver = await harness.start("j", auto_finalize=False, auto_dismiss=False)
    driver.feed(Finish())
    await harness.settle()
    await harness.manager.job_finalize("j")
    await harness.manager.job_dismiss("j")
    assert harness.log() == [
        *START,
        "j:waiting",
        "j:pending",
        "[j:PENDING]",
        "[j:COMPLETED]",
        "j:concluded",
        "j:null",
    ]


async def test_non_block_job_emits_only_status_changes(harness: Harness) -> None:
    driver = await harness.start("c", "create", auto_dismiss=False)
    driver.feed(Advance(1), Finish())
    await harness.settle()
    assert harness.log() == ["c:created", "c:running", "c:waiting", "c:pending", "c:concluded"]
    assert harness.manager.query_block_jobs() == []
    with pytest.raises(JobError) as caught:
        await harness.manager.block_job_dismiss("c")
    assert caught.value.message == "Block job 'c' not found"
    assert caught.value.kind is ErrorKind.NOT_FOUND


async def test_progress_is_reported_in_queries(harness: Harness) -> None:
    driver = await harness.start("j", speed=4096)
    driver.feed(Advance(30))
    await harness.settle()
    (info,) = harness.manager.query_block_jobs()
    assert info.to_qmp() == {
        "type": "backup",
        "device": "j",
        "len": 100,
        "offset": 30,
        "busy": True,
        "paused": False,
        "speed": 4096,
        "io-status": "ok",
        "ready": False,
        "status": "running",
        "auto-finalize": True,
        "auto-dismiss": True,
    }


async def test_change_counter_moves_with_progress(harness: Harness) -> None:
    driver = await harness.start("j")
    version = harness.manager.change_version
    waiter = harness.manager.wait_for_change(version)
    driver.feed(Advance(5))
    assert await waiter > version


# ----------------------------------------------------------- pause/resume


async def test_pause_resume_and_cancel_while_paused(harness: Harness) -> None:
    m = harness.manager
    await harness.start("j", auto_dismiss=False)
    await m.job_pause("j")
    assert m.query_block_jobs()[0].paused  # requested, not yet honoured
    await harness.settle()
    with pytest.raises(JobError, match=r"^Job is already paused$"):
        await m.job_pause("j")
    await m.job_resume("j")
    await harness.settle()
    with pytest.raises(JobError, match=r"^Can't resume a job that was not paused$"):
        await m.job_resume("j")
    await m.job_pause("j")
    await harness.settle()
    await harness.run(m.job_cancel("j"))
    assert harness.log() == [
        *START,
        "j:paused",
        "j:running",
        "j:paused",
        "j:running",
        "j:aborting",
        "[j:CANCELLED]",
        "j:concluded",
    ]
    assert m.job_info("j").error == "Operation canceled"
    with pytest.raises(JobError, match="in state 'concluded' cannot accept command verb 'cancel'"):
        await m.job_cancel("j")


async def test_block_job_cancel_refuses_a_paused_job_unless_forced(harness: Harness) -> None:
    m = harness.manager
    await harness.start("j")
    await m.block_job_pause("j")
    await harness.settle()
    with pytest.raises(JobError) as caught:
        await m.block_job_cancel("j")
    assert caught.value.message == "The block job for device 'j' is currently paused"
    assert caught.value.reason == "JOB_PAUSED"
    await harness.run(m.block_job_cancel("j", force=True))
    assert harness.log()[-5:] == [
        "j:running",
        "j:aborting",
        "[j:CANCELLED]",
        "j:concluded",
        "j:null",
    ]


async def test_cancel_of_a_running_job(harness: Harness) -> None:
    driver = await harness.start("j", auto_dismiss=False)
    driver.feed(Advance(40))
    await harness.settle()
    await harness.run(harness.manager.block_job_cancel("j"))  # soft: upgraded for backup
    assert harness.log() == [*START, "j:aborting", "[j:CANCELLED]", "j:concluded"]
    (info,) = harness.manager.query_block_jobs()
    assert (info.offset, info.len, info.error) == (40, 100, "Operation canceled")
    assert driver.hooks == ["abort", "clean"]


# -------------------------------------------------------------- converging


async def _ready_mirror(harness: Harness, **options: bool) -> None:
    driver = await harness.start("m", "mirror", **options)  # type: ignore[arg-type]
    with pytest.raises(JobError, match="in state 'running' cannot accept command verb 'complete'"):
        await harness.manager.job_complete("m")
    driver.feed(Advance(100), Ready())
    await harness.settle()
    assert harness.log() == ["m:created", "m:running", "m:ready", "[m:READY]"]


async def test_converging_job_complete(harness: Harness) -> None:
    await _ready_mirror(harness)
    mark = harness.mark()
    await harness.manager.job_complete("m")
    await harness.settle()
    assert harness.log(mark) == [
        "m:waiting",
        "m:pending",
        "[m:COMPLETED]",
        "m:concluded",
        "m:null",
    ]
    assert harness.drivers["m"].hooks == ["complete", "prepare", "commit", "clean"]


async def test_converging_job_soft_cancel_ends_as_success(harness: Harness) -> None:
    await _ready_mirror(harness, auto_dismiss=False)
    mark = harness.mark()
    await harness.run(harness.manager.block_job_cancel("m"))
    assert harness.log(mark) == ["m:waiting", "m:pending", "[m:COMPLETED]", "m:concluded"]
    assert harness.manager.job_info("m").error is None
    assert harness.drivers["m"].hooks == ["prepare", "commit", "clean"]


async def test_converging_job_hard_cancel(harness: Harness) -> None:
    await _ready_mirror(harness, auto_dismiss=False)
    mark = harness.mark()
    await harness.run(harness.manager.job_cancel("m"))
    assert harness.log(mark) == ["m:aborting", "[m:CANCELLED]", "m:concluded"]
    assert harness.manager.job_info("m").error == "Operation canceled"


async def test_complete_after_soft_cancel_is_refused(harness: Harness) -> None:
    await _ready_mirror(harness)
    m = harness.manager
    await m.block_job_cancel("m")  # soft: the mirror stops at its next step
    with pytest.raises(JobError) as caught:
        await m.job_complete("m")
    assert caught.value.message == "The active block job 'm' cannot be completed"
    await harness.settle()
    assert harness.log()[4:] == [
        "m:waiting",
        "m:pending",
        "[m:COMPLETED]",
        "m:concluded",
        "m:null",
    ]


async def test_driver_may_refuse_complete(harness: Harness) -> None:
    await _ready_mirror(harness)
    harness.drivers["m"].complete_error = "Node name 'x' not found"
    with pytest.raises(JobError, match=r"^Node name 'x' not found$"):
        await harness.manager.job_complete("m")
    assert harness.manager.job_info("m").status is JobStatus.READY


async def test_standby_and_back(harness: Harness) -> None:
    await _ready_mirror(harness)
    m = harness.manager
    await m.job_pause("m")
    await harness.settle()
    assert m.query_block_jobs()[0].ready
    await m.job_resume("m")
    await harness.settle()
    assert harness.log()[4:] == ["m:standby", "m:ready"]


async def test_complete_in_standby_waits_for_resume(harness: Harness) -> None:
    await _ready_mirror(harness)
    m = harness.manager
    await m.job_pause("m")
    await harness.settle()
    mark = harness.mark()
    await m.job_complete("m")
    await harness.settle()
    assert harness.log(mark) == []
    await m.job_resume("m")
    await harness.settle()
    assert harness.log(mark) == [
        "m:ready",
        "m:waiting",
        "m:pending",
        "[m:COMPLETED]",
        "m:concluded",
        "m:null",
    ]


async def test_hard_cancel_in_standby(harness: Harness) -> None:
    await _ready_mirror(harness)
    m = harness.manager
    await m.job_pause("m")
    await harness.settle()
    with pytest.raises(JobError, match="currently paused"):
        await m.block_job_cancel("m")
    mark = harness.mark()
    await harness.run(m.job_cancel("m"))
    assert harness.log(mark) == [
        "m:ready",
        "m:aborting",
        "[m:CANCELLED]",
        "m:concluded",
        "m:null",
    ]


async def test_soft_cancel_before_ready_is_hard(harness: Harness) -> None:
    await harness.start("m", "mirror")
    await harness.run(harness.manager.block_job_cancel("m"))
    assert harness.log()[2:] == ["m:aborting", "[m:CANCELLED]", "m:concluded", "m:null"]


# ----------------------------------------------------------------- failure


async def test_failing_job_needs_no_finalize(harness: Harness) -> None:
    m = harness.manager
    driver = await harness.start("j", auto_finalize=False, auto_dismiss=False)
    driver.feed(Advance(10), Fail("Source and target image have different sizes"))
    await harness.settle()
    assert harness.log() == [
        *START,
        "j:aborting",
        "[j:COMPLETED error=Source and target image have different sizes]",
        "j:concluded",
    ]
    with pytest.raises(
        JobError, match="in state 'concluded' cannot accept command verb 'finalize'"
    ):
        await m.job_finalize("j")
    (block,) = m.query_block_jobs()
    assert block.error == "Source and target image have different sizes"
    assert (block.offset, block.len) == (10, 100)
    assert driver.hooks == ["abort", "clean"]
    await m.job_dismiss("j")
    assert harness.log()[-1] == "j:null"


async def test_prepare_failure_aborts(harness: Harness) -> None:
    driver = await harness.start("j", auto_dismiss=False)
    driver.prepare_error = "cannot switch the backing file"
    driver.feed(Finish())
    await harness.settle()
    assert harness.log()[2:] == [
        "j:waiting",
        "j:pending",
        "j:aborting",
        "[j:COMPLETED error=cannot switch the backing file]",
        "j:concluded",
    ]
    assert driver.hooks == ["prepare", "abort", "clean"]


# ------------------------------------------------------------ error policy


async def test_error_policy_report(harness: Harness) -> None:
    driver = await harness.start("j", auto_dismiss=False)
    driver.feed(IoError(IoOperation.WRITE))
    await harness.settle()
    assert harness.log()[2:] == [
        "[j:ERROR write/report]",
        "j:aborting",
        "[j:COMPLETED error=Input/output error]",
        "j:concluded",
    ]
    assert driver.decisions == [IoErrorDecision.FAIL]


async def test_error_policy_ignore(harness: Harness) -> None:
    driver = await harness.start("j", on_error=BlockdevOnError.IGNORE)
    driver.feed(IoError(IoOperation.READ), Finish())
    await harness.settle()
    assert harness.log()[2:4] == ["[j:ERROR read/ignore]", "j:waiting"]
    assert driver.decisions == [IoErrorDecision.IGNORE]


async def test_error_policy_stop_then_resume_retries(harness: Harness) -> None:
    m = harness.manager
    driver = await harness.start("j", on_error=BlockdevOnError.STOP)
    driver.feed(Advance(50), IoError(IoOperation.WRITE))
    await harness.settle()
    assert harness.log()[2:] == ["[j:ERROR write/stop]", "j:paused"]
    (block,) = m.query_block_jobs()
    assert (block.io_status, block.paused, block.busy) == (IoStatus.FAILED, True, False)
    with pytest.raises(JobError, match=r"^Job is already paused$"):
        await m.job_pause("j")
    await m.block_job_resume("j")
    await harness.settle()
    assert driver.decisions == [IoErrorDecision.RETRY]
    assert m.query_block_jobs()[0].io_status is IoStatus.OK
    driver.feed(Finish())
    await harness.settle()
    assert harness.log()[4:] == [
        "j:running",
        "j:waiting",
        "j:pending",
        "[j:COMPLETED]",
        "j:concluded",
        "j:null",
    ]


async def test_error_policy_enospc(harness: Harness) -> None:
    m = harness.manager
    driver = await harness.start("j", auto_dismiss=False, on_error=BlockdevOnError.ENOSPC)
    driver.feed(IoError(IoOperation.WRITE, errno.ENOSPC))
    await harness.settle()
    assert m.query_block_jobs()[0].io_status is IoStatus.NOSPACE
    await m.job_resume("j")
    driver.feed(IoError(IoOperation.READ, errno.EIO))
    await harness.settle()
    assert harness.log()[2:] == [
        "[j:ERROR write/stop]",
        "j:paused",
        "j:running",
        "[j:ERROR read/report]",
        "j:aborting",
        "[j:COMPLETED error=Input/output error]",
        "j:concluded",
    ]


async def test_source_and_target_policies_are_separate(harness: Harness) -> None:
    m = harness.manager
    spec = harness.spec(
        "j",
        on_source_error=BlockdevOnError.IGNORE,
        on_target_error=BlockdevOnError.REPORT,
    )
    await m.start(spec)
    harness.drivers["j"].feed(IoError(IoOperation.READ), IoError(IoOperation.WRITE, errno.ENOSPC))
    await harness.settle()
    assert harness.log()[2:5] == [
        "[j:ERROR read/ignore]",
        "[j:ERROR write/report]",
        "j:aborting",
    ]
    assert harness.log()[5] == "[j:COMPLETED error=No space left on device]"


async def test_error_stopped_job_cancelled(harness: Harness) -> None:
    driver = await harness.start("j", on_error=BlockdevOnError.AUTO)
    driver.feed(IoError(IoOperation.WRITE, errno.ENOSPC))
    await harness.settle()
    await harness.run(harness.manager.job_cancel("j"))
    assert harness.log()[2:] == [
        "[j:ERROR write/stop]",
        "j:paused",
        "j:running",
        "j:aborting",
        "[j:CANCELLED]",
        "j:concluded",
        "j:null",
    ]


async def test_non_block_job_io_error_fails_without_event(harness: Harness) -> None:
    driver = await harness.start("c", "create")
    driver.feed(IoError(IoOperation.WRITE, errno.ENOSPC))
    await harness.settle()
    assert harness.log() == ["c:created", "c:running", "c:aborting", "c:concluded", "c:null"]


# ------------------------------------------------------------- ids, speed


@pytest.mark.parametrize("bad", ["", "1abc", "a b", "a/b", "-a", "_a", "é", "a:b", "a\n"])
async def test_invalid_job_ids(harness: Harness, bad: str) -> None:
    with pytest.raises(JobError) as caught:
        await harness.manager.start(harness.spec(bad))
    assert caught.value.message == f"Invalid job ID '{bad}'"
    assert caught.value.kind is ErrorKind.INVALID_ARGUMENT
    assert caught.value.reason == "INVALID_JOB_ID"
    assert harness.log() == []


@pytest.mark.parametrize("good", ["a", "Z", "a-b.c_d9", "x" * 300])
async def test_valid_job_ids(harness: Harness, good: str) -> None:
    await harness.manager.start(harness.spec(good, "create"))
    assert harness.manager.job_info(good).id == good


async def test_job_id_in_use_until_null(harness: Harness) -> None:
    m = harness.manager
    driver = await harness.start("j", auto_dismiss=False)
    with pytest.raises(JobError) as caught:
        await m.start(harness.spec("j", "create"))
    assert caught.value.message == "Job ID 'j' already in use"
    assert caught.value.kind is ErrorKind.ALREADY_EXISTS
    assert caught.value.reason == "JOB_ID_IN_USE"
    driver.feed(Finish())
    await harness.settle()
    with pytest.raises(JobError, match=r"^Job ID 'j' already in use$"):
        await m.start(harness.spec("j"))  # CONCLUDED still holds the id
    await m.job_dismiss("j")
    await harness.start("j", "create")
    assert m.job_info("j").type.value == "create"


async def test_unknown_jobs(harness: Harness) -> None:
    m = harness.manager
    for command in (m.job_pause, m.job_resume, m.job_cancel, m.job_complete, m.job_finalize):
        with pytest.raises(JobError) as caught:
            await command("nope")
        assert (caught.value.message, caught.value.reason) == ("Job not found", "JOB_NOT_FOUND")
    with pytest.raises(JobError) as caught:
        await m.block_job_set_speed("nope", 1)
    assert caught.value.message == "Block job 'nope' not found"
    assert caught.value.reason == "BLOCK_JOB_NOT_FOUND"


async def test_negative_speed_at_creation_emits_created_and_null(harness: Harness) -> None:
    with pytest.raises(JobError) as caught:
        await harness.manager.start(harness.spec("j", speed=-1))
    assert caught.value.message == "Parameter 'speed' expects a non-negative value"
    assert caught.value.reason == "NEGATIVE_SPEED"
    assert harness.log() == ["j:created", "j:null"]
    assert harness.manager.query_jobs() == []


async def test_set_speed_errors(harness: Harness) -> None:
    m = harness.manager
    driver = await harness.start("j", auto_dismiss=False)
    with pytest.raises(JobError) as caught:
        await m.block_job_set_speed("j", -1)
    assert caught.value.message == "Parameter 'speed' expects a non-negative value"
    assert caught.value.kind is ErrorKind.INVALID_ARGUMENT
    await m.block_job_set_speed("j", 1 << 20)
    assert m.query_block_jobs()[0].speed == 1 << 20
    driver.feed(Finish())
    await harness.settle()
    with pytest.raises(JobError) as caught:
        await m.block_job_set_speed("j", 1)
    assert (
        caught.value.message
        == "Job 'j' in state 'concluded' cannot accept command verb 'set-speed'"
    )
    await harness.start("c", "create")
    with pytest.raises(JobError, match=r"^Block job 'c' not found$"):
        await m.block_job_set_speed("c", 1)


def test_speed_and_policies_only_for_block_jobs() -> None:
    from qapi_jobs.server.jobs.job import JobSpec
    from tests.support.harness import ScriptedCreate

    with pytest.raises(ValueError, match="only block jobs"):
        JobSpec("c", ScriptedCreate(), speed=5)


async def test_event_payloads_are_in_qmp_wire_form(harness: Harness) -> None:
    m = harness.manager
    driver = await harness.start(
        "m", "mirror", auto_finalize=False, speed=512, on_error=BlockdevOnError.IGNORE
    )
    driver.feed(Advance(100), Ready(), IoError(IoOperation.READ))
    await harness.settle()
    await m.job_complete("m")
    await harness.settle()
    await m.job_finalize("m")
    failing = await harness.start("f", auto_dismiss=False)
    failing.feed(Advance(3), Fail("bad"))
    await harness.settle()
    await harness.start("x")
    await harness.run(m.job_cancel("x"))
    data = [(r.name, dict(r.data)) for r in m.events.events_after(0)]
    block = [(name, payload) for name, payload in data if name != "JOB_STATUS_CHANGE"]
    progress = {"type": "mirror", "device": "m", "len": 100, "offset": 100, "speed": 512}
    assert block == [
        ("BLOCK_JOB_READY", progress),
        ("BLOCK_JOB_ERROR", {"device": "m", "operation": "read", "action": "ignore"}),
        ("BLOCK_JOB_PENDING", {"type": "mirror", "id": "m"}),
        ("BLOCK_JOB_COMPLETED", progress),
        (
            "BLOCK_JOB_COMPLETED",
            {"type": "backup", "device": "f", "len": 100, "offset": 3, "speed": 0, "error": "bad"},
        ),
        (
            "BLOCK_JOB_CANCELLED",
            {"type": "backup", "device": "x", "len": 100, "offset": 0, "speed": 0},
        ),
    ]
    assert data[0] == ("JOB_STATUS_CHANGE", {"id": "m", "status": "created"})
    (info,) = m.query_jobs()
    assert info.to_qmp() == {
        "id": "f",
        "type": "backup",
        "status": "concluded",
        "current-progress": 3,
        "total-progress": 100,
        "error": "bad",
    }
    assert m.query_block_jobs()[0].to_qmp()["error"] == "bad"


async def test_unexpected_driver_exception_fails_the_job(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    driver = await harness.start("j", auto_dismiss=False)
    driver.feed(RateLimit(-1))  # the limiter refuses a negative count with ValueError
    await harness.settle()
    assert harness.manager.job_info("j").error == "nbytes must not be negative"
    assert "unexpected exception" in caplog.text
