"""WatchEvents with ``batch`` set: the events ready at a wake-up travel in one message."""

from __future__ import annotations

from typing import Any

import pytest

from qapi_jobs.client import AsyncJobsClient, EventItem
from qapi_jobs.server.grpc.watch_events import MAX_BATCH_EVENTS
from qapi_jobs.server.jobs.manager import JobManager
from qapi_jobs.v1 import watch_pb2
from tests.support.watch_rig import (
    Registration,
    Rig,
    next_message,
    open_rig,
    publish_noise,
    read_events,
)


def sequences_of(message: watch_pb2.WatchEventsResponse) -> list[int]:
    """The sequence numbers an event or a batch carries."""
    if message.HasField("batch"):
        return [record.sequence for record in message.batch.events]
    assert message.HasField("event"), message
    return [message.event.sequence]


async def read_batched(call: Any, last: int) -> list[watch_pb2.WatchEventsResponse]:
    """Event and batch messages up to the one that carries sequence ``last``."""
    messages: list[watch_pb2.WatchEventsResponse] = []
    while not messages or sequences_of(messages[-1])[-1] < last:
        (message,) = await read_events(call, 1)
        messages.append(message)
    return messages


def publish_for(manager: JobManager, job_id: str) -> int:
    manager.events.publish("JOB_STATUS_CHANGE", {"id": job_id, "status": "running"})
    return manager.events.last_seq


@pytest.mark.parametrize("registration", ["bytes", "generated"])
async def test_a_burst_arrives_in_full_batches_exactly_once_in_order(
    registration: Registration,
) -> None:
    rig = await open_rig(registration=registration)
    try:
        count = 2 * MAX_BATCH_EVENTS + 10
        last = publish_noise(rig.manager, count)
        call = rig.watch.WatchEvents(watch_pb2.WatchEventsRequest(after_sequence=0, batch=True))
        messages = await read_batched(call, last)
        # Everything was ready at once, so each message is as full as allowed.
        assert [len(sequences_of(m)) for m in messages] == [MAX_BATCH_EVENTS] * 2 + [10]
        assert all(m.HasField("batch") for m in messages)
        flat = [seq for m in messages for seq in sequences_of(m)]
        assert flat == list(range(1, count + 1))
        assert all(
            record.instance_id == rig.manager.instance_id
            and record.event.HasField("job_status_change")
            for m in messages
            for record in m.batch.events
        )
        call.cancel()
    finally:
        await rig.close()


async def test_events_published_while_parked_come_in_one_batch(rig: Rig) -> None:
    call = rig.watch.WatchEvents(watch_pb2.WatchEventsRequest(batch=True))
    await rig.manager.until_subscribed(1)
    last = publish_noise(rig.manager, 30)
    (message,) = await read_batched(call, last)
    assert sequences_of(message) == list(range(last - 29, last + 1))
    # A lone event is a plain event, as without batching.
    single = publish_noise(rig.manager, 1)
    lone = await next_message(call)
    assert lone.HasField("event") and lone.event.sequence == single
    call.cancel()


async def test_without_batch_every_event_is_its_own_message(rig: Rig) -> None:
    last = publish_noise(rig.manager, 30)
    call = rig.watch.WatchEvents(watch_pb2.WatchEventsRequest(after_sequence=0))
    messages = await read_batched(call, last)
    assert all(m.HasField("event") for m in messages)
    assert [m.event.sequence for m in messages] == list(range(1, last + 1))
    call.cancel()


async def test_filters_pick_the_events_of_a_batch(rig: Rig) -> None:
    request = watch_pb2.WatchEventsRequest(send_initial_snapshot=True, job_ids=["a"], batch=True)
    call = rig.watch.WatchEvents(request)
    (end,) = await read_events(call, 1)
    assert end.HasField("snapshot_end")
    wanted = []
    for _ in range(10):
        publish_noise(rig.manager, 2)
        wanted.append(publish_for(rig.manager, "a"))
    publish_noise(rig.manager, 2)
    messages = await read_batched(call, wanted[-1])
    assert [seq for m in messages for seq in sequences_of(m)] == wanted
    assert all(
        record.event.job_status_change.id == "a" for m in messages for record in m.batch.events
    )
    # Nothing more arrives for the filtered-out tail: the next item is a's.
    following = publish_for(rig.manager, "a")
    assert sequences_of(await next_message(call)) == [following]
    call.cancel()


async def test_resuming_after_a_batch_loses_and_repeats_nothing(rig: Rig) -> None:
    first_burst = publish_noise(rig.manager, 20)
    call = rig.watch.WatchEvents(watch_pb2.WatchEventsRequest(after_sequence=0, batch=True))
    (batch,) = await read_batched(call, first_burst)
    last_seen = batch.batch.events[-1]
    call.cancel()

    newest = publish_noise(rig.manager, 15)
    resumed = rig.watch.WatchEvents(
        watch_pb2.WatchEventsRequest(
            after_sequence=last_seen.sequence, instance_id=last_seen.instance_id, batch=True
        )
    )
    messages = await read_batched(resumed, newest)
    flat = [seq for m in messages for seq in sequences_of(m)]
    assert flat == list(range(last_seen.sequence + 1, newest + 1))
    resumed.cancel()


async def test_the_client_unpacks_batches_into_single_events(rig: Rig) -> None:
    last = publish_noise(rig.manager, 40)
    client = AsyncJobsClient(channel=rig.channel)
    items = client.watch_events(after_sequence=0)
    received = []
    async for item in items:
        assert isinstance(item, EventItem)
        received.append(item.sequence)
        if item.sequence == last:
            break
    await items.aclose()
    assert received == list(range(1, last + 1))
