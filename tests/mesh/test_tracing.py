"""OpenTelemetry: client and server spans of a call, the job's span linked to its RPC."""

from __future__ import annotations

from pathlib import Path

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from qapi_jobs.client import AsyncJobsClient, Heartbeat, JobNotFound, JobsClient, tracing
from qapi_jobs.client.channel import aio_channel, sync_channel
from qapi_jobs.server.grpc.config import ConfigError
from qapi_jobs.server.grpc.tracing import provider_from_env
from tests.support.requests import raw_image
from tests.support.servers import ThreadedServer
from tests.support.timeouts import GUARD_TIMEOUT

from .rig import running_server

CREATE = "qapi_jobs.v1.JobsService/BlockdevCreate"


def one(spans: list[ReadableSpan], name: str, kind: SpanKind) -> ReadableSpan:
    (span,) = [span for span in spans if span.name.lstrip("/") == name and span.kind == kind]
    return span


async def test_spans_of_a_call_and_of_the_job_it_starts(tmp_path: Path) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    async with running_server(tmp_path, tracer_provider=provider) as server:
        channel = aio_channel(server.address, tracer_provider=provider)
        async with AsyncJobsClient(channel=channel, timeout=10) as client:
            await client.blockdev_create(job_id="c1", options=raw_image("c1.raw"))
            await client.wait_for_status("c1", "concluded", timeout=GUARD_TIMEOUT)
            with pytest.raises(JobNotFound):
                await client.job_dismiss(id="nothing")
        await channel.close()
    spans = list(exporter.get_finished_spans())

    called = one(spans, CREATE, SpanKind.CLIENT)
    served = one(spans, CREATE, SpanKind.SERVER)
    assert called.context is not None and served.context is not None
    assert served.parent is not None and served.parent.span_id == called.context.span_id
    assert served.context.trace_id == called.context.trace_id

    job = one(spans, "job create", SpanKind.INTERNAL)
    assert job.parent is None
    assert [link.context.span_id for link in job.links] == [served.context.span_id]
    assert job.attributes is not None
    assert job.attributes["job.id"] == "c1" and job.attributes["job.outcome"] == "completed"
    statuses = [event.attributes["job.status"] for event in job.events if event.attributes]
    assert statuses[0] == "running" and statuses[-1] == "concluded"

    refused = one(spans, "qapi_jobs.v1.JobsService/JobDismiss", SpanKind.SERVER)
    assert refused.status.status_code == StatusCode.ERROR
    assert refused.attributes is not None
    assert refused.attributes["rpc.grpc.status_code"] == 5  # NOT_FOUND


def test_the_sync_client_traces_its_calls_when_given_a_provider(data_dir: Path) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    server = ThreadedServer(data_dir).start()
    try:
        with JobsClient(channel=sync_channel(server.address, tracer_provider=provider)) as client:
            assert client.query_jobs() == []
            # A traced stream can still be cancelled, as the watch helpers do.
            items = client.watch_events(heartbeats=True, heartbeat_interval=0.1)
            assert isinstance(next(items), Heartbeat)
            items.close()
        # Without a provider, given or set globally, channels stay as they are.
        assert tracing.aio_interceptors() == []
        plain = sync_channel(server.address)
        assert tracing.intercept(plain) is plain
        plain.close()
    finally:
        server.stop()
    spans = {span.name: span for span in exporter.get_finished_spans()}
    assert set(spans) == {
        "qapi_jobs.v1.JobsService/QueryJobs",
        "qapi_jobs.v1.WatchService/WatchEvents",
    }
    assert {span.kind for span in spans.values()} == {SpanKind.CLIENT}
    stream = spans["qapi_jobs.v1.WatchService/WatchEvents"].attributes
    assert stream is not None and stream["rpc.grpc.status_code"] == 1  # CANCELLED


def test_tracing_follows_otel_traces_exporter() -> None:
    assert provider_from_env({}) is None
    assert provider_from_env({"OTEL_TRACES_EXPORTER": "none"}) is None
    assert (
        provider_from_env({"OTEL_TRACES_EXPORTER": "console", "OTEL_SDK_DISABLED": "true"}) is None
    )
    provider = provider_from_env({"OTEL_TRACES_EXPORTER": "otlp"})
    assert provider is not None
    provider.shutdown()
    with pytest.raises(ConfigError, match="unknown exporter 'zipkin'"):
        provider_from_env({"OTEL_TRACES_EXPORTER": "zipkin"})
