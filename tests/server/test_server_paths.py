"""Path confinement over gRPC: no request reaches a file outside the data directory."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc
import pytest

from qapi_jobs.transcoder import decode_arguments
from qapi_jobs.v1 import service_pb2
from tests.support.errors import assert_refused, error_info
from tests.support.events import Events
from tests.support.images import MIB, make_dense

if TYPE_CHECKING:
    from qapi_jobs.v1.service_pb2_grpc import JobsServiceAsyncStub as Stub

INVALID_ARGUMENT = grpc.StatusCode.INVALID_ARGUMENT
PERMISSION_DENIED = grpc.StatusCode.PERMISSION_DENIED


@pytest.fixture
def disk(data_dir: Path) -> None:
    make_dense(data_dir / "disk.img", MIB)


def backup(device: str, target: str) -> service_pb2.DriveBackupRequest:
    arguments = {"job-id": "b1", "device": device, "target": target, "sync": "full"}
    return decode_arguments(service_pb2.DriveBackupRequest, arguments)


def create(filename: str) -> service_pb2.BlockdevCreateRequest:
    options = {"driver": "raw", "filename": filename, "size": MIB}
    return decode_arguments(service_pb2.BlockdevCreateRequest, {"job-id": "c1", "options": options})


def mirror(device: str, target: str) -> service_pb2.DriveMirrorRequest:
    arguments = {"job-id": "m1", "device": device, "target": target, "sync": "full"}
    return decode_arguments(service_pb2.DriveMirrorRequest, arguments)


def error_reason(error: grpc.aio.AioRpcError) -> str:
    return str(error_info(error).reason)


async def refused(call: Any) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    return caught.value


async def test_absolute_paths(stub: Stub, events: Events, outside: Path, disk: None) -> None:
    secret = str(outside / "secret.img")
    error = await refused(stub.DriveBackup(backup(secret, "copy.img")))
    assert_refused(
        error,
        INVALID_ARGUMENT,
        f"Image path '{secret}' is absolute; name the image relative to the data directory",
        "ABSOLUTE_IMAGE_PATH",
    )
    target = str(outside / "stolen.img")
    error = await refused(stub.DriveBackup(backup("disk.img", target)))
    assert (error.code(), error_reason(error)) == (INVALID_ARGUMENT, "ABSOLUTE_IMAGE_PATH")
    error = await refused(stub.BlockdevCreate(create(str(outside / "new.img"))))
    assert (error.code(), error_reason(error)) == (INVALID_ARGUMENT, "ABSOLUTE_IMAGE_PATH")
    assert sorted(os.listdir(outside)) == ["secret.img"]
    assert events.drain() == []


async def test_dot_dot_paths(stub: Stub, events: Events, outside: Path, disk: None) -> None:
    error = await refused(stub.DriveBackup(backup("../outside/secret.img", "copy.img")))
    assert_refused(
        error,
        INVALID_ARGUMENT,
        "Image path '../outside/secret.img' contains '..'; name the image by a path inside "
        "the data directory",
        "IMAGE_PATH_ESCAPES",
    )
    error = await refused(stub.DriveMirror(mirror("disk.img", "sub/../../outside/x.img")))
    assert (error.code(), error_reason(error)) == (INVALID_ARGUMENT, "IMAGE_PATH_ESCAPES")
    error = await refused(stub.BlockdevCreate(create("../outside/new.img")))
    assert (error.code(), error_reason(error)) == (INVALID_ARGUMENT, "IMAGE_PATH_ESCAPES")
    assert sorted(os.listdir(outside)) == ["secret.img"]
    assert events.drain() == []


async def test_symlink_escapes(
    stub: Stub, events: Events, data_dir: Path, outside: Path, disk: None
) -> None:
    (data_dir / "link.img").symlink_to(outside / "secret.img")
    (data_dir / "exit").symlink_to(outside, target_is_directory=True)
    error = await refused(stub.DriveBackup(backup("link.img", "copy.img")))
    assert_refused(
        error,
        PERMISSION_DENIED,
        "Image path 'link.img' goes through a symbolic link; image paths may not contain "
        "symbolic links: name the file by its real path inside the data directory",
        "SYMLINK_IN_IMAGE_PATH",
    )
    error = await refused(stub.DriveBackup(backup("disk.img", "exit/stolen.img")))
    assert (error.code(), error_reason(error)) == (PERMISSION_DENIED, "SYMLINK_IN_IMAGE_PATH")
    error = await refused(stub.BlockdevCreate(create("exit/new.img")))
    assert (error.code(), error_reason(error)) == (PERMISSION_DENIED, "SYMLINK_IN_IMAGE_PATH")
    assert sorted(os.listdir(outside)) == ["secret.img"]
    assert events.drain() == []


async def test_escapes_inside_a_transaction(
    stub: Stub, events: Events, outside: Path, disk: None
) -> None:
    actions = [
        {"type": "drive-backup", "data": {"device": "disk.img", "target": "a.img", "sync": "full"}},
        {
            "type": "drive-backup",
            "data": {"device": "../outside/secret.img", "target": "b.img", "sync": "full"},
        },
    ]
    request = decode_arguments(service_pb2.TransactionRequest, {"actions": actions})
    error = await refused(stub.Transaction(request))
    assert (error.code(), error_reason(error)) == (INVALID_ARGUMENT, "IMAGE_PATH_ESCAPES")
    assert events.drain() == [
        "disk.img:created",
        "disk.img:aborting",
        "disk.img:concluded",
        "disk.img:null",
    ]
