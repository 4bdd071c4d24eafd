"""OpenTelemetry for the client's channels: a span per call, its context sent to the server.

Channels are instrumented when the optional ``tracing`` extra is installed
(``pip install 'qapi-jobs-client[tracing]'``) and a tracer provider is
either given or was set up globally by the application
(``opentelemetry.trace.set_tracer_provider``); otherwise they are left as
they are, so the client pays nothing for tracing it does not do.  The
server continues the trace from the ``traceparent`` the calls carry.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import grpc
import grpc.aio

if TYPE_CHECKING:
    from opentelemetry.trace import TracerProvider


def _provider(tracer_provider: TracerProvider | None) -> TracerProvider | None:
    """The provider to trace with, or None when tracing is off."""
    try:
        from opentelemetry import trace
    except ImportError:
        return None
    if tracer_provider is not None:
        return tracer_provider
    provider = trace.get_tracer_provider()
    if isinstance(provider, trace.ProxyTracerProvider | trace.NoOpTracerProvider):
        return None
    return provider


def aio_interceptors(
    tracer_provider: TracerProvider | None = None,
) -> list[grpc.aio.ClientInterceptor]:
    """The interceptors an asyncio channel gets (none when tracing is off)."""
    provider = _provider(tracer_provider)
    if provider is None:
        return []
    try:
        from opentelemetry.instrumentation import grpc as instrumentation
    except ImportError:
        return []
    make: Callable[..., list[grpc.aio.ClientInterceptor]] = instrumentation.aio_client_interceptors
    return make(tracer_provider=provider)


def intercept(channel: grpc.Channel, tracer_provider: TracerProvider | None = None) -> grpc.Channel:
    """``channel`` with tracing, or itself when tracing is off."""
    provider = _provider(tracer_provider)
    if provider is None:
        return channel
    try:
        from opentelemetry.instrumentation import grpc as instrumentation
    except ImportError:
        return channel
    make: Callable[..., Any] = instrumentation.client_interceptor
    return grpc.intercept_channel(channel, make(tracer_provider=provider))
