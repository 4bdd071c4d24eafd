"""Many watchers at once, and a watcher too slow to keep up."""

from __future__ import annotations

import asyncio

import grpc

from qapi_jobs.server.grpc.watch import WatchSettings
from qapi_jobs.v1 import watch_pb2, watch_pb2_grpc
from tests.support.errors import error_info
from tests.support.watch_rig import (
    NO_WINDOW_GROWTH,
    Rig,
    open_rig,
    publish_noise,
    read_until_sequence,
)


async def test_500_watchers_receive_every_event(rig: Rig) -> None:
    start = publish_noise(rig.manager, 3)
    stubs = [watch_pb2_grpc.WatchServiceStub(rig.new_channel()) for _ in range(4)]
    request = watch_pb2.WatchEventsRequest(after_sequence=start)
    calls = [stubs[i % len(stubs)].WatchEvents(request) for i in range(500)]

    for _ in range(3):
        publish_noise(rig.manager, 4)
        await asyncio.sleep(0)
    driver = await rig.start_job("real")
    driver.finish()
    await rig.until(lambda: not rig.manager.query_jobs())
    last = rig.manager.events.last_seq

    results = await asyncio.gather(*(read_until_sequence(c, last, after=start) for c in calls))
    expected = list(range(start + 1, last + 1))
    assert all(sequences == expected for sequences in results)
    for call in calls:
        call.cancel()


async def test_slow_watcher_is_dropped_and_others_get_everything() -> None:
    max_lag = 100
    rig = await open_rig(WatchSettings(max_lag=max_lag))
    try:
        request = watch_pb2.WatchEventsRequest(after_sequence=0)
        slow_stub = watch_pb2_grpc.WatchServiceStub(rig.new_channel(NO_WINDOW_GROWTH))
        slow = slow_stub.WatchEvents(request)
        await rig.manager.until_subscribed(1)
        (slow_cursor,) = rig.manager.subscriptions
        fast = [rig.watch.WatchEvents(request) for _ in range(2)]

        # Publish in steps the fast watchers keep up with, while the slow
        # one reads nothing: its writes block once its window is full, and
        # the events published meanwhile pile up beyond max_lag.
        last = 0
        while slow_cursor.lag <= max_lag:
            before, last = last, publish_noise(rig.manager, 20, size=1000)
            for call in fast:
                sequences = await read_until_sequence(call, last, after=before)
                assert sequences == list(range(before + 1, last + 1))

        received: list[int] = []
        try:
            async for message in slow:
                received.append(message.event.sequence)
        except grpc.aio.AioRpcError as error:
            assert error.code() == grpc.StatusCode.ABORTED
            info = error_info(error)
            assert info.reason == "WATCHER_TOO_SLOW"
            resume_after = int(info.metadata["resume_after_sequence"])
        else:
            raise AssertionError("the slow watcher was not dropped")
        assert received == list(range(1, len(received) + 1))
        assert resume_after == received[-1] < last

        # It can carry on from where it was dropped.
        again = slow_stub.WatchEvents(watch_pb2.WatchEventsRequest(after_sequence=resume_after))
        assert await read_until_sequence(again, last, after=resume_after) == list(
            range(resume_after + 1, last + 1)
        )
        again.cancel()
        for call in fast:
            call.cancel()
    finally:
        await rig.close()
