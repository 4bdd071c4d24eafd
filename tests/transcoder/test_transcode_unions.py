"""Unions: flat wire shape, nested unions, empty branches, consistency checks."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest

from qapi_jobs.transcoder import (
    TranscodeError,
    decode_arguments,
    encode_arguments,
    message_to_qmp,
    qmp_to_message,
)

RAW = {"driver": "raw", "node-name": "n0", "filename": "disk.img", "size": 1 << 30}
QCOW2 = {
    "driver": "qcow2",
    "filename": "top.qcow2",
    "size": 10 << 30,
    "cluster-size": 65536,
    "backing": {"driver": "raw", "filename": "base.img", "size": 512},
    "encrypt": False,
}


@pytest.mark.parametrize(
    ("value", "branch"),
    [
        (RAW, "raw"),
        (QCOW2, "qcow2"),
        ({**QCOW2, "backing": "node-ref"}, "qcow2"),
        ({"driver": "qcow2", "filename": "f", "size": 0}, "qcow2"),
        ({"driver": "file"}, None),
        ({"driver": "file", "node-name": "x"}, None),
        ({"driver": "null-co", "size": 7}, "null_co"),
    ],
)
def test_union_round_trip(pb: ModuleType, value: dict[str, Any], branch: str | None) -> None:
    message = qmp_to_message(value, pb.ImageCreate)
    assert message.WhichOneof("driver_branch") == branch
    assert message_to_qmp(message) == value


def test_branch_members_live_in_the_branch_message(pb: ModuleType) -> None:
    message = qmp_to_message(QCOW2, pb.ImageCreate)
    assert message.driver == pb.IMAGE_DRIVER_QCOW2
    assert message.qcow2.filename == "top.qcow2"
    assert message.qcow2.cluster_size == 65536
    assert message.qcow2.backing.definition.raw.size == 512
    assert message.qcow2.HasField("encrypt")


def test_branch_with_only_optional_members(pb: ModuleType) -> None:
    message = qmp_to_message({"driver": "null-co"}, pb.ImageCreate)
    assert message.WhichOneof("driver_branch") == "null_co"
    assert message_to_qmp(message) == {"driver": "null-co"}
    # An unset branch whose members are all optional encodes the same way.
    assert message_to_qmp(pb.ImageCreate(driver=pb.IMAGE_DRIVER_NULL_CO)) == {"driver": "null-co"}


def test_missing_branch_member_path_is_flat(pb: ModuleType) -> None:
    with pytest.raises(TranscodeError) as caught:
        qmp_to_message({"driver": "raw", "filename": "x"}, pb.ImageCreate)
    assert str(caught.value) == "$.size: required member is missing"


def test_nested_error_inside_alternate_inside_union(pb: ModuleType) -> None:
    value = {**QCOW2, "backing": {"driver": "raw", "filename": "b", "size": -1}}
    with pytest.raises(TranscodeError) as caught:
        qmp_to_message(value, pb.ImageCreate)
    assert str(caught.value) == "$.backing.size: -1 is out of range for size"


def test_unknown_discriminator_value(pb: ModuleType) -> None:
    with pytest.raises(TranscodeError) as caught:
        qmp_to_message({"driver": "vmdk", "filename": "x"}, pb.ImageCreate)
    assert str(caught.value) == "$.driver: 'vmdk' is not a value of ImageDriver"


def test_missing_discriminator(pb: ModuleType) -> None:
    with pytest.raises(TranscodeError) as caught:
        qmp_to_message({"filename": "x", "size": 1}, pb.ImageCreate)
    assert str(caught.value) == "$.driver: required member is missing"


def test_members_of_other_branches_are_ignored(pb: ModuleType) -> None:
    message = qmp_to_message({**RAW, "cluster-size": 4096}, pb.ImageCreate)
    assert message_to_qmp(message) == RAW


def test_encode_branch_contradicting_discriminator(pb: ModuleType) -> None:
    message = qmp_to_message(RAW, pb.ImageCreate)
    message.driver = pb.IMAGE_DRIVER_QCOW2
    with pytest.raises(TranscodeError) as caught:
        message_to_qmp(message)
    assert str(caught.value) == "$.driver: branch 'raw' is set but the discriminator says 'qcow2'"


def test_encode_branch_set_for_an_empty_branch(pb: ModuleType) -> None:
    message = qmp_to_message(RAW, pb.ImageCreate)
    message.driver = pb.IMAGE_DRIVER_FILE
    with pytest.raises(
        TranscodeError, match="branch 'raw' is set but the discriminator says 'file'"
    ):
        message_to_qmp(message)


def test_encode_unset_discriminator(pb: ModuleType) -> None:
    message = pb.ImageCreate()
    message.raw.filename = "x"
    with pytest.raises(TranscodeError) as caught:
        message_to_qmp(message)
    assert str(caught.value) == "$.driver: required member is not set (ImageDriver is unspecified)"


def test_encode_unset_branch_with_required_members(pb: ModuleType) -> None:
    with pytest.raises(TranscodeError) as caught:
        message_to_qmp(pb.ImageCreate(driver=pb.IMAGE_DRIVER_QCOW2))
    assert str(caught.value) == "$.driver: branch 'qcow2' is not set"
    # A nested union branch always has a required member: its discriminator.
    with pytest.raises(TranscodeError) as caught:
        message_to_qmp(pb.MigrationAddress(transport=pb.MIGRATION_ADDRESS_TYPE_SOCKET))
    assert str(caught.value) == "$.transport: branch 'socket' is not set"


@pytest.mark.parametrize(
    ("value", "path"),
    [
        ({"transport": "socket", "type": "inet", "host": "::1", "port": "4444"}, "inet"),
        ({"transport": "socket", "type": "inet", "host": "h", "port": "1", "ipv6": True}, "inet"),
        ({"transport": "socket", "type": "unix", "path": "/tmp/s", "tag": "t"}, "unix"),
        ({"transport": "socket", "type": "fd"}, None),
        ({"transport": "file", "filename": "/tmp/f", "offset": 2**64 - 1}, "file"),
        ({"transport": "exec"}, None),
        ({"transport": "exec", "tag": "only-base"}, None),
    ],
)
def test_nested_union_round_trip(pb: ModuleType, value: dict[str, Any], path: str | None) -> None:
    message = qmp_to_message(value, pb.MigrationAddress)
    if value["transport"] == "socket":
        assert message.WhichOneof("transport_branch") == "socket"
        assert message.socket.WhichOneof("type_branch") == path
    else:
        assert message.WhichOneof("transport_branch") == path
    assert message_to_qmp(message) == value


def test_nested_union_splices_recursively(pb: ModuleType) -> None:
    message = pb.MigrationAddress(transport=pb.MIGRATION_ADDRESS_TYPE_SOCKET)
    message.socket.type = pb.SOCKET_ADDRESS_TYPE_UNIX
    message.socket.unix.path = "/run/m.sock"
    assert message_to_qmp(message) == {"transport": "socket", "type": "unix", "path": "/run/m.sock"}


def test_nested_union_inner_errors(pb: ModuleType) -> None:
    with pytest.raises(TranscodeError) as caught:
        qmp_to_message({"transport": "socket", "type": "tcp"}, pb.MigrationAddress)
    assert str(caught.value) == "$.type: 'tcp' is not a value of SocketAddressType"
    message = pb.MigrationAddress(transport=pb.MIGRATION_ADDRESS_TYPE_SOCKET)
    message.socket.type = pb.SOCKET_ADDRESS_TYPE_INET
    message.socket.unix.path = "p"
    with pytest.raises(TranscodeError, match="branch 'unix' is set but the discriminator says"):
        message_to_qmp(message)


@pytest.mark.parametrize("mode", ["unspecified", "little", "big"])
def test_union_with_only_empty_branches(pb: ModuleType, mode: str) -> None:
    message = qmp_to_message({"mode": mode, "ignored": 1}, pb.EndianOnly)
    assert message_to_qmp(message) == {"mode": mode}


def test_boxed_union_command_arguments(pb: ModuleType) -> None:
    request = decode_arguments(pb.ImageAddRequest, QCOW2)
    assert request.qcow2.backing.definition.raw.filename == "base.img"
    assert encode_arguments(request) == QCOW2


def test_union_inside_a_list(pb: ModuleType) -> None:
    value = {"ref": "r", "refs": [RAW, "name", {"driver": "file"}]}
    message = qmp_to_message(value, pb.Alternates)
    assert message.refs[0].definition.raw.filename == "disk.img"
    assert message_to_qmp(message) == value
