"""Both clients bound every call of a wait by its deadline, and a watch that
never reached a server gives up."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
import grpc.aio
import pytest

from qapi_jobs.client import AsyncJobsClient, JobsClient, ReconnectPolicy, Unavailable
from tests.support.requests import raw_image
from tests.support.servers import ThreadedServer, free_port

OVERALL = 20.0

Timeouts = list[tuple[str, float | None]]


class _Recorder(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):
    """Notes the deadline of every call on a synchronous channel."""

    def __init__(self) -> None:
        self.timeouts: Timeouts = []

    def intercept_unary_unary(
        self, continuation: Callable[..., Any], details: grpc.ClientCallDetails, request: Any
    ) -> Any:
        self.timeouts.append((details.method, details.timeout))
        return continuation(details, request)

    def intercept_unary_stream(
        self, continuation: Callable[..., Any], details: grpc.ClientCallDetails, request: Any
    ) -> Any:
        self.timeouts.append((details.method, details.timeout))
        return continuation(details, request)


def _name(method: str | bytes) -> str:
    return method.decode() if isinstance(method, bytes) else method


class _AioUnary(grpc.aio.UnaryUnaryClientInterceptor):
    def __init__(self, timeouts: Timeouts) -> None:
        self.timeouts = timeouts

    async def intercept_unary_unary(
        self, continuation: Callable[..., Any], details: grpc.aio.ClientCallDetails, request: Any
    ) -> Any:
        self.timeouts.append((_name(details.method), details.timeout))
        return await continuation(details, request)


class _AioStream(grpc.aio.UnaryStreamClientInterceptor):
    def __init__(self, timeouts: Timeouts) -> None:
        self.timeouts = timeouts

    async def intercept_unary_stream(
        self, continuation: Callable[..., Any], details: grpc.aio.ClientCallDetails, request: Any
    ) -> Any:
        self.timeouts.append((_name(details.method), details.timeout))
        return await continuation(details, request)


def _check(timeouts: Timeouts) -> None:
    # The caller's own start call (blockdev-create) has the deadline the caller gave it.
    inner = [(m.rsplit("/", 1)[-1], t) for m, t in timeouts if not m.endswith("/BlockdevCreate")]
    methods = {method for method, _ in inner}
    assert {"WatchEvents", "QueryJobs", "JobDismiss"} <= methods, methods
    unbounded = [(m, t) for m, t in inner if t is None or t > OVERALL]
    assert not unbounded, f"calls not bounded by the wait's deadline: {unbounded}"


def test_the_sync_client_bounds_every_call(threaded_server: ThreadedServer, job_id: str) -> None:
    recorder = _Recorder()
    channel = grpc.intercept_channel(grpc.insecure_channel(threaded_server.address), recorder)
    with JobsClient(channel=channel, timeout=None) as client:
        client.run_job(
            job_id,
            lambda: client.blockdev_create(job_id=job_id, options=raw_image(f"{job_id}.raw")),
            on_progress=lambda info: None,
            timeout=OVERALL,
        )
    channel.close()
    _check(recorder.timeouts)


async def test_the_asyncio_client_bounds_every_call(aio_address: str) -> None:
    timeouts: Timeouts = []
    channel = grpc.aio.insecure_channel(
        aio_address, interceptors=[_AioUnary(timeouts), _AioStream(timeouts)]
    )
    async with AsyncJobsClient(channel=channel, timeout=None) as client:
        await client.run_job(
            "d1",
            lambda: client.blockdev_create(job_id="d1", options=raw_image("d1.raw")),
            on_progress=lambda info: None,
            timeout=OVERALL,
        )
    await channel.close()
    _check(timeouts)


NEVER = ReconnectPolicy(initial=0.01, maximum=0.05, connect_timeout=0.3)


def test_a_sync_watch_that_never_connected_gives_up() -> None:
    with JobsClient(f"127.0.0.1:{free_port()}", reconnect=NEVER) as client:
        with pytest.raises(Unavailable, match=r"never reached the server in 0\.3 s"):
            next(client.watch_events())
        with pytest.raises(Unavailable, match="never reached the server"):
            next(client.watch_jobs())


async def test_an_asyncio_watch_that_never_connected_gives_up() -> None:
    async with AsyncJobsClient(f"127.0.0.1:{free_port()}", reconnect=NEVER) as client:
        with pytest.raises(Unavailable, match="never reached the server"):
            await anext(client.watch_events())
