"""add_to_server: the identity-serialised handlers still look like WatchService from outside."""

from __future__ import annotations

from typing import Any

import grpc
from google.protobuf import descriptor_pb2
from grpc_reflection.v1alpha import reflection, reflection_pb2, reflection_pb2_grpc

from qapi_jobs.server.grpc.watch import SERVICE_NAME
from qapi_jobs.v1 import watch_pb2
from tests.support.watch_rig import open_rig, publish_noise, read_events


def _enable_reflection(server: grpc.aio.Server) -> None:
    reflection.enable_server_reflection((SERVICE_NAME, reflection.SERVICE_NAME), server)


async def test_reflection_describes_watch_service() -> None:
    rig = await open_rig(server_setup=_enable_reflection)
    try:
        # The reflection stubs are typed for sync channels only.
        stub: Any = reflection_pb2_grpc.ServerReflectionStub(rig.channel)  # type: ignore[arg-type]
        requests = [
            reflection_pb2.ServerReflectionRequest(list_services=""),
            reflection_pb2.ServerReflectionRequest(file_containing_symbol=SERVICE_NAME),
        ]
        listing, files = [response async for response in stub.ServerReflectionInfo(iter(requests))]
        names = {service.name for service in listing.list_services_response.service}
        assert SERVICE_NAME in names
        described = [
            descriptor_pb2.FileDescriptorProto.FromString(raw)
            for raw in files.file_descriptor_response.file_descriptor_proto
        ]
        (watch_file,) = [f for f in described if f.name == "qapi_jobs/v1/watch.proto"]
        (service,) = watch_file.service
        assert [method.name for method in service.method] == ["WatchEvents", "WatchJobs"]
    finally:
        await rig.close()


async def test_generated_client_decodes_the_shared_bytes() -> None:
    rig = await open_rig()
    try:
        publish_noise(rig.manager, 2)
        call = rig.watch.WatchEvents(watch_pb2.WatchEventsRequest(after_sequence=0))
        messages = await read_events(call, 2)
        assert [m.event.event.job_status_change.id for m in messages] == ["noise", "noise"]
        assert SERVICE_NAME == "qapi_jobs.v1.WatchService"
        call.cancel()
    finally:
        await rig.close()
