"""Prometheus metrics of one server, served on an opt-in address (``--metrics-listen``).

:class:`ServerMetrics` puts together the RPC metrics (an interceptor), the
watch stream metrics, the job and event log metrics and the endpoint; see
``docs/deploy.md`` for the list of metrics.
"""

from __future__ import annotations

from typing import Any

import grpc
from prometheus_client import CollectorRegistry, ProcessCollector

from qapi_jobs.server.engines.backend import JobView
from qapi_jobs.server.engines.base import EngineReport
from qapi_jobs.server.grpc.interceptors import Observe, ObservingInterceptor
from qapi_jobs.server.grpc.metrics_http import MetricsEndpoint
from qapi_jobs.server.grpc.metrics_jobs import JobMetrics
from qapi_jobs.server.grpc.metrics_rpc import RpcMetrics, split_method
from qapi_jobs.server.grpc.metrics_watch import CountingEncoder, WatchMetrics


class ServerMetrics:
    """Every metric of a server; ``watch_services`` are the services whose streams are watches."""

    def __init__(
        self,
        manager: JobView,
        engine: EngineReport,
        *,
        listen: str | None,
        watch_services: tuple[str, ...],
    ) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        self._rpc = RpcMetrics(self.registry)
        self._watch = WatchMetrics(self.registry)
        self._watch_services = watch_services
        self.jobs = JobMetrics(manager, engine, self.registry)
        self.encoder = CountingEncoder(manager.instance_id)
        """The encoder the watch servicer must use, so that deliveries are counted."""
        self.registry.register(self.encoder)
        self.endpoint = None if listen is None else MetricsEndpoint(self.registry, listen)

    def interceptor(self) -> grpc.aio.ServerInterceptor:
        """The server interceptor that records every RPC."""
        return ObservingInterceptor(self._observe)

    def _observe(self, method: str, handler: grpc.RpcMethodHandler[Any, Any]) -> Observe:
        metrics = self._rpc.method(method, handler)
        if handler.response_streaming and split_method(method)[0] in self._watch_services:
            return self._watch.observe(method, metrics)
        return metrics.observe

    async def start(self) -> None:
        """Start serving the endpoint (if an address was given)."""
        if self.endpoint is not None:
            await self.endpoint.start()

    async def stop(self) -> None:
        """Stop serving the endpoint."""
        if self.endpoint is not None:
            await self.endpoint.stop()
