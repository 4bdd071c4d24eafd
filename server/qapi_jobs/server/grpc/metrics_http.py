"""The metrics endpoint: ``GET /metrics`` over plain HTTP/1.1, on the server's event loop.

Serving from the event loop (rather than prometheus_client's thread) lets
the collectors read the job manager without locks: a scrape is one more
short task between calls.  Each connection answers one request and closes.
"""

from __future__ import annotations

import asyncio
import logging

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from qapi_jobs.server.grpc.config import split_address

logger = logging.getLogger(__name__)

METRICS_PATH = "/metrics"
_READ_TIMEOUT = 10.0
"""Seconds a client gets to send its request headers."""
_MAX_HEADER = 16 << 10


class MetricsEndpoint:
    """Serves ``registry`` at ``http://ADDRESS/metrics``."""

    def __init__(self, registry: CollectorRegistry, listen: str) -> None:
        self._registry = registry
        self._listen = listen
        self._server: asyncio.Server | None = None

    @property
    def address(self) -> str:
        """``host:port`` actually bound (the port is chosen when 0 was asked)."""
        if self._server is None:
            raise RuntimeError("the metrics endpoint is not started")
        host, port = self._server.sockets[0].getsockname()[:2]
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    async def start(self) -> None:
        """Bind the address and serve; OSError if it cannot be bound."""
        parts = split_address(self._listen)
        if parts is None:
            raise OSError(f"metrics listen address {self._listen!r} must be HOST:PORT")
        host, port = parts
        self._server = await asyncio.start_server(
            self._serve, host.strip("[]"), port, limit=_MAX_HEADER
        )

    async def stop(self) -> None:
        """Stop listening and wait for scrapes in progress."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(_READ_TIMEOUT):
                head = await reader.readuntil(b"\r\n\r\n")
            writer.write(self._answer(head.split(b"\r\n", 1)[0]))
            await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        except ConnectionError:
            logger.debug("metrics client went away")
        finally:
            writer.close()

    def _answer(self, request_line: bytes) -> bytes:
        parts = request_line.split()
        if len(parts) != 3 or parts[0] != b"GET":
            return _response(405, "text/plain", b"only GET is supported\n")
        path = parts[1].split(b"?", 1)[0]
        if path != METRICS_PATH.encode():
            return _response(404, "text/plain", b"metrics are at /metrics\n")
        body = generate_latest(self._registry)
        return _response(200, CONTENT_TYPE_LATEST, body)


def _response(status: int, content_type: str, body: bytes) -> bytes:
    reason = {200: "OK", 404: "Not Found", 405: "Method Not Allowed"}[status]
    head = (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body
