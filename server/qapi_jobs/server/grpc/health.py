"""The standard health service, with Watch streams that end when the server shuts down.

A Health.Watch stream never ends by itself; left open, it would hold a
graceful shutdown for its whole grace period.  At shutdown every service
turns NOT_SERVING, each watcher is sent that status, and its stream ends
with OK.  Check answers as the standard servicer does (NOT_FOUND for a
service it was never told about).
"""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

_Status = int
"""A HealthCheckResponse.ServingStatus value."""
Context = grpc.aio.ServicerContext[Any, Any]


class DrainingHealthServicer(health_pb2_grpc.HealthServicer):
    """grpc.health.v1.Health: statuses set by the server, watches that end at shutdown."""

    def __init__(self) -> None:
        self._statuses: dict[str, _Status] = {}
        self._changed = asyncio.Condition()
        self._ending = False

    async def set(self, service: str, status: _Status) -> None:
        """Set the status of ``service`` (``""`` for the server as a whole)."""
        async with self._changed:
            self._statuses[service] = status
            self._changed.notify_all()

    async def enter_graceful_shutdown(self) -> None:
        """Every service NOT_SERVING for good; every watch ends after saying so."""
        async with self._changed:
            self._ending = True
            for service in self._statuses:
                self._statuses[service] = health_pb2.HealthCheckResponse.NOT_SERVING
            self._changed.notify_all()

    async def Check(
        self, request: health_pb2.HealthCheckRequest, context: Context
    ) -> health_pb2.HealthCheckResponse:
        """The service's status now."""
        status = self._statuses.get(request.service)
        if status is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, "Unknown service")
        return health_pb2.HealthCheckResponse(status=status)

    async def Watch(self, request: health_pb2.HealthCheckRequest, context: Context) -> None:
        """Send the service's status at once and on every change, until shutdown."""
        last: _Status | None = None
        while True:
            async with self._changed:
                status, ending = self._status(request.service), self._ending
                while status == last and not ending:
                    await self._changed.wait()
                    status, ending = self._status(request.service), self._ending
            if status != last:
                await context.write(health_pb2.HealthCheckResponse(status=status))
                last = status
            if ending:
                return

    def _status(self, service: str) -> _Status:
        return self._statuses.get(service, health_pb2.HealthCheckResponse.SERVICE_UNKNOWN)
