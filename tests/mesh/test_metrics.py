"""Prometheus metrics: RPCs, jobs, bytes copied, watch streams, events, engine."""

from __future__ import annotations

import asyncio
import signal
import socket
import sys
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from qapi_jobs.client import AsyncJobsClient, JobNotFound
from qapi_jobs.server.cli import LISTENING, METRICS
from qapi_jobs.server.grpc.app import JobsServer, ListenError
from qapi_jobs.server.grpc.metrics import ServerMetrics
from qapi_jobs.server.grpc.watch import WatchSettings
from qapi_jobs.v1 import watch_pb2, watch_pb2_grpc
from tests.support.images import MIB, dense_file
from tests.support.requests import FULL, raw_image
from tests.support.timeouts import GUARD_TIMEOUT

from .rig import running_server, sample, scrape

JOBS = "qapi_jobs.v1.JobsService"
WATCH = "qapi_jobs.v1.WatchService"


def metrics_address(server: JobsServer) -> str:
    metrics = server.observability.metrics
    assert metrics is not None and metrics.endpoint is not None
    return metrics.endpoint.address


async def read_until(call: object, event_name: str) -> None:
    """Read a WatchEvents stream until an event called ``event_name`` came."""
    async with asyncio.timeout(GUARD_TIMEOUT):
        async for response in call:  # type: ignore[attr-defined]
            assert isinstance(response, watch_pb2.WatchEventsResponse)
            if response.event.event.WhichOneof("kind") == event_name:
                return
    raise AssertionError(f"the stream ended before {event_name}")


async def test_metrics_of_calls_jobs_and_watchers(tmp_path: Path) -> None:
    async with (
        running_server(tmp_path, metrics_listen="127.0.0.1:0") as server,
        AsyncJobsClient(server.address, timeout=10) as client,
    ):
        watch = watch_pb2_grpc.WatchServiceStub(client.channel)
        resumed = watch.WatchEvents(
            watch_pb2.WatchEventsRequest(after_sequence=0, instance_id=server.manager.instance_id)
        )
        listed = watch.WatchEvents(watch_pb2.WatchEventsRequest(send_initial_snapshot=True))
        with pytest.raises(JobNotFound):
            await client.job_dismiss(id="nothing")
        health: Any = health_pb2_grpc.HealthStub(client.channel)
        health_watch = health.Watch(health_pb2.HealthCheckRequest(service=""))
        assert (await health_watch.read()).status == health_pb2.HealthCheckResponse.SERVING
        health_watch.cancel()
        source = await asyncio.to_thread(dense_file, tmp_path, "src.raw", MIB)
        await client.drive_backup(
            job_id="b1",
            device=source,
            target="b1.raw",
            sync=FULL,
            auto_dismiss=False,
        )
        await client.wait_for_status("b1", "concluded", timeout=GUARD_TIMEOUT)
        await client.job_dismiss(id="b1")
        await read_until(resumed, "block_job_completed")
        await read_until(listed, "block_job_completed")

        samples = await scrape(metrics_address(server))
        rpc = {"grpc_service": JOBS, "grpc_type": "unary"}
        assert sample(samples, "grpc_server_started_total", grpc_method="JobDismiss", **rpc) == 2
        for code, count in (("NOT_FOUND", 1), ("OK", 1)):
            labels = {**rpc, "grpc_method": "JobDismiss", "grpc_code": code}
            assert sample(samples, "grpc_server_handled_total", **labels) == count
            assert sample(samples, "grpc_server_handling_seconds_count", **labels) == count
        # Async-generator handlers are observed too; they are no watch streams.
        health_labels = {"grpc_service": "grpc.health.v1.Health", "grpc_type": "server_stream"}
        assert (
            sample(samples, "grpc_server_started_total", grpc_method="Watch", **health_labels) == 1
        )
        assert sample(samples, "qapi_jobs_watch_streams_open", grpc_method="Watch") is None
        assert sample(samples, "qapi_jobs_jobs_started_total", type="backup") == 1
        done = {"type": "backup", "outcome": "completed"}
        assert sample(samples, "qapi_jobs_jobs_concluded_total", **done) == 1
        assert sample(samples, "qapi_jobs_job_duration_seconds_count", **done) == 1
        assert sample(samples, "qapi_jobs_copied_bytes_total", type="backup") == MIB
        assert sample(samples, "qapi_jobs_watch_streams_open", grpc_method="WatchEvents") == 2
        # wait_for_status lists the jobs first too: two snapshot starts.
        for start, count in (("resume", 1), ("snapshot", 2)):
            labels = {"grpc_method": "WatchEvents", "start": start}
            assert sample(samples, "qapi_jobs_watch_streams_started_total", **labels) == count
        completed = {"event": "BLOCK_JOB_COMPLETED"}
        assert sample(samples, "qapi_jobs_events_published_total", **completed) == 1
        assert sample(samples, "qapi_jobs_events_delivered_total", **completed) == 2
        last = server.manager.events.last_seq
        assert sample(samples, "qapi_jobs_event_log_last_sequence") == last
        assert sample(samples, "qapi_jobs_event_log_events") == last
        capacity = server.manager.events.retention
        assert sample(samples, "qapi_jobs_event_log_capacity") == capacity
        assert sample(samples, "qapi_jobs_event_subscribers") == 2  # the two watchers
        assert sample(samples, "qapi_jobs_engine_up", engine="builtin") == 1
        assert sample(samples, "qapi_jobs_jobs", type="backup", status="concluded") is None
        resumed.cancel()
        listed.cancel()


async def test_a_watcher_dropped_as_too_slow_is_counted(tmp_path: Path) -> None:
    # With a lag limit of one event, the two events a job's creation
    # publishes at once leave a waiting watcher too far behind.
    async with (
        running_server(
            tmp_path, metrics_listen="127.0.0.1:0", watch=WatchSettings(max_lag=1)
        ) as server,
        AsyncJobsClient(server.address, timeout=10) as client,
    ):
        watch = watch_pb2_grpc.WatchServiceStub(client.channel)
        call = watch.WatchEvents(watch_pb2.WatchEventsRequest())
        await call.initial_metadata()
        await client.blockdev_create(job_id="c1", options=raw_image("c1.raw"))
        with pytest.raises(grpc.aio.AioRpcError) as ended:
            async with asyncio.timeout(GUARD_TIMEOUT):
                async for _ in call:
                    pass
        assert ended.value.code() == grpc.StatusCode.ABORTED
        # Counted before the status left the server; scraped before the
        # client's own watch (which max_lag=1 may drop too) begins.  Every
        # WatchEvents stream so far was dropped (under load gRPC may have
        # carried the test's one call on more than one stream).
        samples = await scrape(metrics_address(server))
        dropped = sample(samples, "qapi_jobs_watchers_dropped_total", grpc_method="WatchEvents")
        started = [
            sample(
                samples,
                "qapi_jobs_watch_streams_started_total",
                grpc_method="WatchEvents",
                start=kind,
            )
            for kind in ("live", "resume", "snapshot")
        ]
        assert dropped is not None and dropped >= 1
        assert dropped == sum(count or 0.0 for count in started)
        await client.wait_for_status("c1", "concluded", timeout=GUARD_TIMEOUT)
        samples = await scrape(metrics_address(server))
        assert sample(samples, "qapi_jobs_jobs", type="create", status="concluded") == 1
        await client.job_dismiss(id="c1")


async def test_metrics_are_off_unless_asked_for(tmp_path: Path) -> None:
    async with running_server(tmp_path) as server:
        assert server.observability.metrics is None
        assert server.observability.interceptors() == []


async def test_the_endpoint_serves_metrics_only(tmp_path: Path) -> None:
    async with running_server(tmp_path, metrics_listen="127.0.0.1:0") as server:
        host, _, port = metrics_address(server).rpartition(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(b"GET / HTTP/1.1\r\nHost: metrics\r\n\r\n")
        response = await reader.read()
        writer.close()
        assert response.startswith(b"HTTP/1.1 404 ") and response.endswith(b"/metrics\n")


async def test_a_busy_metrics_address_is_a_listen_error(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        with pytest.raises(ListenError, match=f"cannot serve metrics on 127.0.0.1:{port}"):
            async with running_server(tmp_path, metrics_listen=f"127.0.0.1:{port}"):
                pass


async def test_the_server_prints_its_metrics_url(data_dir: Path) -> None:
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "qapi_jobs.server", "--listen", "127.0.0.1:0"),
        *("--data-dir", str(data_dir), "--metrics-listen", "127.0.0.1:0"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    assert process.stdout is not None
    try:
        async with asyncio.timeout(GUARD_TIMEOUT):
            assert (await process.stdout.readline()).startswith(LISTENING.encode())
            line = (await process.stdout.readline()).decode()
        assert line.startswith(f"{METRICS} http://127.0.0.1:") and line.endswith("/metrics\n")
        address = line.split("//")[1].removesuffix("/metrics\n")
        samples = await scrape(address)
        assert sample(samples, "qapi_jobs_engine_up", engine="builtin") == 1
    finally:
        process.send_signal(signal.SIGTERM)
        assert await process.wait() == 0


async def test_each_method_is_wrapped_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The authorisation guard hands out the same wrapper for every call, so
    # the metrics interceptor outside it wraps each method only once.
    built: list[str] = []
    observe = ServerMetrics._observe

    def counting(self: ServerMetrics, method: str, handler: Any) -> Any:
        built.append(method)
        return observe(self, method, handler)

    monkeypatch.setattr(ServerMetrics, "_observe", counting)
    async with (
        running_server(tmp_path, metrics_listen="127.0.0.1:0") as server,
        AsyncJobsClient(server.address, timeout=10) as client,
    ):
        for _ in range(5):
            await client.query_jobs()
    assert built.count("/qapi_jobs.v1.JobsService/QueryJobs") == 1
