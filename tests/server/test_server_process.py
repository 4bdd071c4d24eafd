"""``python -m qapi_jobs.server`` as a process: startup line, bad options, SIGTERM."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from qapi_jobs.server.cli import EXIT_LISTEN, build_parser, config_from_args
from qapi_jobs.server.grpc.config import ConfigError, ServerConfig
from qapi_jobs.server.jobs import events as ev
from qapi_jobs.transcoder import decode_arguments
from qapi_jobs.v1 import job_pb2, service_pb2, service_pb2_grpc, watch_pb2, watch_pb2_grpc
from tests.support.images import KIB, MIB, make_dense
from tests.support.timeouts import GUARD_TIMEOUT

LISTENING = "qapi-jobs listening on "


class ServerProcess:
    """A server started as a subprocess; stderr goes to a file."""

    def __init__(self, process: asyncio.subprocess.Process, stderr: Path) -> None:
        self.process = process
        self.stderr = stderr
        self.address = ""

    async def read_address(self) -> str:
        assert self.process.stdout is not None
        async with asyncio.timeout(GUARD_TIMEOUT):
            line = (await self.process.stdout.readline()).decode()
        assert line.startswith(LISTENING), (line, self.stderr.read_text())
        self.address = line.removeprefix(LISTENING).strip()
        return self.address

    def log_lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stderr.read_text().splitlines() if line]


async def run_server(tmp_path: Path, *args: str) -> ServerProcess:
    stderr = tmp_path / "stderr.log"
    sink = stderr.open("wb")  # a file, not a pipe: debug logs could fill a pipe nobody reads
    try:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "qapi_jobs.server",
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=sink,
        )
    finally:
        sink.close()
    return ServerProcess(process, stderr)


@pytest.fixture
async def started(tmp_path: Path, data_dir: Path) -> AsyncIterator[ServerProcess]:
    server = await run_server(
        tmp_path,
        "--listen=127.0.0.1:0",
        f"--data-dir={data_dir}",
        "--shutdown-grace=20",
        "--log-format=json",
        "--log-level=debug",
    )
    try:
        await server.read_address()
        yield server
    finally:
        if server.process.returncode is None:
            server.process.kill()
            await server.process.wait()


async def next_status(call: Any) -> int:
    response = await call.read()
    assert isinstance(response, health_pb2.HealthCheckResponse)
    return int(response.status)


async def wait_for_running(events: Any, job_id: str) -> None:
    async for response in events:
        change = response.event.event.job_status_change
        if (change.id, change.status) == (job_id, job_pb2.JOB_STATUS_RUNNING):
            return
    raise AssertionError("the watch stream ended before the job ran")


async def test_sigterm_drains_and_exits_cleanly(started: ServerProcess, data_dir: Path) -> None:
    make_dense(data_dir / "disk.img", 4 * MIB)
    async with grpc.aio.insecure_channel(started.address) as channel:
        health: Any = health_pb2_grpc.HealthStub(channel)
        health_watch = health.Watch(health_pb2.HealthCheckRequest(service=""))
        watch = watch_pb2_grpc.WatchServiceStub(channel)
        events = watch.WatchEvents(watch_pb2.WatchEventsRequest())
        jobs = service_pb2_grpc.JobsServiceStub(channel)
        async with asyncio.timeout(GUARD_TIMEOUT):
            assert await next_status(health_watch) == health_pb2.HealthCheckResponse.SERVING
            await jobs.DriveBackup(
                decode_arguments(
                    service_pb2.DriveBackupRequest,
                    {
                        "job-id": "b1",
                        "device": "disk.img",
                        "target": "copy.img",
                        "sync": "full",
                        "speed": 64 * KIB,
                    },
                )
            )
            await wait_for_running(events, "b1")

            started.process.send_signal(signal.SIGTERM)
            assert await next_status(health_watch) == health_pb2.HealthCheckResponse.NOT_SERVING
            with pytest.raises(grpc.aio.AioRpcError) as ended:
                async for _ in events:
                    pass
            # The watch stream ended on its own, not because the process went away:
            # the open health watch still holds the server inside its 20 s grace.
            assert started.process.returncode is None
            assert ended.value.code() == grpc.StatusCode.UNAVAILABLE
            health_watch.cancel()
            assert await started.process.wait() == 0

    assert not (data_dir / "copy.img").exists()
    events_logged = [
        (line["event"], line.get("job_id"))
        for line in started.log_lines()
        if line["logger"] == "qapi_jobs.server.events"
    ]
    assert (ev.BLOCK_JOB_CANCELLED, "b1") in events_logged
    assert events_logged[-1] == (ev.JOB_STATUS_CHANGE, "b1")


async def test_sigint_with_nothing_running(started: ServerProcess) -> None:
    started.process.send_signal(signal.SIGINT)
    async with asyncio.timeout(GUARD_TIMEOUT):
        assert await started.process.wait() == 0
    messages = [line["message"] for line in started.log_lines()]
    assert "signal received; shutting down" in messages
    assert messages[-1] == "stopped"


async def test_the_qemu_engine_without_its_daemon_is_refused(
    tmp_path: Path, data_dir: Path
) -> None:
    server = await run_server(
        tmp_path, f"--data-dir={data_dir}", "--engine=qemu", "--qemu-storage-daemon=no-such-qsd"
    )
    async with asyncio.timeout(GUARD_TIMEOUT):
        assert await server.process.wait() == 2
    assert "no-such-qsd not found" in server.stderr.read_text()


@pytest.mark.parametrize(
    ("options", "complaint"),
    [
        (["--tls-cert=cert.pem"], "TLS needs both --tls-cert and --tls-key"),
        (["--require-client-auth"], "need --tls-cert and --tls-key"),
        (["--tls-cert=c", "--tls-key=k", "--require-client-auth"], "needs a client CA"),
        (["--listen=localhost"], "is not HOST:PORT or unix:PATH"),
        (["--heartbeat-interval=0.01"], "heartbeat_interval must be at least"),
        (["--max-connection-age-grace=5"], "needs --max-connection-age"),
        (["--engine=qemu", "--power-loss-safe"], "the qemu engine does not use it"),
        (["--engine=qemu", "--event-max-age=60"], "the qemu engine does not use it"),
    ],
)
def test_inconsistent_options(data_dir: Path, options: list[str], complaint: str) -> None:
    args = build_parser().parse_args([f"--data-dir={data_dir}", *options])
    with pytest.raises(ConfigError, match=complaint):
        config_from_args(args)


async def test_missing_data_dir(tmp_path: Path) -> None:
    server = await run_server(
        tmp_path, f"--data-dir={tmp_path / 'nowhere'}", "--listen=127.0.0.1:0"
    )
    async with asyncio.timeout(GUARD_TIMEOUT):
        assert await server.process.wait() == 2
    assert "is not a directory" in server.stderr.read_text()


async def test_busy_port(tmp_path: Path, data_dir: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        server = await run_server(tmp_path, f"--data-dir={data_dir}", f"--listen=127.0.0.1:{port}")
        async with asyncio.timeout(GUARD_TIMEOUT):
            assert await server.process.wait() == EXIT_LISTEN
    assert f"cannot listen on 127.0.0.1:{port}" in server.stderr.read_text()


def test_options_map_onto_the_configuration(data_dir: Path) -> None:
    args = build_parser().parse_args(
        [
            "--listen=127.0.0.1:0",
            "--listen=[::1]:7000",
            f"--data-dir={data_dir}",
            "--heartbeat-interval=2.5",
            "--event-retention=50",
            "--watcher-max-lag=40",
            "--job-watch-interval=0.5",
            "--max-message-size=65536",
            "--shutdown-grace=1.5",
            "--log-level=DEBUG",
        ]
    )
    config = config_from_args(args)
    assert isinstance(config, ServerConfig)
    assert config.listen == ("127.0.0.1:0", "[::1]:7000")
    assert (config.data_dir, config.engine, config.tls) == (data_dir, "builtin", None)
    assert (config.watch.heartbeat_interval, config.watch.max_lag) == (2.5, 40)
    assert config.watch.job_watch_interval == 0.5
    assert (config.event_retention, config.max_message_size) == (50, 65536)
    assert config.shutdown_grace == 1.5
    assert args.log_level == "debug"
    defaults = config_from_args(build_parser().parse_args([f"--data-dir={data_dir}"]))
    assert defaults.listen == ("127.0.0.1:50051",)
