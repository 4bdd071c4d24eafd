"""The transition and verb tables, cell by cell, and every verb in every reachable state."""

from __future__ import annotations

import pytest

from qapi_jobs.server.jobs.errors import ErrorKind, JobError
from qapi_jobs.server.jobs.status import (
    TRANSITIONS,
    VERB_STATES,
    JobStatus,
    JobVerb,
    TransitionError,
    check_transition,
)
from tests.support.harness import Finish, Harness, Ready

LETTERS = "UCRPYSWDXEN"
STATUS_BY_LETTER = dict(zip(LETTERS, JobStatus, strict=True))

# The transition table of docs/job-semantics.md as a matrix: rows "from", columns "to",
# in the order U C R P Y S W D X E N: undefined, created, running, paused, ready, standby,
# waiting, pending, aborting, concluded, null.
SPEC_TRANSITIONS = """
U . 1 . . . . . . . . .
C . . 1 . . . . . 1 . 1
R . . . 1 1 . 1 . 1 . .
P . . 1 . . . . . . . .
Y . . . . . 1 1 . 1 . .
S . . . . 1 . . . . . .
W . . . . . . . 1 1 . .
D . . . . . . . . 1 1 .
X . . . . . . . . 1 1 .
E . . . . . . . . . . 1
N . . . . . . . . . . .
"""

# The verb table of docs/job-semantics.md (QEMU 7.2), columns U C R P Y S W D X E N.
SPEC_VERBS = """
cancel    . 1 1 1 1 1 1 1 . . .
pause     . 1 1 1 1 1 . . . . .
resume    . 1 1 1 1 1 . . . . .
set-speed . 1 1 1 1 1 . . . . .
complete  . . . . 1 1 . . . . .
finalize  . . . . . . . 1 . . .
dismiss   . . . . . . . . . 1 .
"""


def _rows(table: str) -> dict[str, list[bool]]:
    rows = {}
    for line in table.strip().splitlines():
        head, *cells = line.split()
        rows[head] = [cell == "1" for cell in cells]
    return rows


def test_wire_names_and_order() -> None:
    assert [status.value for status in JobStatus] == [
        "undefined",
        "created",
        "running",
        "paused",
        "ready",
        "standby",
        "waiting",
        "pending",
        "aborting",
        "concluded",
        "null",
    ]
    assert [verb.value for verb in JobVerb] == [
        "cancel",
        "pause",
        "resume",
        "set-speed",
        "complete",
        "dismiss",
        "finalize",
    ]


@pytest.mark.parametrize("old_letter", list(LETTERS))
def test_transition_table_matches_spec(old_letter: str) -> None:
    old = STATUS_BY_LETTER[old_letter]
    expected = _rows(SPEC_TRANSITIONS)[old_letter]
    for new_letter, allowed in zip(LETTERS, expected, strict=True):
        new = STATUS_BY_LETTER[new_letter]
        assert (new in TRANSITIONS[old]) is allowed, f"{old_letter}->{new_letter}"
        if allowed:
            check_transition(old, new)
        else:
            with pytest.raises(TransitionError):
                check_transition(old, new)


@pytest.mark.parametrize("verb", list(JobVerb))
def test_verb_table_matches_spec(verb: JobVerb) -> None:
    expected = _rows(SPEC_VERBS)[verb.value]
    allowed = {STATUS_BY_LETTER[letter] for letter, ok in zip(LETTERS, expected, strict=True) if ok}
    assert VERB_STATES[verb] == allowed


# ---------------------------------------------------------------- live table

REACHABLE = ["running", "paused", "ready", "standby", "waiting", "pending", "concluded"]


async def _job_in(h: Harness, state: str) -> str:
    """Bring job 'j' into ``state``; returns its id."""
    if state in ("running", "paused"):
        await h.start("j", "mirror")
        if state == "paused":
            await h.manager.job_pause("j")
    elif state in ("ready", "standby"):
        driver = await h.start("j", "mirror")
        driver.feed(Ready())
        if state == "standby":
            await h.settle()
            await h.manager.job_pause("j")
    elif state == "waiting":
        await h.manager.start_group([h.spec("other"), h.spec("j")], grouped=True)
        h.drivers["j"].feed(Finish())
    elif state == "pending":
        driver = await h.start("j", auto_finalize=False)
        driver.feed(Finish())
    else:
        driver = await h.start("j", auto_dismiss=False)
        driver.feed(Finish())
    await h.settle()
    assert h.manager.job_info("j").status.value == state
    return "j"


def _expected_error(state: str, verb: JobVerb) -> str | None:
    status = JobStatus(state)
    user_paused = state in ("paused", "standby")
    if verb is JobVerb.RESUME and not user_paused:
        return "Can't resume a job that was not paused"
    if status not in VERB_STATES[verb]:
        return f"Job 'j' in state '{state}' cannot accept command verb '{verb.value}'"
    if verb is JobVerb.PAUSE and user_paused:
        return "Job is already paused"
    return None


async def _apply(h: Harness, verb: JobVerb) -> None:
    m = h.manager
    if verb is JobVerb.CANCEL:
        await h.run(m.job_cancel("j"))
    elif verb is JobVerb.PAUSE:
        await m.job_pause("j")
    elif verb is JobVerb.RESUME:
        await m.job_resume("j")
    elif verb is JobVerb.SET_SPEED:
        await m.block_job_set_speed("j", 1024)
    elif verb is JobVerb.COMPLETE:
        await m.job_complete("j")
    elif verb is JobVerb.FINALIZE:
        await h.run(m.job_finalize("j"))
    else:
        await m.job_dismiss("j")


@pytest.mark.parametrize("verb", list(JobVerb))
@pytest.mark.parametrize("state", REACHABLE)
async def test_every_verb_in_every_reachable_state(
    harness: Harness, state: str, verb: JobVerb
) -> None:
    await _job_in(harness, state)
    expected = _expected_error(state, verb)
    if expected is None:
        await _apply(harness, verb)
        return
    with pytest.raises(JobError) as caught:
        await _apply(harness, verb)
    error = caught.value
    assert error.message == expected
    assert error.kind is ErrorKind.WRONG_STATE
    assert error.job_id == "j"
    assert error.status == state
    assert error.verb == verb.value
    assert error.reason in {"VERB_NOT_ALLOWED", "NOT_PAUSED", "ALREADY_PAUSED"}


async def test_resume_checks_user_pause_before_the_verb_table(harness: Harness) -> None:
    """A user pause requested after the last pause point survives into PENDING."""
    driver = await harness.start("j", auto_finalize=False)
    await harness.manager.job_pause("j")
    driver.feed(Finish())  # returns before reaching another pause point
    await harness.settle()
    assert harness.manager.job_info("j").status is JobStatus.PENDING
    with pytest.raises(JobError, match="in state 'pending' cannot accept command verb 'resume'"):
        await harness.manager.job_resume("j")
    assert harness.log()[-3:] == ["j:waiting", "j:pending", "[j:PENDING]"]
