"""What the server needs of metrics and tracing, whichever of them are on.

Metrics are on when ``ServerConfig.metrics_listen`` is set, tracing when a
tracer provider is given; with neither the server gets no interceptor and
the watch streams the plain event encoder, so observability costs nothing
when it is not asked for.
"""

from __future__ import annotations

import grpc
from opentelemetry.trace import TracerProvider

from qapi_jobs.server.engines.backend import JobView
from qapi_jobs.server.engines.base import EngineReport
from qapi_jobs.server.grpc.config import ServerConfig
from qapi_jobs.server.grpc.metrics import ServerMetrics
from qapi_jobs.server.grpc.tracing import Tracing
from qapi_jobs.server.grpc.watch_encoding import EventEncoder


class Observability:
    """The server's metrics and tracing, each None when off."""

    def __init__(
        self,
        manager: JobView,
        engine: EngineReport,
        config: ServerConfig,
        watch_services: tuple[str, ...],
        tracer_provider: TracerProvider | None = None,
    ) -> None:
        self.metrics = (
            None
            if config.metrics_listen is None
            else ServerMetrics(
                manager, engine, listen=config.metrics_listen, watch_services=watch_services
            )
        )
        self.tracing = None if tracer_provider is None else Tracing(tracer_provider, manager)

    def interceptors(self) -> list[grpc.aio.ServerInterceptor]:
        """The server interceptors: tracing outermost, so its span covers the metrics too."""
        interceptors = []
        if self.tracing is not None:
            interceptors.append(self.tracing.interceptor())
        if self.metrics is not None:
            interceptors.append(self.metrics.interceptor())
        return interceptors

    def event_encoder(self) -> EventEncoder | None:
        """The encoder the watch streams use (None: their default)."""
        return None if self.metrics is None else self.metrics.encoder

    async def start(self) -> None:
        """Bind and serve the metrics endpoint (OSError if it cannot be bound)."""
        if self.metrics is not None:
            await self.metrics.start()

    async def stop(self) -> None:
        """Stop the endpoint and end the spans of jobs still open."""
        if self.metrics is not None:
            await self.metrics.stop()
        if self.tracing is not None:
            self.tracing.end_all()
