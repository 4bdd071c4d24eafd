"""A real gRPC server with the watch servicer, and jobs the test drives step by step.

:class:`StepDriver` does nothing until the test tells it to: each
:meth:`StepDriver.advance` adds progress (one visible change), and
:meth:`StepDriver.finish` makes ``run`` return.  Tests wait for what they
caused through the manager's change counter or the stream itself, never
through timers.

Volume tests publish plain JOB_STATUS_CHANGE records straight into the
manager's event log (:func:`publish_noise`): the streams treat every
record alike, and thousands of real jobs would only slow the tests down.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, TypeVar, cast

import grpc

from qapi_jobs.server.grpc.watch import WatchServicer, WatchSettings, add_to_server
from qapi_jobs.server.jobs.driver import JobContext, JobDriver
from qapi_jobs.server.jobs.events import Subscription
from qapi_jobs.server.jobs.info import Snapshot
from qapi_jobs.server.jobs.job import JobSpec
from qapi_jobs.server.jobs.manager import JobManager
from qapi_jobs.server.jobs.status import JobStatus
from qapi_jobs.v1 import job_pb2, service_pb2, service_pb2_grpc, watch_pb2, watch_pb2_grpc

Registration = Literal["bytes", "generated"]
R = TypeVar("R")

NO_WINDOW_GROWTH = (("grpc.http2.bdp_probe", 0),)
"""Client channel options that keep the flow-control window at 64 KiB, so a
stream whose client does not read blocks the server's writes early."""


class StepDriver(JobDriver):
    """A block job whose progress the test feeds; see the module docstring."""

    job_type: ClassVar[str] = "backup"
    block_job: ClassVar[bool] = True

    def __init__(self, total: int = 100) -> None:
        self.total = total
        self._steps: asyncio.Queue[int | None] = asyncio.Queue()

    def advance(self, amount: int = 1) -> None:
        """Queue ``amount`` more units of progress."""
        self._steps.put_nowait(amount)

    def finish(self) -> None:
        """Let ``run`` return successfully after the queued steps."""
        self._steps.put_nowait(None)

    async def run(self, ctx: JobContext) -> None:
        ctx.set_progress_total(self.total)
        while (step := await self._steps.get()) is not None:
            ctx.add_progress(step)
            await ctx.pause_point()


class ObservedManager(JobManager):
    """A JobManager that lets tests see the subscriptions the streams open."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.subscriptions_opened = 0
        self.subscriptions: list[Subscription] = []
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []

    def subscribe(
        self, after_seq: int | None = None, *, max_lag: int | None = None
    ) -> Subscription:
        subscription = super().subscribe(after_seq, max_lag=max_lag)
        self.subscriptions.append(subscription)
        self._note_subscription()
        return subscription

    def snapshot_and_subscribe(
        self, *, max_lag: int | None = None
    ) -> tuple[Snapshot, Subscription]:
        result = super().snapshot_and_subscribe(max_lag=max_lag)
        self.subscriptions.append(result[1])
        self._note_subscription()
        return result

    def _note_subscription(self) -> None:
        self.subscriptions_opened += 1
        for target, future in self._waiters:
            if self.subscriptions_opened >= target and not future.done():
                future.set_result(None)

    async def until_subscribed(self, count: int) -> None:
        """Wait until ``count`` subscriptions were opened in all."""
        if self.subscriptions_opened >= count:
            return
        future = asyncio.get_running_loop().create_future()
        self._waiters.append((count, future))
        await future


@dataclass
class Rig:
    """The server, the manager behind it and stubs on one client channel."""

    manager: ObservedManager
    servicer: WatchServicer
    server: grpc.aio.Server
    address: str
    channel: grpc.aio.Channel
    watch: watch_pb2_grpc.WatchServiceAsyncStub
    jobs: service_pb2_grpc.JobsServiceAsyncStub
    drivers: dict[str, StepDriver] = field(default_factory=dict)
    _channels: list[grpc.aio.Channel] = field(default_factory=list)

    def new_channel(self, options: tuple[tuple[str, Any], ...] = ()) -> grpc.aio.Channel:
        """Another client connection (closed with the rig)."""
        channel = grpc.aio.insecure_channel(self.address, options=options)
        self._channels.append(channel)
        return channel

    async def start_job(self, job_id: str, *, auto_dismiss: bool = True) -> StepDriver:
        """Start a StepDriver job (emits created, running)."""
        driver = StepDriver()
        self.drivers[job_id] = driver
        await self.manager.start(JobSpec(job_id, driver, auto_dismiss=auto_dismiss))
        return driver

    async def until(self, predicate: Callable[[], bool]) -> None:
        """Wait for the manager's state to satisfy ``predicate``."""
        version = self.manager.change_version
        while not predicate():
            version = await self.manager.wait_for_change(version)

    def status(self, job_id: str) -> JobStatus:
        """A job's status, NULL once it is gone."""
        for info in self.manager.query_jobs():
            if info.id == job_id:
                return info.status
        return JobStatus.NULL

    async def close(self) -> None:
        for channel in [self.channel, *self._channels]:
            await channel.close()
        self.servicer.close_all()
        await self.server.stop(None)
        for driver in self.drivers.values():
            driver.finish()  # lets shutdown's cancel end the run at once
        await self.manager.shutdown(grace=1.0)


def publish_noise(manager: JobManager, count: int, *, size: int = 0) -> int:
    """Publish ``count`` status records for a job that does not exist; return the last seq.

    ``size`` pads the job id, to make the messages that many bytes bigger.
    """
    data = {"id": "noise" + "-" * size, "status": "running"}
    for _ in range(count):
        manager.events.publish("JOB_STATUS_CHANGE", data)
    return manager.events.last_seq


def _add_stream_events(
    servicer: WatchServicer, server: grpc.aio.Server, registration: Registration
) -> None:
    """Just JobsService.StreamEvents, served by the watch servicer."""
    handler: grpc.RpcMethodHandler[Any, Any]
    if registration == "bytes":
        handler = servicer.stream_events_handler()
    else:
        handler = grpc.unary_stream_rpc_method_handler(
            servicer.stream_events,
            request_deserializer=service_pb2.StreamEventsRequest.FromString,
            response_serializer=service_pb2.StreamEventsResponse.SerializeToString,
        )
    generic = grpc.method_handlers_generic_handler(
        "qapi_jobs.v1.JobsService", {"StreamEvents": handler}
    )
    server.add_generic_rpc_handlers((generic,))


async def open_rig(
    settings: WatchSettings | None = None,
    *,
    registration: Registration = "bytes",
    retention: int = 10_000,
    server_setup: Callable[[grpc.aio.Server], None] | None = None,
) -> Rig:
    """Start a server on an ephemeral localhost port and connect to it."""
    manager = ObservedManager(event_retention=retention)
    servicer = WatchServicer(manager, settings or WatchSettings())
    server = grpc.aio.server()
    if registration == "bytes":
        add_to_server(servicer, server)
    else:
        watch_pb2_grpc.add_WatchServiceServicer_to_server(servicer, server)
    _add_stream_events(servicer, server, registration)
    if server_setup is not None:
        server_setup(server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    address = f"127.0.0.1:{port}"
    channel = grpc.aio.insecure_channel(address)
    return Rig(
        manager=manager,
        servicer=servicer,
        server=server,
        address=address,
        channel=channel,
        watch=watch_pb2_grpc.WatchServiceStub(channel),
        jobs=service_pb2_grpc.JobsServiceStub(channel),
    )


# ------------------------------------------------------------------ client side


async def next_message(call: grpc.aio.UnaryStreamCall[Any, R]) -> R:
    """The next message of a stream, which must not have ended."""
    message = await call.read()
    assert message is not grpc.aio.EOF, "the stream ended"
    return cast(R, message)


async def read_events(
    call: Any, count: int, *, skip_heartbeats: bool = True
) -> list[watch_pb2.WatchEventsResponse]:
    """Read ``count`` messages (not counting heartbeats, unless asked to)."""
    messages: list[watch_pb2.WatchEventsResponse] = []
    while len(messages) < count:
        message = await call.read()
        assert message is not grpc.aio.EOF, f"stream ended after {messages}"
        if skip_heartbeats and message.HasField("heartbeat"):
            continue
        messages.append(message)
    return messages


async def read_until_sequence(call: Any, last: int, *, after: int) -> list[int]:
    """Read the event records after ``after`` up to ``last``; return their sequence numbers."""
    sequences: list[int] = []
    while (sequences[-1] if sequences else after) < last:
        message = await call.read()
        assert message is not grpc.aio.EOF, f"stream ended after {sequences[-1:]}"
        if message.HasField("event"):
            sequences.append(message.event.sequence)
    return sequences


async def failure_of(call: Any) -> grpc.aio.AioRpcError:
    """Read the rest of a stream and return the error it ends with."""
    try:
        while await call.read() is not grpc.aio.EOF:
            pass
    except grpc.aio.AioRpcError as error:
        return error
    raise AssertionError("the stream ended with OK")


def statuses(messages: list[watch_pb2.WatchEventsResponse]) -> list[tuple[str, str]]:
    """(job id, status name) of the JOB_STATUS_CHANGE events among ``messages``."""
    result = []
    for message in messages:
        change = message.event.event.job_status_change
        if message.HasField("event") and message.event.event.HasField("job_status_change"):
            result.append((change.id, job_pb2.JobStatus.Name(change.status)))
    return result


async def eventually(predicate: Callable[[], bool], *, seconds: float = 10.0) -> None:
    """Poll ``predicate`` until it holds; for server-side effects no event announces.

    Only ever waits for a condition: the limit turns a hang into a failure.
    """
    for _ in range(int(seconds / 0.005)):
        if predicate():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("condition not reached")
