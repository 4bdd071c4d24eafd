"""OpenTelemetry traces: a span per RPC and a span per job, linked to the RPC that created it.

The RPC spans continue the trace the caller sent in its metadata
(``traceparent``, through the globally configured propagator).  Our own
interceptor makes them, rather than opentelemetry-instrumentation-grpc's
server interceptor, because that one turns every streaming handler into
an async generator, which breaks the watch streams that write shared
bytes with ``context.write``.  A job outlives the call that created it,
so its span starts a trace of its own, from ``created`` to ``concluded``,
with a link to the RPC's span and an event per status change.

Tracing is off unless the standard ``OTEL_TRACES_EXPORTER`` variable names
an exporter: ``otlp`` (needs the ``otlp`` extra: ``pip install
'qapi-jobs-server[otlp]'``; the ``OTEL_EXPORTER_OTLP_*`` variables apply)
or ``console``.  ``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES``,
``OTEL_TRACES_SAMPLER`` and the ``OTEL_BSP_*`` variables work as the
OpenTelemetry SDK defines them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import grpc
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from opentelemetry.trace import Link, Span, SpanKind, Status, StatusCode, TracerProvider

from qapi_jobs.server.engines.backend import JobView
from qapi_jobs.server.grpc.config import ConfigError
from qapi_jobs.server.grpc.interceptors import Context, Observe, ObservingInterceptor, status_code
from qapi_jobs.server.grpc.metrics_jobs import outcome
from qapi_jobs.server.grpc.metrics_rpc import split_method
from qapi_jobs.server.jobs.errors import JobError
from qapi_jobs.server.jobs.events import JOB_STATUS_CHANGE, EventRecord
from qapi_jobs.server.jobs.status import JobStatus

TRACER_NAME = "qapi_jobs.server"
EXPORTERS = ("otlp", "console")


def provider_from_env(environ: Mapping[str, str] = os.environ) -> SdkTracerProvider | None:
    """A tracer provider exporting as ``OTEL_TRACES_EXPORTER`` says; None when tracing is off."""
    names = [
        name.strip()
        for name in environ.get("OTEL_TRACES_EXPORTER", "none").split(",")
        if name.strip() and name.strip() != "none"
    ]
    if not names or environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return None
    provider = SdkTracerProvider(resource=Resource.create({"service.name": "qapi-jobs-server"}))
    for name in names:
        provider.add_span_processor(BatchSpanProcessor(_exporter(name)))
    return provider


def _exporter(name: str) -> SpanExporter:
    if name == "console":
        return ConsoleSpanExporter()
    if name != "otlp":
        raise ConfigError(
            f"OTEL_TRACES_EXPORTER: unknown exporter {name!r}; choose from {', '.join(EXPORTERS)}"
        )
    try:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    except ImportError:
        raise ConfigError(
            "OTEL_TRACES_EXPORTER=otlp needs the OTLP exporter: "
            "pip install 'qapi-jobs-server[otlp]'"
        ) from None
    exporter: SpanExporter = OTLPSpanExporter()
    return exporter


class Tracing:
    """The RPC interceptor and the job spans of one server."""

    def __init__(self, provider: TracerProvider, manager: JobView) -> None:
        self._tracer = provider.get_tracer(TRACER_NAME)
        self._manager = manager
        self._jobs: dict[str, Span] = {}
        manager.events.add_listener(self._on_event)

    def interceptor(self) -> grpc.aio.ServerInterceptor:
        """The server interceptor making a span per RPC."""
        return ObservingInterceptor(self._observe)

    def _observe(self, method: str, handler: grpc.RpcMethodHandler[Any, Any]) -> Observe:
        service, name = split_method(method)
        attributes = {"rpc.system": "grpc", "rpc.service": service, "rpc.method": name}
        span_name = method.lstrip("/")

        @contextmanager
        def observe(request: object, context: Context) -> Iterator[Span]:
            parent = propagate.extract(dict(context.invocation_metadata() or ()))
            with self._tracer.start_as_current_span(
                span_name,
                context=parent,
                kind=SpanKind.SERVER,
                attributes=attributes,
                record_exception=False,
                set_status_on_exception=False,
            ) as span:
                error: BaseException | None = None
                try:
                    yield span
                except BaseException as exc:
                    error = exc
                    raise
                finally:
                    code = status_code(context, error)
                    span.set_attribute("rpc.grpc.status_code", code.value[0])
                    if code is not grpc.StatusCode.OK:
                        span.set_status(Status(StatusCode.ERROR, code.name))

        return observe

    def _on_event(self, record: EventRecord) -> None:
        if record.name != JOB_STATUS_CHANGE:
            return
        job_id, status = str(record.data["id"]), str(record.data["status"])
        if status == JobStatus.CREATED.value:
            self._start_job(job_id)
            return
        span = self._jobs.get(job_id)
        if span is None:
            return
        span.add_event("status", {"job.status": status})
        if status == JobStatus.CONCLUDED.value:
            del self._jobs[job_id]
            self._end_job(span, job_id)
        elif status == JobStatus.NULL.value:
            del self._jobs[job_id]
            span.end()

    def _start_job(self, job_id: str) -> None:
        # Published inside the creating RPC: its span is the current one.
        caller = trace.get_current_span().get_span_context()
        links = [Link(caller)] if caller.is_valid else []
        job_type = self._manager.job_info(job_id).type.value
        self._jobs[job_id] = self._tracer.start_span(
            f"job {job_type}",
            context=otel_context.Context(),
            kind=SpanKind.INTERNAL,
            links=links,
            attributes={"job.id": job_id, "job.type": job_type},
        )

    def _end_job(self, span: Span, job_id: str) -> None:
        try:
            error = self._manager.job_info(job_id).error
        except JobError:
            error = None
        span.set_attribute("job.outcome", outcome(error))
        if error is not None:
            span.set_status(Status(StatusCode.ERROR, error))
        span.end()

    def end_all(self) -> None:
        """End the spans of jobs still open (at shutdown)."""
        for span in self._jobs.values():
            span.end()
        self._jobs.clear()
