"""The asyncio client: ``AsyncJobsClient``.

One method per command comes from the generated ``AsyncCommands``; this
module adds the connection, the resumable watch iterators and the helpers
that wait for a job or run one to its end::

    async with AsyncJobsClient("127.0.0.1:50051") as client:
        for job in await client.query_jobs():
            print(job.id, status_name(job.status))

The synchronous client, ``sync_client.py``, is generated from this module
by ``make generate`` (``async``/``await`` dropped, asyncio names swapped
for their synchronous counterparts), so the two cannot drift: edit this
one.  The asyncio client belongs to the event loop that created it (gRPC's
asyncio channels do); leaving an ``async for`` over a watch early keeps its
stream open until the iterator is closed or garbage collected
(``contextlib.aclosing`` closes it at once).
"""

# Methods take ``timeout=``: for unary calls it is the gRPC deadline, which
# the server sees too.
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable, Iterable
from types import TracebackType
from typing import TypeVar

import grpc
import grpc.aio
from google.protobuf.message import Message

from qapi_jobs.client.callbacks import settle
from qapi_jobs.client.channel import DEFAULT_TIMEOUT, ChannelOptions, Tls, aio_channel
from qapi_jobs.client.deadline import NO_DEADLINE, Deadline
from qapi_jobs.client.errors import DeadlineExceeded, QapiJobsError, Unavailable, error_from_rpc
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
    """A client of the qapi-jobs service.

    ``address`` defaults to ``$QAPI_JOBS_SERVER``, then ``127.0.0.1:50051``
    (a missing port is 50051); ``tls`` switches to a TLS channel;
    ``timeout`` is the deadline in seconds of every unary call that does
    not give its own (None: no deadline); ``reconnect`` is how watch
    iterators reconnect.  Pass ``channel`` to use a channel of your own
    (the client then does not close it).
    """

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
        """Call JobsService method ``rpc`` (e.g. ``"JobPause"``) with a request
        message; for generic tools such as the command line."""
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
        """Every event from now on (or after ``after_sequence`` of server
        instance ``instance_id``, or after a ``snapshot`` of the jobs), for
        as long as the caller iterates.

        Yields :class:`EventItem` per event, :class:`Resync` for the initial
        snapshot and whenever the server no longer holds the events since
        the last one (the program should then rebuild its state from the
        snapshot), and :class:`Heartbeat` on idle streams when
        ``heartbeats``.  Broken streams, server restarts and overflows are
        handled here: no event is lost or repeated.  A watch that never
        reached the server gives up after the policy's ``connect_timeout``.
        Filters: ``job_ids``, ``event_names`` (QAPI names such as
        ``JOB_STATUS_CHANGE``).
        """
        resume = EventsResume(
            after_sequence=after_sequence,
            instance_id=instance_id,
            snapshot=snapshot,
            job_ids=job_ids,
            event_names=event_names,
            heartbeat_interval=heartbeat_interval,
        )
        return self._watch_events(resume, reconnect or self.reconnect, heartbeats, NO_DEADLINE)

    async def _watch_events(
        self,
        resume: EventsResume,
        policy: ReconnectPolicy,
        heartbeats: bool,
        deadline: Deadline,
    ) -> AsyncGenerator[WatchItem, None]:
        backoff = Backoff(policy)
        while True:
            call = self._watch.WatchEvents(resume.request(), timeout=deadline.remaining())
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
            if isinstance(error, DeadlineExceeded):
                deadline.remaining()
            if not resume.failed(error):
                await asyncio.sleep(deadline.pause(backoff.next_delay(error)))

    async def watch_jobs(
        self,
        job_id: str = "",
        *,
        min_interval: float | None = None,
        reconnect: ReconnectPolicy | None = None,
    ) -> AsyncGenerator[JobsSnapshot, None]:
        """Snapshots of all jobs (or of ``job_id``) whenever their status or
        progress changes, at most one per ``min_interval`` seconds: for
        progress displays.  Reconnects by itself (giving up like
        :meth:`watch_events` when it never reached the server); watching one
        job ends once the job is gone (JobNotFound if it never existed).
        """
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
        check: bool = True,
        timeout: float | None = None,
    ) -> job_pb2.JobInfo:
        """Wait until job ``job_id`` has one of ``statuses`` (enum values or
        QAPI names such as ``"concluded"``) and return its JobInfo.

        A job that concludes with an error (a failed or cancelled job)
        raises JobFailed, whatever was waited for, unless ``check`` is
        false (then its concluded JobInfo counts like any other).
        JobEndedError if it concludes, is dismissed or does not exist
        first; TimeoutError after ``timeout`` seconds, which bound every
        call the wait makes.  Waiting for ``"null"`` waits until the job is
        gone (at once if it does not exist).
        """
        targets = status_set(statuses)
        deadline = Deadline(timeout)
        resume = EventsResume(snapshot=True, job_ids=[job_id], event_names=["JOB_STATUS_CHANGE"])
        items = self._watch_events(resume, self.reconnect, False, deadline)
        return await self._drive(wait_logic(job_id, targets, check=check), items, deadline)

    async def run_job(
        self,
        job_id: str,
        start: Callable[[], object],
        *,
        on_progress: Callable[[job_pb2.JobInfo], object] | None = None,
        progress_interval: float = 1.0,
        finalize: bool = True,
        dismiss: bool = True,
        check: bool = True,
        timeout: float | None = None,
    ) -> JobOutcome:
        """Start a job with ``start()`` (e.g. ``lambda: client.blockdev_create(
        job_id="c1", options=...)``), follow it to its end and return how it
        ended.

        A job held in ``pending`` (auto-finalize off) is finalized and a
        concluded job that stays listed is dismissed, unless ``finalize`` /
        ``dismiss`` say otherwise.  ``on_progress`` hears of every status
        change and, every ``progress_interval`` seconds while nothing else
        happens, of the job's progress.  With ``check`` a failed or
        cancelled job raises JobFailed.  TimeoutError after ``timeout``
        seconds (the job is left running).  In the asyncio client
        ``start`` and ``on_progress`` may return awaitables.
        """
        deadline = Deadline(timeout)
        resume = EventsResume(snapshot=True, job_ids=[job_id], heartbeat_interval=progress_interval)
        items = self._watch_events(resume, self.reconnect, True, deadline)
        logic = run_logic(
            job_id, finalize=finalize, dismiss=dismiss, progress=on_progress is not None
        )
        outcome = await self._drive(logic, items, deadline, start=start, on_progress=on_progress)
        if check and not outcome.ok:
            raise JobFailed(outcome)
        return outcome

    async def _drive(
        self,
        logic: Logic[_T],
        items: AsyncGenerator[WatchItem, None],
        deadline: Deadline,
        *,
        start: Callable[[], object] | None = None,
        on_progress: Callable[[job_pb2.JobInfo], object] | None = None,
    ) -> _T:
        """Run a :mod:`~qapi_jobs.client.follow` generator with this client's
        I/O, every call bounded by ``deadline``."""
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
                        result = await self.find_job(op.job_id, timeout=deadline.bound(None))
                    elif isinstance(op, Start):
                        if start is not None:
                            await settle(start())
                    elif isinstance(op, Finalize):
                        await self.job_finalize(id=op.job_id, timeout=deadline.bound(None))
                    elif isinstance(op, Dismiss):
                        await self.job_dismiss(id=op.job_id, timeout=deadline.bound(None))
                    elif isinstance(op, Progress) and on_progress is not None:
                        await settle(on_progress(op.info))
                except QapiJobsError as err:
                    if isinstance(op, Start):
                        raise
                    failure = err
        finally:
            logic.close()
            await items.aclose()
