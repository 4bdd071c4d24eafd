"""Grouped and individual transactions, and the all-or-nothing creation of a group."""

from __future__ import annotations

from dataclasses import replace

import pytest

from qapi_jobs.server.jobs.errors import ErrorKind, JobError
from qapi_jobs.server.jobs.manager import AbortAction, RefusedAction
from qapi_jobs.server.jobs.status import JobStatus
from tests.support.harness import Fail, Finish, Harness

CREATED = ["a:created", "b:created", "a:running", "b:running"]


async def _group(harness: Harness, *, grouped: bool = True, **options: bool) -> None:
    specs = [harness.spec("a", **options), harness.spec("b", **options)]  # type: ignore[arg-type]
    infos = await harness.manager.start_group(specs, grouped=grouped)
    assert [info.id for info in infos] == ["a", "b"]
    await harness.settle()
    assert harness.log() == CREATED


async def test_grouped_success_moves_to_pending_together(harness: Harness) -> None:
    await _group(harness)
    harness.drivers["a"].feed(Finish())
    await harness.settle()
    assert harness.log()[4:] == ["a:waiting"]
    harness.drivers["b"].feed(Finish())
    await harness.settle()
    assert harness.log()[4:] == [
        "a:waiting",
        "b:waiting",
        "b:pending",
        "a:pending",
        "[b:COMPLETED]",
        "b:concluded",
        "b:null",
        "[a:COMPLETED]",
        "a:concluded",
        "a:null",
    ]
    assert harness.drivers["a"].hooks == ["prepare", "commit", "clean"]


async def test_grouped_manual_finalize_through_any_member(harness: Harness) -> None:
    m = harness.manager
    await _group(harness, auto_finalize=False)
    harness.drivers["a"].feed(Finish())
    await harness.settle()
    with pytest.raises(JobError) as caught:
        await m.job_finalize("a")
    assert (
        caught.value.message == "Job 'a' in state 'waiting' cannot accept command verb 'finalize'"
    )
    harness.drivers["b"].feed(Finish())
    await harness.settle()
    mark = harness.mark()
    await m.job_finalize("b")
    assert harness.log()[4:] == [
        "a:waiting",
        "b:waiting",
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
    ]
    assert harness.mark() - mark == 6


async def test_one_manual_member_holds_the_group(harness: Harness) -> None:
    m = harness.manager
    specs = [harness.spec("a", auto_finalize=False), harness.spec("b")]
    await m.start_group(specs, grouped=True)
    harness.drivers["a"].feed(Finish())
    harness.drivers["b"].feed(Finish())
    await harness.settle()
    assert {info.status for info in m.query_jobs()} == {JobStatus.PENDING}
    assert "[b:PENDING]" not in harness.log()
    await m.job_finalize("b")  # auto-finalize member, held by its partner
    assert m.query_jobs() == []


async def test_member_failure_aborts_the_running_partner(harness: Harness) -> None:
    m = harness.manager
    await _group(harness, auto_dismiss=False)
    harness.drivers["b"].feed(Fail("Input/output error"))
    await harness.settle()
    assert harness.log()[4:] == [
        "b:aborting",
        "[b:COMPLETED error=Input/output error]",
        "b:concluded",
        "a:aborting",
        "[a:CANCELLED]",
        "a:concluded",
    ]
    errors = {info.id: info.error for info in m.query_jobs()}
    assert errors == {"a": "Operation canceled", "b": "Input/output error"}


async def test_failure_aborts_waiting_and_pending_members(harness: Harness) -> None:
    m = harness.manager
    specs = [harness.spec(name, auto_finalize=False) for name in ("a", "b", "c")]
    await m.start_group(specs, grouped=True)
    harness.drivers["a"].feed(Finish())
    await harness.settle()
    mark = harness.mark()
    harness.drivers["c"].feed(Fail("boom"))
    await harness.settle()
    assert harness.log(mark) == [
        "c:aborting",
        "[c:COMPLETED error=boom]",
        "c:concluded",
        "c:null",
        "b:aborting",
        "[b:CANCELLED]",
        "b:concluded",
        "b:null",
        "a:aborting",
        "[a:CANCELLED]",
        "a:concluded",
        "a:null",
    ]


async def test_job_cancel_aborts_the_group(harness: Harness) -> None:
    await _group(harness)
    await harness.run(harness.manager.job_cancel("a"))
    assert harness.log()[4:] == [
        "a:aborting",
        "b:aborting",
        "[b:CANCELLED]",
        "b:concluded",
        "b:null",
        "[a:CANCELLED]",
        "a:concluded",
        "a:null",
    ]


async def test_cancel_of_a_waiting_member(harness: Harness) -> None:
    await _group(harness)
    harness.drivers["a"].feed(Finish())
    await harness.settle()
    await harness.run(harness.manager.job_cancel("a"))
    assert harness.log()[4:] == [
        "a:waiting",
        "b:aborting",
        "[b:CANCELLED]",
        "b:concluded",
        "b:null",
        "a:aborting",
        "[a:CANCELLED]",
        "a:concluded",
        "a:null",
    ]


async def test_cancel_while_pending(harness: Harness) -> None:
    await _group(harness, auto_finalize=False)
    harness.drivers["a"].feed(Finish())
    harness.drivers["b"].feed(Finish())
    await harness.settle()
    mark = harness.mark()
    await harness.run(harness.manager.job_cancel("a"))
    assert harness.log(mark) == [
        "b:aborting",
        "[b:CANCELLED]",
        "b:concluded",
        "b:null",
        "a:aborting",
        "[a:CANCELLED]",
        "a:concluded",
        "a:null",
    ]
    assert harness.drivers["a"].hooks == ["abort", "clean"]


async def test_individual_mode_does_not_couple(harness: Harness) -> None:
    await _group(harness, grouped=False, auto_dismiss=False)
    harness.drivers["a"].feed(Fail())
    harness.drivers["b"].feed(Finish())
    await harness.settle()
    assert {info.id: info.error for info in harness.manager.query_jobs()} == {
        "a": "boom",
        "b": None,
    }


async def test_refused_member_rolls_back_the_group(harness: Harness) -> None:
    m = harness.manager
    await harness.start("busy", "create")
    specs = [harness.spec("a"), harness.spec("b"), harness.spec("busy")]
    with pytest.raises(JobError, match=r"^Job ID 'busy' already in use$"):
        await m.start_group(specs, grouped=True)
    assert harness.log()[2:] == [
        "a:created",
        "b:created",
        "b:aborting",
        "b:concluded",
        "b:null",
        "a:aborting",
        "a:concluded",
        "a:null",
    ]
    assert [info.id for info in m.query_jobs()] == ["busy"]
    assert harness.drivers["a"].hooks == ["abort", "clean"]


async def test_negative_speed_in_a_group(harness: Harness) -> None:
    specs = [harness.spec("a"), harness.spec("b", speed=-5)]
    with pytest.raises(JobError, match="non-negative"):
        await harness.manager.start_group(specs, grouped=False)
    assert harness.log() == [
        "a:created",
        "b:created",
        "b:null",
        "a:aborting",
        "a:concluded",
        "a:null",
    ]


async def test_abort_action(harness: Harness) -> None:
    with pytest.raises(JobError) as caught:
        await harness.manager.start_group([harness.spec("a"), AbortAction()], grouped=True)
    assert caught.value.message == "Transaction aborted using Abort action"
    assert caught.value.kind is ErrorKind.INVALID_ARGUMENT
    assert harness.log() == ["a:created", "a:aborting", "a:concluded", "a:null"]


async def test_bad_id_first_emits_nothing(harness: Harness) -> None:
    with pytest.raises(JobError, match="Invalid job ID"):
        await harness.manager.start_group([harness.spec("9"), harness.spec("a")], grouped=True)
    assert harness.log() == []


async def test_precheck_runs_in_order(harness: Harness) -> None:
    order: list[str] = []

    def refuse() -> None:
        order.append("b")
        raise JobError(ErrorKind.INVALID_ARGUMENT, "Node 'x' is busy")

    first = replace(harness.spec("a"), precheck=lambda: order.append("a"))
    second = replace(harness.spec("b"), precheck=refuse)
    with pytest.raises(JobError, match="busy"):
        await harness.manager.start_group([first, second])
    assert order == ["a", "b"]
    assert harness.log() == ["a:created", "a:aborting", "a:concluded", "a:null"]


async def test_refused_action_rolls_back_the_jobs_before_it(harness: Harness) -> None:
    refusal = JobError(ErrorKind.NOT_FOUND, "Could not open 'x.img'", reason="IMAGE_NOT_FOUND")
    specs = [harness.spec("a"), harness.spec("b")]
    with pytest.raises(JobError) as caught:
        await harness.manager.start_group([*specs, RefusedAction(refusal)], grouped=True)
    assert caught.value is refusal
    assert harness.log() == [
        "a:created",
        "b:created",
        "b:aborting",
        "b:concluded",
        "b:null",
        "a:aborting",
        "a:concluded",
        "a:null",
    ]
    assert harness.manager.query_jobs() == []
    assert harness.drivers["a"].hooks == harness.drivers["b"].hooks == ["abort", "clean"]


async def test_refused_first_action_creates_nothing(harness: Harness) -> None:
    refusal = JobError(ErrorKind.INVALID_ARGUMENT, "Invalid parameter", reason="INVALID")
    with pytest.raises(JobError) as caught:
        await harness.manager.start_group([RefusedAction(refusal), harness.spec("a")])
    assert caught.value is refusal
    assert harness.log() == []
    assert harness.drivers["a"].hooks == [], "an action after the refusal is never touched"


@pytest.mark.parametrize(
    ("job_id", "speed", "expected_log", "prechecked"),
    [
        # QEMU checks the job id before the nodes: no precheck, nothing to clean.
        ("9", 0, [], False),
        ("taken", 0, [], False),
        ("a", -1, ["a:created", "a:null"], True),
    ],
)
async def test_a_refused_creation_cleans_the_driver_once(
    harness: Harness, job_id: str, speed: int, expected_log: list[str], prechecked: bool
) -> None:
    """What a precheck took is given back by clean() when the creation is refused after it."""
    running = await harness.start("taken", "create")
    mark = harness.mark()
    taken: list[str] = []
    spec = replace(harness.spec(job_id, speed=speed), precheck=lambda: taken.append(job_id))
    refused = harness.drivers[job_id]
    with pytest.raises(JobError):
        await harness.manager.start(spec)
    assert harness.log(mark) == expected_log
    assert taken == ([job_id] if prechecked else [])
    assert refused.hooks == (["clean"] if prechecked else [])
    assert running.hooks == []


async def test_a_failing_precheck_is_not_followed_by_clean(harness: Harness) -> None:
    def refuse() -> None:
        raise JobError(ErrorKind.WRONG_STATE, "Node 'x' is busy", reason="NODE_BUSY")

    spec = replace(harness.spec("a"), precheck=refuse)
    with pytest.raises(JobError, match="busy"):
        await harness.manager.start(spec)
    assert harness.log() == []
    assert harness.drivers["a"].hooks == []
