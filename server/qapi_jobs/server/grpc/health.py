"""The health service, with Watch streams that end when the server shuts down.

A Health.Watch stream never ends by itself; left open, it would hold a
graceful shutdown for its whole grace period.  At shutdown each watcher is
sent NOT_SERVING and its stream ends with OK.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import grpc
from grpc_health.v1 import health_pb2
from grpc_health.v1._async import HealthServicer


class DrainingHealthServicer(HealthServicer):
    """The standard health servicer whose watches :meth:`end_watches` ends."""

    def __init__(self) -> None:
        super().__init__()
        self._ending = asyncio.Event()

    async def Watch(
        self, request: health_pb2.HealthCheckRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> None:
        """Stream the service's status until the server shuts down."""
        if self._ending.is_set():
            await context.write(health_pb2.HealthCheckResponse(status=_NOT_SERVING))
            return
        watching = asyncio.ensure_future(super().Watch(request, context))
        ending = asyncio.ensure_future(self._ending.wait())
        try:
            await asyncio.wait({watching, ending}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            ending.cancel()
            watching.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watching
        await context.write(health_pb2.HealthCheckResponse(status=_NOT_SERVING))

    def end_watches(self) -> None:
        """End every Watch stream (after a last NOT_SERVING), and every later one at once."""
        self._ending.set()


_NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
