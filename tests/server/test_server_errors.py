"""Requests that are not valid QMP, unexpected failures, limits, logs and configuration."""

from __future__ import annotations

import io
import json
import logging
import socket
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc
import pytest

from qapi_jobs.server.grpc.app import (
    JobsServer,
    ListenError,
    build_server,
    grpc_options,
    make_engine,
)
from qapi_jobs.server.grpc.commands import Commands, UnknownCommand
from qapi_jobs.server.grpc.config import ConfigError, ServerConfig, TlsConfig, bound_address
from qapi_jobs.server.grpc.logs import (
    EVENTS_LOGGER,
    JsonFormatter,
    TextFormatter,
    configure_logging,
)
from qapi_jobs.transcoder import decode_arguments
from qapi_jobs.v1 import service_pb2, service_pb2_grpc
from tests.support.errors import assert_refused, bad_request, error_info
from tests.support.images import MIB, make_dense

if TYPE_CHECKING:
    from qapi_jobs.v1.service_pb2_grpc import JobsServiceAsyncStub as Stub

INVALID_ARGUMENT = grpc.StatusCode.INVALID_ARGUMENT


async def refused(call: Any) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    return caught.value


# ------------------------------------------------------------------ transcoding


async def test_a_missing_required_enum_names_the_member(stub: Stub) -> None:
    request = service_pb2.DriveBackupRequest(device="disk.img", target="copy.img")
    error = await refused(stub.DriveBackup(request))
    text = "$.sync: required member is not set (MirrorSyncMode is unspecified)"
    assert_refused(
        error,
        INVALID_ARGUMENT,
        f"Invalid arguments for 'drive-backup': {text}",
        "INVALID_REQUEST",
        {"command": "drive-backup", "field": "sync"},
    )
    (violation,) = bad_request(error).field_violations
    assert (violation.field, violation.description) == (
        "sync",
        "required member is not set (MirrorSyncMode is unspecified)",
    )


async def test_a_nested_error_has_its_full_path(stub: Stub) -> None:
    actions = [
        {"type": "drive-backup", "data": {"device": "a.img", "target": "b.img", "sync": "full"}}
    ]
    request = decode_arguments(service_pb2.TransactionRequest, {"actions": actions})
    request.actions.add().drive_backup.data.device = "c.img"
    request.actions[1].type = request.actions[0].type
    error = await refused(stub.Transaction(request))
    assert error.code() == INVALID_ARGUMENT
    (violation,) = bad_request(error).field_violations
    assert violation.field == "actions[1].data.sync"
    assert "$.actions[1].data.sync" in str(error.details())


async def test_a_union_without_its_branch(stub: Stub) -> None:
    request = service_pb2.BlockdevCreateRequest(job_id="c1")
    error = await refused(stub.BlockdevCreate(request))
    assert error.code() == INVALID_ARGUMENT
    assert error_info(error).metadata["field"].startswith("options")


# ------------------------------------------------------------------ unexpected failures


async def test_an_unexpected_exception_is_internal_and_logged(
    stub: Stub,
    server: JobsServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken() -> list[Any]:
        raise RuntimeError("secret internals at 0xdeadbeef")

    monkeypatch.setattr(server.manager, "query_jobs", broken)
    with caplog.at_level(logging.ERROR, logger="qapi_jobs.server.grpc"):
        error = await refused(stub.QueryJobs(service_pb2.QueryJobsRequest()))
    assert error.code() == grpc.StatusCode.INTERNAL
    assert "secret internals" not in str(error.details())
    info = error_info(error)
    assert info.reason == "INTERNAL_ERROR"
    incident = info.metadata["incident"]
    assert f"incident {incident}" in str(error.details())
    (record,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert incident in record.getMessage()
    assert record.exc_info is not None
    assert "secret internals" in str(record.exc_info[1])


async def test_a_result_that_does_not_fit_is_internal(
    stub: Stub, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def wrong(self: Commands, command: str, arguments: Any) -> object:
        return [{"id": 42}]

    monkeypatch.setattr(Commands, "execute", wrong)
    error = await refused(stub.QueryJobs(service_pb2.QueryJobsRequest()))
    assert error.code() == grpc.StatusCode.INTERNAL
    assert error_info(error).reason == "INTERNAL_ERROR"


async def test_a_command_without_implementation_is_unimplemented(
    stub: Stub, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def unknown(self: Commands, command: str, arguments: Any) -> object:
        raise UnknownCommand(command)

    monkeypatch.setattr(Commands, "execute", unknown)
    error = await refused(stub.JobPause(service_pb2.JobPauseRequest(id="j")))
    assert_refused(
        error,
        grpc.StatusCode.UNIMPLEMENTED,
        "The command job-pause has not been found",
        "COMMAND_NOT_FOUND",
        {"command": "job-pause"},
    )


async def test_commands_cover_every_job_command(server: JobsServer) -> None:
    commands = Commands(server.manager)
    assert {"job-pause", "transaction", "drive-mirror", "query-block-jobs"} <= commands.names
    with pytest.raises(UnknownCommand):
        await commands.execute("no-such-command", {})


async def test_new_jobs_are_unavailable_once_shutting_down(
    stub: Stub, server: JobsServer, data_dir: Path
) -> None:
    make_dense(data_dir / "disk.img", MIB)
    await server.manager.shutdown()
    request = decode_arguments(
        service_pb2.DriveBackupRequest, {"device": "disk.img", "target": "c.img", "sync": "full"}
    )
    error = await refused(stub.DriveBackup(request))
    assert_refused(
        error, grpc.StatusCode.UNAVAILABLE, "The job manager is shutting down", "SHUTTING_DOWN"
    )


# ------------------------------------------------------------------ limits and logs


async def test_max_request_size(config: ServerConfig) -> None:
    limits = replace(config.limits, max_request_size=1024)
    async with (
        await build_server(replace(config, limits=limits)) as small,
        grpc.aio.insecure_channel(small.address) as channel,
    ):
        stub = service_pb2_grpc.JobsServiceStub(channel)
        error = await refused(stub.JobPause(service_pb2.JobPauseRequest(id="x" * 2048)))
        assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        error = await refused(stub.JobPause(service_pb2.JobPauseRequest(id="x" * 512)))
        assert error.code() == grpc.StatusCode.NOT_FOUND


async def test_refusals_are_logged_with_context(
    stub: Stub, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="qapi_jobs.server.grpc"):
        await refused(stub.JobPause(service_pb2.JobPauseRequest(id="ghost")))
    (record,) = [r for r in caplog.records if r.name.startswith("qapi_jobs.server.grpc")]
    assert vars(record)["rpc"] == "JobPause"
    assert vars(record)["code"] == "NOT_FOUND"
    assert vars(record)["reason"] == "JOB_NOT_FOUND"
    assert vars(record)["job_id"] == "ghost"


async def test_job_events_are_logged_at_debug(
    config: ServerConfig, data_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger=EVENTS_LOGGER)
    async with (
        await build_server(config) as debug_server,
        grpc.aio.insecure_channel(debug_server.address) as channel,
    ):
        stub = service_pb2_grpc.JobsServiceStub(channel)
        options = {"driver": "raw", "filename": "n.img", "size": MIB}
        await stub.BlockdevCreate(
            decode_arguments(
                service_pb2.BlockdevCreateRequest, {"job-id": "c1", "options": options}
            )
        )
    logged = [
        (vars(r)["job_id"], json.loads(r.getMessage().split(" ", 1)[1])["status"])
        for r in caplog.records
        if r.name == EVENTS_LOGGER and vars(r).get("event") == "JOB_STATUS_CHANGE"
    ]
    assert logged[0] == ("c1", "created")
    assert ("c1", "null") in logged


def make_record(**extra: Any) -> logging.LogRecord:
    record = logging.makeLogRecord(
        {"name": "qapi_jobs.test", "levelno": logging.INFO, "levelname": "INFO", "msg": "hello %s"}
    )
    record.args = ("world",)
    for key, value in extra.items():
        setattr(record, key, value)
    return record


def test_json_log_lines() -> None:
    line = JsonFormatter().format(make_record(rpc="JobPause", code="NOT_FOUND"))
    entry = json.loads(line)
    assert "\n" not in line
    assert (entry["level"], entry["logger"], entry["message"]) == (
        "info",
        "qapi_jobs.test",
        "hello world",
    )
    assert (entry["rpc"], entry["code"]) == ("JobPause", "NOT_FOUND")
    assert entry["time"].endswith("+00:00")


def test_json_log_lines_carry_the_traceback() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = make_record()
        record.exc_info = sys.exc_info()
    entry = json.loads(JsonFormatter().format(record))
    assert "ValueError: boom" in entry["exception"]


def test_text_log_lines() -> None:
    line = TextFormatter().format(make_record(rpc="JobPause"))
    assert line.endswith("INFO qapi_jobs.test: hello world [rpc=JobPause]")


def test_configure_logging_writes_json_to_the_stream() -> None:
    stream = io.StringIO()
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        configure_logging("json", "warning", stream)
        logging.getLogger("qapi_jobs.test").info("dropped")
        logging.getLogger("qapi_jobs.test").warning("kept", extra={"job_id": "j1"})
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
    (line,) = stream.getvalue().splitlines()
    assert json.loads(line)["job_id"] == "j1"


# ------------------------------------------------------------------ configuration


@pytest.mark.parametrize(
    "listen",
    [("nohost",), ("127.0.0.1:port",), ("::1:50051",), ("127.0.0.1:70000",), ()],
)
def test_bad_listen_addresses(data_dir: Path, listen: tuple[str, ...]) -> None:
    with pytest.raises(ConfigError):
        ServerConfig(data_dir=data_dir, listen=listen)


def test_bound_addresses() -> None:
    assert bound_address("127.0.0.1:0", 4321) == "127.0.0.1:4321"
    assert bound_address("[::1]:0", 4321) == "[::1]:4321"
    assert bound_address("unix:/tmp/s.sock", 1) == "unix:/tmp/s.sock"


def test_require_client_auth_needs_a_ca(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="client CA"):
        TlsConfig(cert=tmp_path / "c", key=tmp_path / "k", require_client_auth=True)


def test_engines(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown engine 'qemu'"):
        make_engine(ServerConfig(data_dir=tmp_path, engine="qemu"))  # see make_qemu_backend
    with pytest.raises(ConfigError, match="is not a directory"):
        make_engine(ServerConfig(data_dir=tmp_path / "missing"))


async def test_unreadable_tls_files(config: ServerConfig, tmp_path: Path) -> None:
    (tmp_path / "not-pem").write_text("hello")
    tls = TlsConfig(cert=tmp_path / "not-pem", key=tmp_path / "missing.key")
    with pytest.raises(ConfigError, match="cannot read the TLS key"):
        await build_server(replace(config, tls=tls))
    tls = TlsConfig(cert=tmp_path / "not-pem", key=tmp_path / "not-pem")
    with pytest.raises(ConfigError, match="not in PEM format"):
        await build_server(replace(config, tls=tls))


async def test_a_busy_port_is_refused(
    server: JobsServer, config: ServerConfig, tmp_path: Path
) -> None:
    other = tmp_path / "other"  # a data directory of its own: each has one server
    other.mkdir()
    with pytest.raises(ListenError, match="cannot listen on"):
        await build_server(replace(config, listen=(server.address,), data_dir=other))


def ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not ipv6_loopback(), reason="no IPv6 loopback")
async def test_listening_on_several_addresses(config: ServerConfig) -> None:
    async with await build_server(replace(config, listen=("127.0.0.1:0", "[::1]:0"))) as both:
        assert len(both.ports) == 2
        assert both.addresses[1] == f"[::1]:{both.ports[1]}"
        for address in both.addresses:
            async with grpc.aio.insecure_channel(address) as channel:
                stub = service_pb2_grpc.JobsServiceStub(channel)
                assert list((await stub.QueryJobs(service_pb2.QueryJobsRequest())).result) == []


async def test_listening_on_a_unix_socket(config: ServerConfig, tmp_path: Path) -> None:
    address = f"unix:{tmp_path}/jobs.sock"
    async with await build_server(replace(config, listen=(address,))) as local:
        assert (local.addresses, local.ports) == ((address,), ())
        async with grpc.aio.insecure_channel(address) as channel:
            stub = service_pb2_grpc.JobsServiceStub(channel)
            assert list((await stub.QueryJobs(service_pb2.QueryJobsRequest())).result) == []


def test_channel_options_suit_idle_watch_streams(config: ServerConfig) -> None:
    limits = replace(config.limits, max_request_size=4321)
    options = dict(grpc_options(replace(config, max_message_size=1234, limits=limits)))
    assert options["grpc.max_receive_message_length"] == 4321
    assert options["grpc.max_send_message_length"] == 1234
    assert options["grpc.keepalive_permit_without_calls"] == 1
    assert options["grpc.http2.max_pings_without_data"] == 0
    assert options["grpc.http2.min_recv_ping_interval_without_data_ms"] <= 10_000
    assert options["grpc.so_reuseport"] == 0
