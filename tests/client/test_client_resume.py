"""The resume state machines on their own: what they ask for after each kind of break."""

from __future__ import annotations

import grpc
import pytest

from qapi_jobs.client import EventItem, Heartbeat, JobsSnapshot, Resync
from qapi_jobs.client.errors import QapiJobsError, make_error
from qapi_jobs.client.follow import JobFailed, NextItem, QueryJob, status_set, wait_logic
from qapi_jobs.client.resume import Backoff, EventsResume, JobsResume, ReconnectPolicy
from qapi_jobs.transcoder import decode_event
from qapi_jobs.v1 import job_pb2, service_pb2, watch_pb2


def event(sequence: int, instance: str = "A") -> watch_pb2.WatchEventsResponse:
    record = watch_pb2.EventRecord(
        sequence=sequence, instance_id=instance, event=service_pb2.Event()
    )
    return watch_pb2.WatchEventsResponse(event=record)


def heartbeat(sequence: int, instance: str = "A") -> watch_pb2.WatchEventsResponse:
    return watch_pb2.WatchEventsResponse(
        heartbeat=watch_pb2.Heartbeat(sequence=sequence, instance_id=instance)
    )


def snapshot(*job_ids: str) -> list[watch_pb2.WatchEventsResponse]:
    return [
        watch_pb2.WatchEventsResponse(
            snapshot=watch_pb2.JobSnapshot(job=job_pb2.JobInfo(id=job_id))
        )
        for job_id in job_ids
    ]


def snapshot_end(sequence: int, instance: str = "A") -> watch_pb2.WatchEventsResponse:
    return watch_pb2.WatchEventsResponse(
        snapshot_end=watch_pb2.SnapshotEnd(sequence=sequence, instance_id=instance)
    )


def error(code: grpc.StatusCode, reason: str = "", **metadata: str) -> QapiJobsError:
    err = make_error(code, "test")
    err.reason = reason
    err.metadata = dict(metadata)
    return err


def test_resumes_after_the_last_event_and_drops_repeats() -> None:
    resume = EventsResume(job_ids=["j"], event_names=["JOB_STATUS_CHANGE"], heartbeat_interval=2)
    first = resume.request()
    assert not first.HasField("after_sequence") and not first.send_initial_snapshot
    assert list(first.job_ids) == ["j"] and first.heartbeat_interval.seconds == 2
    items = [resume.receive(event(7)), resume.receive(event(8))]
    assert [i.sequence for i in items if isinstance(i, EventItem)] == [7, 8]
    assert resume.failed(error(grpc.StatusCode.UNAVAILABLE)) is False
    again = resume.request()
    assert again.after_sequence == 8 and again.instance_id == "A"
    assert resume.receive(event(8)) is None
    assert isinstance(resume.receive(event(9)), EventItem)


def test_heartbeats_move_the_position() -> None:
    resume = EventsResume()
    resume.request()
    item = resume.receive(heartbeat(40))
    assert isinstance(item, Heartbeat) and item.sequence == 40
    resume.failed(error(grpc.StatusCode.INTERNAL))
    assert resume.request().after_sequence == 40


def test_a_snapshot_becomes_one_resync() -> None:
    resume = EventsResume(snapshot=True)
    assert resume.request().send_initial_snapshot
    assert [resume.receive(r) for r in snapshot("a", "b")] == [None, None]
    item = resume.receive(snapshot_end(12))
    assert isinstance(item, Resync) and item.reason == "INITIAL"
    assert [s.job.id for s in item.jobs] == ["a", "b"] and item.sequence == 12
    assert resume.request().after_sequence == 12


def test_a_snapshot_cut_short_is_asked_for_again() -> None:
    resume = EventsResume(snapshot=True)
    resume.request()
    resume.receive(snapshot("a")[0])
    resume.failed(error(grpc.StatusCode.UNAVAILABLE, "SERVER_SHUTTING_DOWN"))
    assert resume.request().send_initial_snapshot
    item = resume.receive(snapshot_end(3))
    assert isinstance(item, Resync) and item.jobs == () and item.reason == "INITIAL"


@pytest.mark.parametrize("reason", ["EVENTS_EXPIRED", "INSTANCE_CHANGED"])
def test_lost_history_means_a_snapshot_now(reason: str) -> None:
    resume = EventsResume(after_sequence=5, instance_id="A")
    assert resume.request().after_sequence == 5
    assert resume.failed(error(grpc.StatusCode.OUT_OF_RANGE, reason)) is True
    request = resume.request()
    assert request.send_initial_snapshot and not request.HasField("after_sequence")
    item = resume.receive(snapshot_end(1, "B"))
    assert isinstance(item, Resync) and item.reason == reason and item.instance_id == "B"
    assert resume.request().instance_id == "B"


def test_a_slow_watcher_resumes_where_the_server_says_if_it_saw_nothing() -> None:
    resume = EventsResume()
    resume.request()
    slow = error(
        grpc.StatusCode.ABORTED, "WATCHER_TOO_SLOW", resume_after_sequence="17", instance_id="A"
    )
    assert resume.failed(slow) is False
    request = resume.request()
    assert request.after_sequence == 17 and request.instance_id == "A"


def test_own_position_wins_over_the_servers() -> None:
    resume = EventsResume()
    resume.request()
    resume.receive(event(3))
    resume.failed(error(grpc.StatusCode.ABORTED, "WATCHER_TOO_SLOW", resume_after_sequence="9"))
    assert resume.request().after_sequence == 3


def test_a_live_watch_that_never_learnt_its_place_resyncs() -> None:
    resume = EventsResume()
    resume.request()
    resume.failed(error(grpc.StatusCode.UNAVAILABLE))
    assert resume.request().send_initial_snapshot
    item = resume.receive(snapshot_end(4))
    assert isinstance(item, Resync) and item.reason == "RECONNECTED"


@pytest.mark.parametrize(
    "code",
    [grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.UNIMPLEMENTED, grpc.StatusCode.NOT_FOUND],
)
def test_request_errors_are_raised(code: grpc.StatusCode) -> None:
    resume = EventsResume()
    resume.request()
    err = error(code)
    with pytest.raises(QapiJobsError) as caught:
        resume.failed(err)
    assert caught.value is err


def test_snapshot_and_sequence_exclude_each_other() -> None:
    with pytest.raises(ValueError):
        EventsResume(snapshot=True, after_sequence=1)


def test_jobs_watch_skips_repeats_and_flags_a_new_instance() -> None:
    resume = JobsResume(job_id="j", min_interval=0.5)
    assert resume.request().min_interval.nanos == 500_000_000
    running = job_pb2.JobInfo(id="j", status=job_pb2.JOB_STATUS_RUNNING, current_progress=1)
    further = job_pb2.JobInfo(id="j", status=job_pb2.JOB_STATUS_RUNNING, current_progress=2)

    def response(info: job_pb2.JobInfo, instance: str = "A") -> watch_pb2.WatchJobsResponse:
        return watch_pb2.WatchJobsResponse(jobs=[info], sequence=5, instance_id=instance)

    first = resume.receive(response(running))
    assert isinstance(first, JobsSnapshot) and not first.resync
    assert resume.receive(response(running)) is None
    progressed = resume.receive(response(further))
    assert progressed is not None and progressed.jobs[0].current_progress == 2
    resume.failed(error(grpc.StatusCode.UNAVAILABLE))
    resume.request()
    same = resume.receive(response(further))
    assert same is None
    resume.request()
    moved = resume.receive(response(further, "B"))
    assert moved is not None and moved.resync
    assert resume.finished()
    with pytest.raises(QapiJobsError):
        resume.failed(error(grpc.StatusCode.NOT_FOUND))


def test_backoff_grows_jitters_resets_and_gives_up() -> None:
    now = [0.0]
    reported: list[float] = []
    policy = ReconnectPolicy(
        initial=1.0,
        maximum=4.0,
        multiplier=2.0,
        give_up_after=10.0,
        on_retry=lambda err, delay: reported.append(delay),
    )
    backoff = Backoff(policy, clock=lambda: now[0])
    err = error(grpc.StatusCode.UNAVAILABLE)
    delays = [backoff.next_delay(err) for _ in range(5)]
    ceilings = [1.0, 2.0, 4.0, 4.0, 4.0]
    assert all(c / 2 <= d <= c for d, c in zip(delays, ceilings, strict=True))
    assert reported == delays
    backoff.reset()
    assert backoff.next_delay(err) <= 1.0
    now[0] = 10.0
    with pytest.raises(QapiJobsError):
        backoff.next_delay(err)


def _status_event(job_id: str, status: str, sequence: int) -> EventItem:
    envelope = decode_event(
        service_pb2.Event, "JOB_STATUS_CHANGE", {"id": job_id, "status": status}
    )
    return EventItem(sequence, "A", envelope)


def test_a_failed_job_fails_the_wait_whatever_was_waited_for() -> None:
    for wanted in ("concluded", "null"):
        logic = wait_logic("j", status_set(wanted))
        next(logic)
        running = job_pb2.JobInfo(id="j", status=job_pb2.JOB_STATUS_RUNNING)
        logic.send(Resync((watch_pb2.JobSnapshot(job=running),), 1, "A", "INITIAL"))
        assert isinstance(logic.send(_status_event("j", "concluded", 2)), QueryJob)
        failed = job_pb2.JobInfo(id="j", status=job_pb2.JOB_STATUS_CONCLUDED, error="x")
        with pytest.raises(JobFailed) as caught:
            logic.send(failed)
        assert caught.value.outcome.error == "x"


def test_waiting_for_null_outlasts_concluded_without_check() -> None:
    logic = wait_logic("j", status_set("null"), check=False)
    assert isinstance(next(logic), NextItem)
    running = job_pb2.JobInfo(id="j", status=job_pb2.JOB_STATUS_RUNNING)
    snapshot = Resync((watch_pb2.JobSnapshot(job=running),), 1, "A", "INITIAL")
    assert isinstance(logic.send(snapshot), NextItem)
    assert isinstance(logic.send(_status_event("j", "concluded", 2)), QueryJob)
    concluded = job_pb2.JobInfo(id="j", status=job_pb2.JOB_STATUS_CONCLUDED, error="x")
    assert isinstance(logic.send(concluded), NextItem)
    assert isinstance(logic.send(_status_event("j", "null", 3)), QueryJob)
    with pytest.raises(StopIteration) as done:
        logic.send(None)
    assert done.value.value.status == job_pb2.JOB_STATUS_NULL
