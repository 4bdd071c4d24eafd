"""The asyncio client: ``AsyncJobsClient``.

The same API as :class:`~qapi_jobs.client.sync_client.JobsClient`, with
coroutines and async iterators.  Create it inside the running event loop
(gRPC's asyncio channels belong to the loop that made them)::

    async with AsyncJobsClient() as client:
        async for item in client.watch_events(snapshot=True):
            ...

Leaving an ``async for`` over a watch early keeps its stream open until
the iterator is garbage collected; wrap it in ``contextlib.aclosing`` to
close it at once.
"""

# Methods take ``timeout=`` like the synchronous client: for unary calls it
# is the gRPC deadline, which the server sees too.
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable
from types import TracebackType
from typing import TypeVar

import grpc
import grpc.aio
from google.protobuf.message import Message

from qapi_jobs.client.channel import DEFAULT_TIMEOUT, ChannelOptions, Tls, aio_channel
from qapi_jobs.client.errors import QapiJobsError, Unavailable, error_from_rpc
from qapi_jobs.client.follow import (
    Dismiss,
    Finalize,
    JobFailed,
    JobOutcome,
    Logic,
    NextItem,
    Progress,
    QueryJob,
    Start,
    StatusSet,
    run_logic,
    status_set,
    wait_logic,
)
from qapi_jobs.client.generated import AsyncCommands
from qapi_jobs.client.items import Heartbeat, JobsSnapshot, WatchItem
from qapi_jobs.client.resume import Backoff, EventsResume, JobsResume, ReconnectPolicy
from qapi_jobs.v1 import job_pb2, service_pb2_grpc, watch_pb2_grpc

_T = TypeVar("_T")


class AsyncJobsClient(AsyncCommands):
    """An asyncio client of the qapi-jobs service (see :class:`JobsClient`
    for the arguments)."""

    def __init__(
        self,
        address: str | None = None,
        *,
        tls: Tls | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
        options: ChannelOptions = (),
        reconnect: ReconnectPolicy | None = None,
        channel: grpc.aio.Channel | None = None,
    ) -> None:
        self._owns_channel = channel is None
        self._channel = (
            channel if channel is not None else aio_channel(address, tls=tls, options=options)
        )
        self._stub = service_pb2_grpc.JobsServiceStub(self._channel)
        self._watch = watch_pb2_grpc.WatchServiceStub(self._channel)
        self._default_timeout = timeout
        self.reconnect = reconnect or ReconnectPolicy()

    @property
    def channel(self) -> grpc.aio.Channel:
        """The underlying gRPC channel."""
        return self._channel

    async def close(self) -> None:
        """Close the channel (if the client made it); open watches end."""
        if self._owns_channel:
            await self._channel.close()

    async def __aenter__(self) -> AsyncJobsClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def call(self, rpc: str, request: Message, *, timeout: float | None = None) -> Message:
        """Call JobsService method ``rpc`` (e.g. ``"JobPause"``) with a request message."""
        method: grpc.aio.UnaryUnaryMultiCallable[Message, Message] = getattr(self._stub, rpc)
        return await self._unary(method, request, timeout)

    async def find_job(
        self, job_id: str, *, timeout: float | None = None
    ) -> job_pb2.JobInfo | None:
        """The job's entry in query-jobs, or None if it is not listed."""
        jobs = await self.query_jobs(timeout=timeout)
        return next((job for job in jobs if job.id == job_id), None)

    # --- watching -------------------------------------------------------------

    def watch_events(
        self,
        *,
        after_sequence: int | None = None,
        instance_id: str = "",
        snapshot: bool = False,
        job_ids: Iterable[str] = (),
        event_names: Iterable[str] = (),
        heartbeat_interval: float | None = None,
        heartbeats: bool = False,
        reconnect: ReconnectPolicy | None = None,
    ) -> AsyncGenerator[WatchItem, None]:
        """Every event from now on, resuming across broken streams and server
        restarts; see :meth:`JobsClient.watch_events`."""
        resume = EventsResume(
            after_sequence=after_sequence,
            instance_id=instance_id,
            snapshot=snapshot,
            job_ids=job_ids,
            event_names=event_names,
            heartbeat_interval=heartbeat_interval,
        )
        return self._watch_events(resume, reconnect or self.reconnect, heartbeats)

    async def _watch_events(
        self, resume: EventsResume, policy: ReconnectPolicy, heartbeats: bool
    ) -> AsyncGenerator[WatchItem, None]:
        backoff = Backoff(policy)
        while True:
            call = self._watch.WatchEvents(resume.request())
            error: QapiJobsError | None = None
            try:
                async for response in call:
                    backoff.reset()
                    for item in resume.receive_all(response):
                        if heartbeats or not isinstance(item, Heartbeat):
                            yield item
            except grpc.RpcError as err:
                error = error_from_rpc(err)
            finally:
                call.cancel()
            if error is None:
                error = Unavailable("the server ended the watch stream")
            if not resume.failed(error):
                await asyncio.sleep(backoff.next_delay(error))

    async def watch_jobs(
        self,
        job_id: str = "",
        *,
        min_interval: float | None = None,
        reconnect: ReconnectPolicy | None = None,
    ) -> AsyncGenerator[JobsSnapshot, None]:
        """Snapshots of all jobs (or of ``job_id``) as they change; see
        :meth:`JobsClient.watch_jobs`."""
        resume = JobsResume(job_id=job_id, min_interval=min_interval)
        backoff = Backoff(reconnect or self.reconnect)
        while True:
            call = self._watch.WatchJobs(resume.request())
            error: QapiJobsError | None = None
            try:
                async for response in call:
                    backoff.reset()
                    snapshot = resume.receive(response)
                    if snapshot is not None:
                        yield snapshot
            except grpc.RpcError as err:
                error = error_from_rpc(err)
            finally:
                call.cancel()
            if error is None:
                if resume.finished():
                    return
                error = Unavailable("the server ended the watch stream")
            resume.failed(error)
            await asyncio.sleep(backoff.next_delay(error))

    # --- following a job ----------------------------------------------------------

    async def wait_for_status(
        self,
        job_id: str,
        statuses: StatusSet,
        *,
        timeout: float | None = None,
    ) -> job_pb2.JobInfo:
        """Wait until job ``job_id`` has one of ``statuses``; see
        :meth:`JobsClient.wait_for_status`."""
        targets = status_set(statuses)
        resume = EventsResume(snapshot=True, job_ids=[job_id], event_names=["JOB_STATUS_CHANGE"])
        items = self._watch_events(resume, self.reconnect, False)
        async with asyncio.timeout(timeout):
            return await self._drive(wait_logic(job_id, targets), items)

    async def run_job(
        self,
        job_id: str,
        start: Callable[[], Awaitable[object]],
        *,
        on_progress: Callable[[job_pb2.JobInfo], object] | None = None,
        progress_interval: float = 1.0,
        finalize: bool = True,
        dismiss: bool = True,
        check: bool = True,
        timeout: float | None = None,
    ) -> JobOutcome:
        """Start a job with ``await start()``, follow it to its end and return
        how it ended; see :meth:`JobsClient.run_job`.  ``on_progress`` may be
        a plain function or a coroutine function."""
        resume = EventsResume(snapshot=True, job_ids=[job_id], heartbeat_interval=progress_interval)
        items = self._watch_events(resume, self.reconnect, True)
        logic = run_logic(
            job_id, finalize=finalize, dismiss=dismiss, progress=on_progress is not None
        )
        async with asyncio.timeout(timeout):
            outcome = await self._drive(logic, items, start=start, on_progress=on_progress)
        if check and not outcome.ok:
            raise JobFailed(outcome)
        return outcome

    async def _drive(
        self,
        logic: Logic[_T],
        items: AsyncGenerator[WatchItem, None],
        *,
        start: Callable[[], Awaitable[object]] | None = None,
        on_progress: Callable[[job_pb2.JobInfo], object] | None = None,
    ) -> _T:
        """Run a :mod:`~qapi_jobs.client.follow` generator with this client's I/O."""
        result: object = None
        failure: QapiJobsError | None = None
        try:
            while True:
                try:
                    op = logic.send(result) if failure is None else logic.throw(failure)
                except StopIteration as stop:
                    value: _T = stop.value
                    return value
                result, failure = None, None
                try:
                    if isinstance(op, NextItem):
                        result = await anext(items)
                    elif isinstance(op, QueryJob):
                        result = await self.find_job(op.job_id)
                    elif isinstance(op, Start):
                        if start is not None:
                            await start()
                    elif isinstance(op, Finalize):
                        await self.job_finalize(id=op.job_id)
                    elif isinstance(op, Dismiss):
                        await self.job_dismiss(id=op.job_id)
                    elif isinstance(op, Progress) and on_progress is not None:
                        returned = on_progress(op.info)
                        if inspect.isawaitable(returned):
                            await returned
                except QapiJobsError as err:
                    if isinstance(op, Start):
                        raise
                    failure = err
        finally:
            logic.close()
            await items.aclose()
