"""Per-call metrics of every RPC, named as the gRPC ecosystem's Prometheus interceptors name them.

``grpc_server_started_total`` and ``grpc_server_handled_total`` count
calls by service, method, type (and status code once handled);
``grpc_server_handling_seconds`` is their latency, by code too.  The
label children of a method are looked up once, when its first call comes,
so a call costs two counter increments and one histogram observation.
"""

from __future__ import annotations

import time
from types import TracebackType
from typing import Any

import grpc
from prometheus_client import CollectorRegistry, Counter, Histogram

from qapi_jobs.server.grpc.interceptors import Context, call_type, status_code

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10)
"""Seconds; control calls take around a millisecond, job-creating ones more."""


def split_method(method: str) -> tuple[str, str]:
    """``("package.Service", "Method")`` of ``/package.Service/Method``."""
    service, _, name = method.lstrip("/").rpartition("/")
    return service, name


class RpcMetrics:
    """The three RPC metrics, registered in ``registry``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        labels = ("grpc_service", "grpc_method", "grpc_type")
        self.started = Counter(
            "grpc_server_started", "RPCs started on the server.", labels, registry=registry
        )
        self.handled = Counter(
            "grpc_server_handled",
            "RPCs completed on the server, by status code.",
            (*labels, "grpc_code"),
            registry=registry,
        )
        self.latency = Histogram(
            "grpc_server_handling_seconds",
            "Time from the start of an RPC to its status, by status code.",
            (*labels, "grpc_code"),
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )

    def method(self, method: str, handler: grpc.RpcMethodHandler[Any, Any]) -> MethodMetrics:
        """The metrics of one method."""
        return MethodMetrics(self, (*split_method(method), call_type(handler)))


class MethodMetrics:
    """One method's label children, made once per status code seen."""

    def __init__(self, rpc: RpcMetrics, labels: tuple[str, str, str]) -> None:
        self._rpc = rpc
        self._labels = labels
        self.started = rpc.started.labels(*labels)
        self._by_code: dict[grpc.StatusCode, tuple[Any, Any]] = {}

    def observe(self, request: object, context: Context) -> RpcTimer:
        """An Observe (see :mod:`.interceptors`) recording one call."""
        return RpcTimer(self, context)

    def finished(self, code: grpc.StatusCode, seconds: float) -> None:
        """Count a call that ended with ``code`` after ``seconds``."""
        children = self._by_code.get(code)
        if children is None:
            children = (
                self._rpc.handled.labels(*self._labels, code.name),
                self._rpc.latency.labels(*self._labels, code.name),
            )
            self._by_code[code] = children
        children[0].inc()
        children[1].observe(seconds)


class RpcTimer:
    """The context manager one call runs in: counts it and times it."""

    __slots__ = ("_context", "_metrics", "_start")

    def __init__(self, metrics: MethodMetrics, context: Context) -> None:
        self._metrics = metrics
        self._context = context
        self._start = 0.0

    def __enter__(self) -> RpcTimer:
        self._metrics.started.inc()
        self._start = time.perf_counter()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        code = status_code(self._context, exc)
        self._metrics.finished(code, time.perf_counter() - self._start)
