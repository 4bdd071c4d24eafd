"""Structs: scalars, optional members, enums, integer ranges, type errors."""

from __future__ import annotations

import math
from types import ModuleType
from typing import Any

import pytest

from qapi_jobs.transcoder import TranscodeError, message_to_qmp, qmp_to_message

JOB = {
    "id": "job0",
    "type": "create",
    "status": "null",
    "current-progress": 2**62,
    "total-progress": 0,
}

SCALARS: dict[str, Any] = {
    "i8": -128,
    "i16": 32767,
    "i32": -(2**31),
    "i64": -(2**63),
    "u8": 255,
    "u16": 65535,
    "u32": 2**32 - 1,
    "u64": 2**64 - 1,
    "sz": 2**64 - 1,
    "num": 1.5,
    "flag": True,
    "text": "héllo \u2603",
    "endian": "big",
}


def test_job_info_round_trip(pb: ModuleType) -> None:
    message = qmp_to_message(JOB, pb.JobInfo)
    assert message.id == "job0"
    assert message.type == pb.JOB_TYPE_CREATE
    assert message.status == pb.JOB_STATUS_NULL
    assert message.current_progress == 2**62
    assert not message.HasField("error")
    out = message_to_qmp(message)
    assert out == JOB
    assert type(out["current-progress"]) is int  # 64-bit ints stay JSON numbers


def test_optional_string_present(pb: ModuleType) -> None:
    value = {**JOB, "error": "disk full"}
    message = qmp_to_message(value, pb.JobInfo)
    assert message.error == "disk full"
    assert message_to_qmp(message) == value


def test_descriptor_target(pb: ModuleType) -> None:
    message = qmp_to_message(JOB, pb.JobInfo.DESCRIPTOR)
    assert isinstance(message, pb.JobInfo)
    assert message_to_qmp(message) == JOB


def test_unknown_members_are_ignored_on_decode(pb: ModuleType) -> None:
    message = qmp_to_message({**JOB, "x-future": {"a": 1}, "later": [1]}, pb.JobInfo)
    assert message_to_qmp(message) == JOB


def test_scalars_round_trip(pb: ModuleType) -> None:
    message = qmp_to_message(SCALARS, pb.Scalars)
    assert message.endian == pb.ENDIAN_MODE_BIG
    for name in ("opt_u8", "opt_str", "opt_bool", "opt_num", "opt_endian", "opt_job"):
        assert not message.HasField(name)
    assert message_to_qmp(message) == SCALARS


def test_optional_members_with_default_values_stay_present(pb: ModuleType) -> None:
    value = {
        **SCALARS,
        "opt-u8": 0,
        "opt-str": "",
        "opt-bool": False,
        "opt-num": 0.0,
        "opt-endian": "unspecified",
        "opt-job": {**JOB, "current-progress": 0},
    }
    message = qmp_to_message(value, pb.Scalars)
    for name in ("opt_u8", "opt_str", "opt_bool", "opt_num", "opt_endian", "opt_job"):
        assert message.HasField(name)
    assert message_to_qmp(message) == value


def test_enum_value_named_unspecified_uses_its_wire_name(pb: ModuleType) -> None:
    message = qmp_to_message({**SCALARS, "endian": "unspecified"}, pb.Scalars)
    assert message.endian == pb.ENDIAN_MODE_UNSPECIFIED_VALUE
    assert message_to_qmp(message)["endian"] == "unspecified"


@pytest.mark.parametrize("wire", ["UNSPECIFIED_VALUE", "ENDIAN_MODE_BIG", "Big", ""])
def test_proto_enum_names_are_not_wire_names(pb: ModuleType, wire: str) -> None:
    with pytest.raises(TranscodeError) as caught:
        qmp_to_message({**SCALARS, "endian": wire}, pb.Scalars)
    assert caught.value.path == "$.endian"
    assert "is not a value of EndianMode" in caught.value.message


def test_required_enum_left_unspecified_fails_encode(pb: ModuleType) -> None:
    message = qmp_to_message(SCALARS, pb.Scalars)
    message.endian = pb.ENDIAN_MODE_UNSPECIFIED
    with pytest.raises(TranscodeError) as caught:
        message_to_qmp(message)
    assert str(caught.value) == "$.endian: required member is not set (EndianMode is unspecified)"


def test_optional_enum_set_to_unspecified_fails_encode(pb: ModuleType) -> None:
    message = qmp_to_message(SCALARS, pb.Scalars)
    message.opt_endian = pb.ENDIAN_MODE_UNSPECIFIED
    with pytest.raises(TranscodeError, match=r"EndianMode value is unspecified") as caught:
        message_to_qmp(message)
    assert caught.value.path == "$.opt-endian"


def test_unknown_enum_number_fails_encode(pb: ModuleType) -> None:
    message = qmp_to_message(JOB, pb.JobInfo)
    message.status = 99  # proto3 enums are open
    with pytest.raises(TranscodeError, match="unknown number 99") as caught:
        message_to_qmp(message)
    assert caught.value.path == "$.status"


RANGES = [
    ("i8", -(2**7), 2**7 - 1, "int8"),
    ("i16", -(2**15), 2**15 - 1, "int16"),
    ("i32", -(2**31), 2**31 - 1, "int32"),
    ("i64", -(2**63), 2**63 - 1, "int"),
    ("u8", 0, 2**8 - 1, "uint8"),
    ("u16", 0, 2**16 - 1, "uint16"),
    ("u32", 0, 2**32 - 1, "uint32"),
    ("u64", 0, 2**64 - 1, "uint64"),
    ("sz", 0, 2**64 - 1, "size"),
]


@pytest.mark.parametrize(("member", "low", "high", "qapi_type"), RANGES)
def test_integer_range_limits_decode(
    pb: ModuleType, member: str, low: int, high: int, qapi_type: str
) -> None:
    for good in (low, high):
        message = qmp_to_message({**SCALARS, member: good}, pb.Scalars)
        assert message_to_qmp(message)[member] == good
    for bad in (low - 1, high + 1):
        with pytest.raises(TranscodeError) as caught:
            qmp_to_message({**SCALARS, member: bad}, pb.Scalars)
        assert str(caught.value) == f"$.{member}: {bad} is out of range for {qapi_type}"


@pytest.mark.parametrize(
    ("attr", "member", "bad", "qapi_type"),
    [
        ("i8", "i8", 128, "int8"),
        ("i16", "i16", -32769, "int16"),
        ("u8", "u8", 256, "uint8"),
        ("u16", "u16", 65536, "uint16"),
        ("opt_u8", "opt-u8", 1000, "uint8"),
    ],
)
def test_integer_range_checked_on_encode(
    pb: ModuleType, attr: str, member: str, bad: int, qapi_type: str
) -> None:
    message = qmp_to_message(SCALARS, pb.Scalars)
    setattr(message, attr, bad)  # the proto type is wider than the QAPI type
    with pytest.raises(TranscodeError) as caught:
        message_to_qmp(message)
    assert str(caught.value) == f"$.{member}: {bad} is out of range for {qapi_type}"


@pytest.mark.parametrize(
    ("member", "value", "expected"),
    [
        ("text", 5, "expected string, got integer"),
        ("text", None, "expected string, got null"),
        ("i8", "5", "expected integer (int8), got string"),
        ("i8", True, "expected integer (int8), got boolean"),
        ("i64", 1.0, "expected integer (int), got number"),
        ("u64", [1], "expected integer (uint64), got array"),
        ("num", False, "expected number, got boolean"),
        ("num", "1.5", "expected number, got string"),
        ("flag", 1, "expected boolean, got integer"),
        ("flag", "true", "expected boolean, got string"),
        ("endian", 2, "expected string (EndianMode), got integer"),
        ("opt-job", [], "expected object, got array"),
        ("opt-str", None, "expected string, got null"),
    ],
)
def test_wrong_json_types(pb: ModuleType, member: str, value: Any, expected: str) -> None:
    with pytest.raises(TranscodeError) as caught:
        qmp_to_message({**SCALARS, member: value}, pb.Scalars)
    assert caught.value.path == f"$.{member}"
    assert caught.value.message == expected


def test_number_accepts_json_integers(pb: ModuleType) -> None:
    message = qmp_to_message({**SCALARS, "num": 3}, pb.Scalars)
    out = message_to_qmp(message)["num"]
    assert out == 3.0
    assert isinstance(out, float)


@pytest.mark.parametrize("bad", [math.inf, -math.inf, math.nan, 10**400])
def test_non_finite_or_huge_numbers_rejected(pb: ModuleType, bad: float) -> None:
    with pytest.raises(TranscodeError) as caught:
        qmp_to_message({**SCALARS, "num": bad}, pb.Scalars)
    assert caught.value.path == "$.num"


def test_non_finite_double_fails_encode(pb: ModuleType) -> None:
    message = qmp_to_message(SCALARS, pb.Scalars)
    message.opt_num = math.inf
    with pytest.raises(TranscodeError, match="not a finite number") as caught:
        message_to_qmp(message)
    assert caught.value.path == "$.opt-num"


def test_missing_required_member(pb: ModuleType) -> None:
    value = dict(JOB)
    del value["status"]
    with pytest.raises(TranscodeError) as caught:
        qmp_to_message(value, pb.JobInfo)
    assert str(caught.value) == "$.status: required member is missing"


def test_missing_required_member_nested(pb: ModuleType) -> None:
    job = dict(JOB)
    del job["id"]
    with pytest.raises(TranscodeError) as caught:
        qmp_to_message({**SCALARS, "opt-job": job}, pb.Scalars)
    assert caught.value.path == "$.opt-job.id"
    assert caught.value.segments == ("opt-job", "id")


def test_not_an_object(pb: ModuleType) -> None:
    with pytest.raises(TranscodeError) as caught:
        qmp_to_message(["id"], pb.JobInfo)
    assert str(caught.value) == "$: expected object, got array"


def test_string_that_is_not_utf8_encodable(pb: ModuleType) -> None:
    with pytest.raises(TranscodeError) as caught:
        qmp_to_message({**JOB, "id": "bad \ud800 surrogate"}, pb.JobInfo)
    assert caught.value.path == "$.id"


def test_required_string_may_be_empty(pb: ModuleType) -> None:
    # Proto3 cannot tell an unset required string from "", and QMP can send "".
    message = pb.JobInfo(type=pb.JOB_TYPE_STREAM, status=pb.JOB_STATUS_CREATED)
    assert message_to_qmp(message) == {
        "id": "",
        "type": "stream",
        "status": "created",
        "current-progress": 0,
        "total-progress": 0,
    }


def test_required_message_member_unset_fails_encode(pb: ModuleType) -> None:
    message = pb.Alternates()
    with pytest.raises(TranscodeError) as caught:
        message_to_qmp(message)
    assert str(caught.value) == "$.ref: required member is not set"


def test_message_without_qapi_options(pb: ModuleType) -> None:
    # Fields use protoc's default JSON names and are all optional, as in proto3.
    message = qmp_to_message({"instanceId": "i", "tags": ["t"]}, pb.Plain)
    assert message.instance_id == "i"
    assert not message.HasField("count")
    assert message_to_qmp(message) == {"instanceId": "i", "tags": ["t"]}
    full = {"instanceId": "", "count": 0, "tags": [], "when": {"seconds": 5, "nanos": 7}}
    assert message_to_qmp(qmp_to_message(full, pb.Plain)) == {
        "instanceId": "",
        "count": 0,
        "when": {"seconds": 5, "nanos": 7},
    }
