"""The watch streams: WatchService (WatchEvents, WatchJobs) and JobsService.StreamEvents.

Register with :func:`add_to_server` rather than the generated
``add_WatchServiceServicer_to_server`` (and JobsService.StreamEvents with
:meth:`WatchServicer.stream_events_handler`): these serve the streams as
reader/writer handlers with an identity serializer, so each event is
serialised once for all watchers and shutdown can end even streams stuck
behind a slow client.  The servicer's async-generator methods (what the
generated registration calls) behave the same, except that they
serialise per stream and a stream blocked in a write notices a shutdown
only once that write completes.

Register the service name (:data:`SERVICE_NAME`) with server reflection
as usual: reflection reads the descriptors, not the handlers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc

from qapi_jobs.server.engines.backend import JobView
from qapi_jobs.server.grpc.watch_encoding import EventEncoder
from qapi_jobs.server.grpc.watch_events import (
    MIN_HEARTBEAT,
    StreamEventsSession,
    WatchEventsSession,
    open_stream_events,
    open_watch_events,
)
from qapi_jobs.server.grpc.watch_jobs import JobSampler, WatchJobsSession, open_watch_jobs
from qapi_jobs.server.grpc.watch_status import shutting_down
from qapi_jobs.server.grpc.watch_streams import (
    Context,
    StreamRegistry,
    write_frames,
    yield_messages,
)
from qapi_jobs.v1 import service_pb2, watch_pb2, watch_pb2_grpc

SERVICE_NAME: str = watch_pb2.DESCRIPTOR.services_by_name["WatchService"].full_name
"""``qapi_jobs.v1.WatchService``, for reflection and health."""


@dataclass(frozen=True)
class WatchSettings:
    """Server-wide settings of the watch streams."""

    heartbeat_interval: float = 5.0
    """Seconds; an idle stream gets a Heartbeat this often (keep it under 10 s)."""
    job_watch_interval: float = 0.2
    """Seconds; the default minimum interval between two WatchJobs snapshots."""
    max_lag: int = 10_000
    """Events a watcher may fall behind before it is dropped (WATCHER_TOO_SLOW)."""

    def __post_init__(self) -> None:
        if self.heartbeat_interval < MIN_HEARTBEAT:
            raise ValueError(f"heartbeat_interval must be at least {MIN_HEARTBEAT} s")
        if self.job_watch_interval < 0:
            raise ValueError("job_watch_interval must not be negative")
        if self.max_lag < 1:
            raise ValueError("max_lag must be at least 1")


class WatchServicer(watch_pb2_grpc.WatchServiceServicer):
    """Serves the watch streams of one job manager."""

    def __init__(
        self, manager: JobView, settings: WatchSettings, encoder: EventEncoder | None = None
    ) -> None:
        """``encoder`` replaces the default one (metrics count what theirs hands out)."""
        self._manager = manager
        self._settings = settings
        self._encoder = encoder or EventEncoder(manager.instance_id)
        self._sampler = JobSampler(manager)
        self._registry = StreamRegistry(lambda: shutting_down(None, manager.instance_id))

    @property
    def open_streams(self) -> int:
        """How many watch streams (of every kind) are open."""
        return len(self._registry)

    # ----------------------------------------------------------- WatchEvents

    def _open_watch_events(self, request: watch_pb2.WatchEventsRequest) -> WatchEventsSession:
        return open_watch_events(
            self._manager,
            self._encoder,
            request,
            default_heartbeat=self._settings.heartbeat_interval,
            max_lag=self._settings.max_lag,
        )

    async def WatchEvents(
        self, request: watch_pb2.WatchEventsRequest, context: Context
    ) -> AsyncIterator[watch_pb2.WatchEventsResponse]:
        """Every event, with sequence numbers; see watch.proto."""
        if request.send_initial_snapshot:
            await self._manager.events.settle()  # the snapshot then has no commit to wait for
        stream = yield_messages(self._registry, lambda: self._open_watch_events(request), context)
        async for message in stream:
            yield message

    async def serve_watch_events(
        self, request: watch_pb2.WatchEventsRequest, context: Context
    ) -> None:
        """WatchEvents as a reader/writer handler writing shared bytes (see add_to_server)."""
        if request.send_initial_snapshot:
            await self._manager.events.settle()  # the snapshot then has no commit to wait for
        await write_frames(self._registry, lambda: self._open_watch_events(request), context)

    # -------------------------------------------------------------- WatchJobs

    def _open_watch_jobs(self, request: watch_pb2.WatchJobsRequest) -> WatchJobsSession:
        return open_watch_jobs(
            self._manager,
            self._sampler,
            request,
            default_interval=self._settings.job_watch_interval,
            heartbeat=self._settings.heartbeat_interval,
        )

    async def WatchJobs(
        self, request: watch_pb2.WatchJobsRequest, context: Context
    ) -> AsyncIterator[watch_pb2.WatchJobsResponse]:
        """Throttled snapshots of one job or of all jobs; see watch.proto."""
        stream = yield_messages(self._registry, lambda: self._open_watch_jobs(request), context)
        async for message in stream:
            yield message

    async def serve_watch_jobs(self, request: watch_pb2.WatchJobsRequest, context: Context) -> None:
        """WatchJobs as a reader/writer handler writing bytes (see add_to_server)."""
        await write_frames(self._registry, lambda: self._open_watch_jobs(request), context)

    # ---------------------------------------------------------- StreamEvents

    async def stream_events(
        self, request: service_pb2.StreamEventsRequest, context: Context
    ) -> AsyncIterator[service_pb2.StreamEventsResponse]:
        """JobsService.StreamEvents: the events from now on, as QMP sends them."""
        del request  # nothing to choose yet
        async for message in yield_messages(self._registry, self._open_stream_events, context):
            yield message

    async def serve_stream_events(
        self, request: service_pb2.StreamEventsRequest, context: Context
    ) -> None:
        """StreamEvents as a reader/writer handler writing shared bytes."""
        del request
        await write_frames(self._registry, self._open_stream_events, context)

    def stream_events_handler(self) -> grpc.RpcMethodHandler[object, bytes]:
        """The JobsService.StreamEvents method handler that writes shared bytes.

        Preferable to registering :meth:`stream_events` directly, for the
        reasons given in the module docstring.
        """
        return grpc.unary_stream_rpc_method_handler(
            self.serve_stream_events,
            request_deserializer=service_pb2.StreamEventsRequest.FromString,
            response_serializer=identity,
        )

    def _open_stream_events(self) -> StreamEventsSession:
        return open_stream_events(self._manager, self._encoder, max_lag=self._settings.max_lag)

    # --------------------------------------------------------------- shutdown

    def close_all(self) -> None:
        """End every open stream with UNAVAILABLE (saying where to resume); refuse new ones."""
        self._registry.close_all()

    async def wait_closed(self) -> None:
        """Wait until every stream has ended (after :meth:`close_all`)."""
        await self._registry.wait_closed()


def identity(data: bytes) -> bytes:
    """The response serializer of handlers that write pre-serialised messages."""
    return data


def add_to_server(servicer: WatchServicer, server: grpc.aio.Server) -> None:
    """Register WatchService on ``server``, writing pre-serialised responses."""
    handlers: dict[str, grpc.RpcMethodHandler[object, bytes]] = {
        "WatchEvents": grpc.unary_stream_rpc_method_handler(
            servicer.serve_watch_events,
            request_deserializer=watch_pb2.WatchEventsRequest.FromString,
            response_serializer=identity,
        ),
        "WatchJobs": grpc.unary_stream_rpc_method_handler(
            servicer.serve_watch_jobs,
            request_deserializer=watch_pb2.WatchJobsRequest.FromString,
            response_serializer=identity,
        ),
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE_NAME, handlers),))
    server.add_registered_method_handlers(SERVICE_NAME, handlers)
