"""What meshes and generic tools rely on: health, reflection, TLS and mutual TLS."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from qapi_jobs.server.grpc.app import JobsServer, build_server
from qapi_jobs.server.grpc.config import ServerConfig, TlsConfig
from qapi_jobs.v1 import service_pb2, service_pb2_grpc
from tests.support.images import MIB, make_dense
from tests.support.pki import Pki
from tests.support.timeouts import GUARD_TIMEOUT

JOBS = "qapi_jobs.v1.JobsService"
WATCH = "qapi_jobs.v1.WatchService"
HEALTH = "grpc.health.v1.Health"
REFLECTION = "grpc.reflection.v1alpha.ServerReflection"
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


# ------------------------------------------------------------------ health


async def test_health_check(channel: grpc.aio.Channel) -> None:
    health: Any = health_pb2_grpc.HealthStub(channel)  # typed for sync channels only
    for service in ("", JOBS, WATCH):
        response = await health.Check(health_pb2.HealthCheckRequest(service=service))
        assert response.status == SERVING, service
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await health.Check(health_pb2.HealthCheckRequest(service="no.such.Service"))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


async def test_health_watch_sees_not_serving_when_the_server_stops(
    server: JobsServer, channel: grpc.aio.Channel
) -> None:
    health: Any = health_pb2_grpc.HealthStub(channel)  # typed for sync channels only
    call = health.Watch(health_pb2.HealthCheckRequest(service=JOBS))
    async with asyncio.timeout(GUARD_TIMEOUT):
        first = await call.read()
        assert isinstance(first, health_pb2.HealthCheckResponse)
        assert first.status == SERVING
        stopping = asyncio.create_task(server.stop(grace=0.5))
        second = await call.read()
        assert isinstance(second, health_pb2.HealthCheckResponse)
        assert second.status == NOT_SERVING
        await stopping
    call.cancel()


# ------------------------------------------------------------------ reflection


def reflection_stub(channel: grpc.aio.Channel) -> Any:
    """The reflection stub on an aio channel (its type stubs know only sync channels)."""
    return reflection_pb2_grpc.ServerReflectionStub(channel)  # type: ignore[arg-type]


async def reflect(stub: Any, request: reflection_pb2.ServerReflectionRequest) -> Any:
    call = stub.ServerReflectionInfo()
    await call.write(request)
    await call.done_writing()
    response = await call.read()
    assert isinstance(response, reflection_pb2.ServerReflectionResponse)
    return response


async def test_reflection_lists_every_service(channel: grpc.aio.Channel) -> None:
    stub = reflection_stub(channel)
    response = await reflect(stub, reflection_pb2.ServerReflectionRequest(list_services=""))
    names = {service.name for service in response.list_services_response.service}
    assert names == {JOBS, WATCH, HEALTH, REFLECTION}


def pool_from(serialized_files: list[bytes]) -> descriptor_pool.DescriptorPool:
    """A fresh pool holding the files, added dependencies first."""
    files = [descriptor_pb2.FileDescriptorProto.FromString(data) for data in serialized_files]
    pool = descriptor_pool.DescriptorPool()
    added: set[str] = set()
    while len(added) < len(files):
        ready = [f for f in files if f.name not in added and set(f.dependency) <= added]
        assert ready, "reflection answered with files whose dependencies are missing"
        for file_proto in ready:
            pool.Add(file_proto)
            added.add(file_proto.name)
    return pool


async def test_call_through_reflection_alone(channel: grpc.aio.Channel, data_dir: Path) -> None:
    stub = reflection_stub(channel)
    response = await reflect(
        stub, reflection_pb2.ServerReflectionRequest(file_containing_symbol=JOBS)
    )
    pool = pool_from(list(response.file_descriptor_response.file_descriptor_proto))
    service = pool.FindServiceByName(JOBS)
    assert {"QueryJobs", "DriveBackup", "Transaction", "StreamEvents"} <= {
        method.name for method in service.methods
    }

    def rpc(name: str) -> grpc.aio.UnaryUnaryMultiCallable[Any, Any]:
        method = service.methods_by_name[name]
        request_type = message_factory.GetMessageClass(method.input_type)
        response_type = message_factory.GetMessageClass(method.output_type)
        assert request_type is not getattr(service_pb2, f"{name}Request")
        return channel.unary_unary(
            f"/{JOBS}/{name}",
            request_serializer=request_type.SerializeToString,
            response_deserializer=response_type.FromString,
        )

    def message(name: str, **fields: Any) -> Any:
        method = service.methods_by_name[name]
        return message_factory.GetMessageClass(method.input_type)(**fields)

    make_dense(data_dir / "disk.img", MIB)
    create = message("BlockdevCreate", job_id="c1")
    create.options.driver = (
        pool.FindEnumTypeByName("qapi_jobs.v1.ImageDriver")
        .values_by_name["IMAGE_DRIVER_RAW"]
        .number
    )
    create.options.raw.filename = "new.img"
    create.options.raw.size = MIB
    await rpc("BlockdevCreate")(create)

    listed = await rpc("QueryJobs")(message("QueryJobs"))
    assert [job.id for job in listed.result] == ["c1"]
    assert listed.result[0].total_progress == MIB

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await rpc("JobPause")(message("JobPause", id="ghost"))
    assert (caught.value.code(), caught.value.details()) == (
        grpc.StatusCode.NOT_FOUND,
        "Job not found",
    )


# ------------------------------------------------------------------ TLS


@pytest.fixture
async def tls_server(config: ServerConfig, pki: Pki) -> AsyncIterator[JobsServer]:
    tls = TlsConfig(cert=pki.server_cert, key=pki.server_key)
    async with await build_server(replace(config, tls=tls)) as running:
        yield running


@pytest.fixture
async def mtls_server(config: ServerConfig, pki: Pki) -> AsyncIterator[JobsServer]:
    tls = TlsConfig(
        cert=pki.server_cert, key=pki.server_key, client_ca=pki.ca, require_client_auth=True
    )
    async with await build_server(replace(config, tls=tls)) as running:
        yield running


async def query(channel: grpc.aio.Channel) -> service_pb2.QueryJobsResponse:
    stub = service_pb2_grpc.JobsServiceStub(channel)
    return await stub.QueryJobs(service_pb2.QueryJobsRequest(), timeout=GUARD_TIMEOUT)


async def test_tls(tls_server: JobsServer, pki: Pki) -> None:
    credentials = grpc.ssl_channel_credentials(root_certificates=pki.read(pki.ca))
    async with grpc.aio.secure_channel(tls_server.address, credentials) as channel:
        assert list((await query(channel)).result) == []
    async with grpc.aio.insecure_channel(tls_server.address) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await query(channel)
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_tls_client_refuses_a_server_from_another_ca(
    tls_server: JobsServer, pki: Pki
) -> None:
    # The client trusts only the client certificate as a root: the server's chain fails.
    credentials = grpc.ssl_channel_credentials(root_certificates=pki.read(pki.client_cert))
    async with grpc.aio.secure_channel(tls_server.address, credentials) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await query(channel)
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_mutual_tls(mtls_server: JobsServer, pki: Pki) -> None:
    with_cert = grpc.ssl_channel_credentials(
        root_certificates=pki.read(pki.ca),
        private_key=pki.read(pki.client_key),
        certificate_chain=pki.read(pki.client_cert),
    )
    async with grpc.aio.secure_channel(mtls_server.address, with_cert) as channel:
        assert list((await query(channel)).result) == []

    without_cert = grpc.ssl_channel_credentials(root_certificates=pki.read(pki.ca))
    async with grpc.aio.secure_channel(mtls_server.address, without_cert) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await query(channel)
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
