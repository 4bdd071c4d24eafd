"""OpenTelemetry for the client's channels: a span per call, its context sent to the server.

Channels are traced when the optional ``tracing`` extra is installed
(``pip install 'qapi-jobs-client[tracing]'``, which brings
opentelemetry-api) and a tracer provider is either given or was set up
globally by the application (``opentelemetry.trace.set_tracer_provider``);
otherwise they are left as they are, so the client pays nothing for
tracing it does not do.  Each call gets a CLIENT span named after its
method, ended when the call ends (a watch stream's span lasts as long as
the stream), and carries ``traceparent`` so that the server's span is its
child.

These interceptors are our own rather than opentelemetry-instrumentation-
grpc's: that one's synchronous stream interceptor returns a plain
generator, without the ``cancel()`` the watch helpers call, and its asyncio
one leaves the span of a cancelled stream open.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

import grpc
import grpc.aio

if TYPE_CHECKING:
    from opentelemetry.trace import Span, Tracer, TracerProvider

TRACER_NAME = "qapi_jobs.client"


def _tracer(tracer_provider: TracerProvider | None) -> Tracer | None:
    """The tracer to use, or None when tracing is off."""
    try:
        from opentelemetry import trace
    except ImportError:
        return None
    provider = tracer_provider or trace.get_tracer_provider()
    if isinstance(provider, trace.ProxyTracerProvider | trace.NoOpTracerProvider):
        return None
    return provider.get_tracer(TRACER_NAME)


def _start(tracer: Tracer, method: str) -> tuple[Span, list[tuple[str, str]]]:
    """A CLIENT span for ``method`` and the metadata that carries its context."""
    from opentelemetry import propagate, trace

    service, _, name = method.lstrip("/").rpartition("/")
    span = tracer.start_span(
        method.lstrip("/"),
        kind=trace.SpanKind.CLIENT,
        attributes={"rpc.system": "grpc", "rpc.service": service, "rpc.method": name},
    )
    carrier: dict[str, str] = {}
    propagate.inject(carrier, context=trace.set_span_in_context(span))
    return span, list(carrier.items())


def _end(span: Span, code: grpc.StatusCode | None) -> None:
    from opentelemetry.trace import Status, StatusCode

    code = code or grpc.StatusCode.UNKNOWN
    span.set_attribute("rpc.grpc.status_code", code.value[0])
    if code is not grpc.StatusCode.OK:
        span.set_status(Status(StatusCode.ERROR, code.name))
    span.end()


class _Details(NamedTuple):
    method: str
    timeout: float | None
    metadata: Any
    credentials: grpc.CallCredentials | None
    wait_for_ready: bool | None
    compression: grpc.Compression | None


class _CallDetails(_Details, grpc.ClientCallDetails):
    """grpc's client call details, with our metadata."""


class _SyncTracing(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):
    """Spans for the calls of a synchronous channel."""

    def __init__(self, tracer: Tracer) -> None:
        self._tracer = tracer

    def _call(self, continuation: Callable[..., Any], details: Any, request: Any) -> Any:
        span, traced = _start(self._tracer, details.method)
        new = _CallDetails(
            details.method,
            details.timeout,
            [*(details.metadata or ()), *traced],
            details.credentials,
            details.wait_for_ready,
            details.compression,
        )
        call = continuation(new, request)
        call.add_done_callback(lambda done: _end(span, done.code()))
        return call

    def intercept_unary_unary(
        self, continuation: Callable[..., Any], client_call_details: Any, request: Any
    ) -> Any:
        """Trace one unary call."""
        return self._call(continuation, client_call_details, request)

    def intercept_unary_stream(
        self, continuation: Callable[..., Any], client_call_details: Any, request: Any
    ) -> Any:
        """Trace one response stream, until it ends."""
        return self._call(continuation, client_call_details, request)


class _AioTracing:
    """Spans for the calls of an asyncio channel."""

    def __init__(self, tracer: Tracer) -> None:
        self._tracer = tracer
        self._followers: set[asyncio.Task[None]] = set()

    async def call(self, continuation: Callable[..., Any], details: Any, request: Any) -> Any:
        """Start the call with the span's context and end the span when the call ends."""
        method = details.method
        span, traced = _start(
            self._tracer, method.decode() if isinstance(method, bytes) else method
        )
        metadata = grpc.aio.Metadata(*(details.metadata or ()), *traced)
        new = grpc.aio.ClientCallDetails(
            details.method, details.timeout, metadata, details.credentials, details.wait_for_ready
        )
        call = await continuation(new, request)
        follower = asyncio.ensure_future(self._follow(span, call))
        self._followers.add(follower)
        follower.add_done_callback(self._followers.discard)
        return call

    @staticmethod
    async def _follow(span: Span, call: Any) -> None:
        _end(span, await call.code())


class _AioUnary(grpc.aio.UnaryUnaryClientInterceptor):
    def __init__(self, tracing: _AioTracing) -> None:
        self._tracing = tracing

    async def intercept_unary_unary(
        self, continuation: Any, client_call_details: Any, request: Any
    ) -> Any:
        """Trace one unary call."""
        return await self._tracing.call(continuation, client_call_details, request)


class _AioStream(grpc.aio.UnaryStreamClientInterceptor):
    def __init__(self, tracing: _AioTracing) -> None:
        self._tracing = tracing

    async def intercept_unary_stream(
        self, continuation: Any, client_call_details: Any, request: Any
    ) -> Any:
        """Trace one response stream, until it ends."""
        return await self._tracing.call(continuation, client_call_details, request)


def aio_interceptors(
    tracer_provider: TracerProvider | None = None,
) -> list[grpc.aio.ClientInterceptor]:
    """The interceptors an asyncio channel gets (none when tracing is off)."""
    tracer = _tracer(tracer_provider)
    if tracer is None:
        return []
    tracing = _AioTracing(tracer)
    return [_AioUnary(tracing), _AioStream(tracing)]


def intercept(channel: grpc.Channel, tracer_provider: TracerProvider | None = None) -> grpc.Channel:
    """``channel`` with tracing, or itself when tracing is off."""
    tracer = _tracer(tracer_provider)
    if tracer is None:
        return channel
    return grpc.intercept_channel(channel, _SyncTracing(tracer))
