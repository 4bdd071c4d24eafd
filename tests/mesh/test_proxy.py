"""Behind nginx (grpc_pass): calls, error details, health, idle watches and server restarts."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import duration_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc

from qapi_jobs.client import (
    AsyncJobsClient,
    EventItem,
    Heartbeat,
    JobNotFound,
    Resync,
    WatchItem,
    status_name,
)
from qapi_jobs.v1 import watch_pb2, watch_pb2_grpc
from tests.support.requests import raw_image
from tests.support.servers import ServerProcess
from tests.support.timeouts import GUARD_TIMEOUT

from .proxy import NGINX_SNIPPET, Nginx

DEPLOY_DOC = Path(__file__).parents[2] / "docs" / "deploy.md"
IDLE_HEARTBEATS = 10
"""Heartbeats read on an idle stream: 3 s at 0.3 s each, three proxy read timeouts."""


def test_the_documented_nginx_config_is_the_tested_one() -> None:
    assert NGINX_SNIPPET.read_text() in DEPLOY_DOC.read_text()


async def test_calls_errors_and_health_through_nginx(nginx: Nginx) -> None:
    async with AsyncJobsClient(nginx.address, timeout=10) as client:
        await client.blockdev_create(job_id="c1", options=raw_image("c1.raw"))
        await client.wait_for_status("c1", "concluded", timeout=GUARD_TIMEOUT)
        with pytest.raises(JobNotFound) as caught:
            await client.job_dismiss(id="nothing")
        # The ErrorInfo came through in grpc-status-details-bin.
        assert caught.value.reason == "JOB_NOT_FOUND" and caught.value.job_id == "nothing"
        health: Any = health_pb2_grpc.HealthStub(client.channel)
        response = await health.Check(health_pb2.HealthCheckRequest(service=""))
        assert response.status == health_pb2.HealthCheckResponse.SERVING


async def test_heartbeats_keep_an_idle_watch_open_through_nginx(nginx: Nginx) -> None:
    async with grpc.aio.insecure_channel(nginx.address) as channel:
        watch = watch_pb2_grpc.WatchServiceStub(channel)
        call = watch.WatchEvents(watch_pb2.WatchEventsRequest())
        async with asyncio.timeout(GUARD_TIMEOUT):
            for _ in range(IDLE_HEARTBEATS):
                response = await call.read()
                assert isinstance(response, watch_pb2.WatchEventsResponse)
                assert response.HasField("heartbeat")
        call.cancel()
        # The control: heartbeats less often than the proxy's read timeout
        # let nginx end the stream.
        slow = watch.WatchEvents(
            watch_pb2.WatchEventsRequest(heartbeat_interval=duration_pb2.Duration(seconds=30))
        )
        with pytest.raises(grpc.aio.AioRpcError):
            async with asyncio.timeout(GUARD_TIMEOUT):
                await slow.read()


async def test_watchers_miss_nothing_across_a_restart_behind_nginx(
    nginx: Nginx, backend: ServerProcess
) -> None:
    async with AsyncJobsClient(nginx.address, timeout=10) as client:
        items = client.watch_events(heartbeats=True)
        async with contextlib.aclosing(items), asyncio.timeout(GUARD_TIMEOUT):
            opened = await anext(items)
            assert isinstance(opened, Heartbeat)
            await client.blockdev_create(job_id="c1", options=raw_image("c1.raw"))
            _, last = await job_events(items, "c1", after=opened.sequence)
            assert await asyncio.to_thread(backend.stop) == 0
            await asyncio.to_thread(backend.start)
            if await instance_id(client.channel) == opened.instance_id:
                # A durable event log: the watcher resumes where it was.
                after = last
            else:
                # An event log in memory: the old server's last events (its
                # shutdown dismisses c1) arrive without a gap, then the
                # restarted server is a new instance and the watcher relists.
                news = await next_news(items)
                while isinstance(news, EventItem):
                    assert (news.instance_id, news.sequence) == (opened.instance_id, last + 1)
                    last = news.sequence
                    news = await next_news(items)
                assert isinstance(news, Resync) and news.reason == "INSTANCE_CHANGED"
                after = news.sequence
            await client.blockdev_create(job_id="c2", options=raw_image("c2.raw"))
            statuses, _ = await job_events(items, "c2", after=after)
            assert statuses[0] == "created" and statuses[-1] == "concluded"


async def instance_id(channel: grpc.aio.Channel) -> str:
    """The server's instance id, from the end of a WatchEvents snapshot."""
    call = watch_pb2_grpc.WatchServiceStub(channel).WatchEvents(
        watch_pb2.WatchEventsRequest(send_initial_snapshot=True)
    )
    async for response in call:
        if response.HasField("snapshot_end"):
            call.cancel()
            return str(response.snapshot_end.instance_id)
    raise AssertionError("the snapshot did not end")


async def job_events(
    items: AsyncIterator[WatchItem], job_id: str, *, after: int
) -> tuple[list[str], int]:
    """The statuses of ``job_id`` until it concluded, and the last sequence number read.

    Every event must follow sequence number ``after`` without a gap.
    """
    statuses: list[str] = []
    while "concluded" not in statuses:
        item = await next_news(items)
        assert isinstance(item, EventItem)
        after += 1
        assert item.sequence == after
        change = item.event.job_status_change
        if item.event.WhichOneof("kind") == "job_status_change" and change.id == job_id:
            statuses.append(status_name(change.status))
    return statuses, after


async def next_news(items: AsyncIterator[WatchItem]) -> WatchItem:
    """The next item that is not a heartbeat."""
    while isinstance(item := await anext(items), Heartbeat):
        pass
    return item
