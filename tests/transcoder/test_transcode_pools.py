"""Plans come from each descriptor's own pool, whichever type is planned first."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from google.protobuf import (
    descriptor_pb2,
    descriptor_pool,
    message_factory,
    struct_pb2,
    timestamp_pb2,
)
from google.protobuf.descriptor import FileDescriptor

from qapi_jobs.transcoder import message_to_qmp, qmp_to_message
from qapi_jobs.transcoder.descriptors import plan_for


def _file_proto(file: FileDescriptor) -> descriptor_pb2.FileDescriptorProto:
    proto = descriptor_pb2.FileDescriptorProto()
    proto.ParseFromString(file.serialized_pb)
    return proto


@pytest.fixture
def fresh_pool(pb: ModuleType) -> descriptor_pool.DescriptorPool:
    """A new pool holding the test file, so no plan of it is cached yet."""
    pool = descriptor_pool.DescriptorPool()
    options_file = pb.DESCRIPTOR.dependencies[2]
    assert options_file.name == "qapi_jobs/qapi/v1/options.proto"
    for file in (
        descriptor_pb2.DESCRIPTOR,
        struct_pb2.DESCRIPTOR,
        timestamp_pb2.DESCRIPTOR,
        options_file,
        pb.DESCRIPTOR,
    ):
        pool.Add(_file_proto(file))
    return pool


def test_recursion_planned_from_the_wrapper_first(
    fresh_pool: descriptor_pool.DescriptorPool,
) -> None:
    wrapper = fresh_pool.FindMessageTypeByName("transcodetest.v1.TreeNodeList")
    value = [{"name": "a", "children": [{"name": "b", "children": []}]}, {"name": "c"}]
    message = qmp_to_message(value, wrapper)
    assert message_to_qmp(message) == value


def test_options_read_from_another_pool(fresh_pool: descriptor_pool.DescriptorPool) -> None:
    descriptor = fresh_pool.FindMessageTypeByName("transcodetest.v1.MigrationAddress")
    cls = message_factory.GetMessageClass(descriptor)
    value = {"transport": "socket", "type": "unix", "path": "/run/sock"}
    message: Any = qmp_to_message(value, cls)
    assert message.socket.unix.path == "/run/sock"
    assert message_to_qmp(message) == value


def test_plans_are_cached_per_descriptor(
    pb: ModuleType, fresh_pool: descriptor_pool.DescriptorPool
) -> None:
    assert plan_for(pb.JobInfo.DESCRIPTOR) is plan_for(pb.JobInfo.DESCRIPTOR)
    other = fresh_pool.FindMessageTypeByName("transcodetest.v1.JobInfo")
    assert plan_for(other) is not plan_for(pb.JobInfo.DESCRIPTOR)


_REFLECTION_CLIENT = """
import json, sys
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from qapi_jobs.transcoder import message_to_qmp, qmp_to_message

files = descriptor_pb2.FileDescriptorSet.FromString(open(sys.argv[1], "rb").read())
pool = descriptor_pool.DescriptorPool()
for file in files.file:
    pool.Add(file)
assert "qapi_jobs.qapi.v1.options_pb2" not in sys.modules
cls = message_factory.GetMessageClass(pool.FindMessageTypeByName("transcodetest.v1.ImageCreate"))
value = json.loads(sys.argv[2])
message = qmp_to_message(value, cls)
print(json.dumps([message_to_qmp(message), message.WhichOneof("driver_branch")]))
"""


def test_private_pool_without_generated_options_module(pb: ModuleType, tmp_path: Path) -> None:
    # Like a client that got its descriptors by server reflection: the
    # options file was never imported as a module into the default pool.
    files = descriptor_pb2.FileDescriptorSet()
    options_file = pb.DESCRIPTOR.dependencies[2]
    for file in (
        descriptor_pb2.DESCRIPTOR,
        struct_pb2.DESCRIPTOR,
        timestamp_pb2.DESCRIPTOR,
        options_file,
        pb.DESCRIPTOR,
    ):
        files.file.append(_file_proto(file))
    path = tmp_path / "files.binpb"
    path.write_bytes(files.SerializeToString())
    value = {"driver": "qcow2", "filename": "a.qcow2", "size": 1024, "backing": "base"}
    result = subprocess.run(
        [sys.executable, "-c", _REFLECTION_CLIENT, str(path), json.dumps(value)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [value, "qcow2"]
