"""Random verbs at random jobs; after every step the event log and the queries must agree.

Each example gets its own event loop, driven explicitly with
``run_until_complete``; the scripted drivers only move when a rule feeds
them, so every example is deterministic.
"""

from __future__ import annotations

import asyncio
import errno
from collections.abc import Coroutine
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from qapi_jobs.server.jobs import events as ev
from qapi_jobs.server.jobs.driver import IoOperation
from qapi_jobs.server.jobs.errors import JobError
from qapi_jobs.server.jobs.manager import JobManager
from qapi_jobs.server.jobs.policy import BlockdevOnError
from qapi_jobs.server.jobs.status import TRANSITIONS, JobStatus
from tests.support.harness import Advance, Fail, Finish, Harness, IoError, Ready, Step

IDS = st.sampled_from(["a", "b", "c", "d"])
KINDS = st.sampled_from(["backup", "mirror", "create"])
POLICIES = st.sampled_from(list(BlockdevOnError))
STEPS: list[Step] = [
    Advance(7),
    Ready(),
    Finish(),
    Fail(),
    IoError(IoOperation.WRITE, errno.EIO),
    IoError(IoOperation.READ, errno.ENOSPC),
]
VERBS = st.sampled_from(
    [
        "job_pause",
        "job_resume",
        "job_cancel",
        "job_complete",
        "job_finalize",
        "job_dismiss",
        "block_job_pause",
        "block_job_resume",
        "block_job_cancel",
        "block_job_cancel_force",
        "block_job_set_speed",
        "block_job_set_speed_negative",
    ]
)
KNOWN_REASONS = {
    "JOB_NOT_FOUND",
    "BLOCK_JOB_NOT_FOUND",
    "VERB_NOT_ALLOWED",
    "ALREADY_PAUSED",
    "NOT_PAUSED",
    "JOB_PAUSED",
    "CANNOT_COMPLETE",
    "NEGATIVE_SPEED",
    "JOB_ID_IN_USE",
}
LIVE_BEFORE_STEP = {JobStatus.RUNNING, JobStatus.READY}


class JobMachine(RuleBasedStateMachine):
    """Drives one JobManager and replays its event log after every step."""

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.h = Harness(JobManager(event_retention=1_000_000))
        self.status: dict[str, JobStatus] = {}
        """Each id's status as replayed from the events."""
        self.block: dict[str, bool] = {}
        self.started: dict[str, bool] = {}
        self.finals: dict[str, int] = {}
        """BLOCK_JOB_COMPLETED/CANCELLED seen in the current life of each id."""
        self.failed: dict[str, bool] = {}
        """Whether the final block event of the current life reported an error."""
        self.auto_finalize: dict[str, bool] = {}
        self.cursor = 0
        self.created_order: list[str] = []

    # ---------------------------------------------------------------- helpers

    def _await(self, coroutine: Coroutine[Any, Any, object]) -> JobError | None:
        async def attempt() -> JobError | None:
            try:
                await self.h.run(coroutine)
            except JobError as error:
                await self.h.settle()
                return error
            return None

        return self.loop.run_until_complete(attempt())

    def _live(self, job_id: str) -> bool:
        return self.status.get(job_id, JobStatus.NULL) is not JobStatus.NULL

    # ------------------------------------------------------------------ rules

    @rule(
        job_id=IDS,
        kind=KINDS,
        auto_finalize=st.booleans(),
        auto_dismiss=st.booleans(),
        policy=POLICIES,
    )
    def start(
        self,
        job_id: str,
        kind: str,
        auto_finalize: bool,
        auto_dismiss: bool,
        policy: BlockdevOnError,
    ) -> None:
        block = kind != "create"
        spec = self.h.spec(
            job_id,
            kind,
            auto_finalize=auto_finalize,
            auto_dismiss=auto_dismiss,
            on_source_error=policy if block else BlockdevOnError.REPORT,
            on_target_error=policy if block else BlockdevOnError.REPORT,
        )
        was_live = self._live(job_id)
        error = self._await(self.h.manager.start(spec))
        if was_live:
            assert error is not None and error.reason == "JOB_ID_IN_USE"
        else:
            assert error is None
            self.block[job_id] = block
            self.auto_finalize[job_id] = auto_finalize

    @rule(
        ids=st.lists(IDS, min_size=2, max_size=3, unique=True),
        grouped=st.booleans(),
        auto_finalize=st.booleans(),
    )
    def start_group(self, ids: list[str], grouped: bool, auto_finalize: bool) -> None:
        specs = [self.h.spec(job_id, auto_finalize=auto_finalize) for job_id in ids]
        any_live = any(self._live(job_id) for job_id in ids)
        error = self._await(self.h.manager.start_group(specs, grouped=grouped))
        if any_live:
            assert error is not None and error.reason == "JOB_ID_IN_USE"
        else:
            assert error is None
            self.block.update(dict.fromkeys(ids, True))
            self.auto_finalize.update(dict.fromkeys(ids, auto_finalize))

    def _steppable(self) -> list[str]:
        return sorted(job_id for job_id, st_ in self.status.items() if st_ in LIVE_BEFORE_STEP)

    @precondition(lambda self: bool(self._steppable()))
    @rule(data=st.data(), step=st.sampled_from(STEPS))
    def step(self, data: st.DataObject, step: Step) -> None:
        job_id = data.draw(st.sampled_from(self._steppable()), label="job_id")
        self.h.drivers[job_id].feed(step)
        self.loop.run_until_complete(self.h.settle())

    @rule(job_id=IDS, verb=VERBS)
    def verb(self, job_id: str, verb: str) -> None:
        m = self.h.manager
        if verb == "block_job_cancel_force":
            call = m.block_job_cancel(job_id, force=True)
        elif verb == "block_job_set_speed":
            call = m.block_job_set_speed(job_id, 4096)
        elif verb == "block_job_set_speed_negative":
            call = m.block_job_set_speed(job_id, -1)
        else:
            call = getattr(m, verb)(job_id)
        error = self._await(call)
        if error is not None:
            assert error.reason in KNOWN_REASONS, error.reason
            if error.reason == "VERB_NOT_ALLOWED":
                assert error.status == self.status[job_id].value

    # ------------------------------------------------------------- invariants

    @invariant()
    def events_replay_to_the_query_results(self) -> None:
        records = self.h.manager.events.events_after(self.cursor)
        for offset, record in enumerate(records):
            assert record.seq == self.cursor + 1, "sequence numbers have a gap"
            following = records[offset + 1] if offset + 1 < len(records) else None
            self.cursor = record.seq
            self._replay(record, following)
        self._check_queries()
        assert self.h.task_failures() == []

    def _replay(self, record: ev.EventRecord, following: ev.EventRecord | None) -> None:
        data = record.data
        if record.name == ev.JOB_STATUS_CHANGE:
            job_id = str(data["id"])
            new = JobStatus(data["status"])
            old = self.status.get(job_id, JobStatus.NULL)
            if old is JobStatus.NULL:
                old = JobStatus.UNDEFINED
                self.finals[job_id] = 0
                self.started[job_id] = False
                self.created_order.append(job_id)
            assert new in TRANSITIONS[old] and new is not old, f"{job_id}: {old} -> {new}"
            self.status[job_id] = new
            self.started[job_id] |= new is JobStatus.RUNNING
            if new is JobStatus.CONCLUDED:
                expected = 1 if self.block.get(job_id) and self.started[job_id] else 0
                assert self.finals[job_id] == expected
            if new is JobStatus.NULL:
                self.created_order.remove(job_id)
            return
        job_id = str(data.get("device", data.get("id")))
        status = self.status[job_id]
        if record.name == ev.BLOCK_JOB_READY:
            assert status is JobStatus.READY
        elif record.name == ev.BLOCK_JOB_PENDING:
            assert status is JobStatus.PENDING
            assert not self.auto_finalize[job_id]
        elif record.name in (ev.BLOCK_JOB_COMPLETED, ev.BLOCK_JOB_CANCELLED):
            self.finals[job_id] += 1
            self.failed[job_id] = record.name == ev.BLOCK_JOB_CANCELLED or "error" in data
            assert (status is JobStatus.ABORTING) == self.failed[job_id]
            assert status in (JobStatus.PENDING, JobStatus.ABORTING)
            assert following is not None and following.data == {
                "id": job_id,
                "status": "concluded",
            }

    def _check_queries(self) -> None:
        m = self.h.manager
        infos = m.query_jobs()
        expected = [job_id for job_id in reversed(self.created_order)]
        assert [info.id for info in infos] == expected
        for info in infos:
            assert info.status is self.status[info.id]
            if info.status is JobStatus.CONCLUDED and self.block[info.id]:
                assert (info.error is not None) == self.failed[info.id]
            elif info.status is not JobStatus.CONCLUDED:
                assert (info.error is not None) == (info.status is JobStatus.ABORTING)
        assert [info.device for info in m.query_block_jobs()] == [
            job_id for job_id in expected if self.block[job_id]
        ]

    def teardown(self) -> None:
        try:
            self.loop.run_until_complete(self.h.run(self.h.manager.shutdown(grace=5.0)))
            self.events_replay_to_the_query_results()
            assert self.h.manager.query_jobs() == []
            assert all(status is JobStatus.NULL for status in self.status.values())
        finally:
            self.loop.close()


JobMachine.TestCase.settings = settings(
    max_examples=60,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestJobMachine = JobMachine.TestCase
