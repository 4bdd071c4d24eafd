"""Error reporting: paths, unknown fields on encode, descriptors off the mapping."""

from __future__ import annotations

from types import ModuleType

import pytest

from qapi_jobs.transcoder import DescriptorError, TranscodeError, message_to_qmp, qmp_to_message

JOB = {"id": "j", "type": "commit", "status": "running", "current-progress": 1, "total-progress": 2}


def test_error_path_formatting() -> None:
    error = TranscodeError("bad", "options", "size")
    assert error.path == "$.options.size"
    error.prepend(3).prepend("actions")
    assert error.segments == ("actions", 3, "options", "size")
    assert str(error) == "$.actions[3].options.size: bad"
    assert TranscodeError("top").path == "$"
    assert TranscodeError("x", "with space", "a.b").path == '$["with space"]["a.b"]'
    assert isinstance(error, ValueError)


def _with_unknown_field(message_bytes: bytes, number: int) -> bytes:
    # A varint field the descriptor does not know: tag (number << 3 | 0), value 1.
    tag = number << 3
    encoded = bytearray()
    while True:
        byte = tag & 0x7F
        tag >>= 7
        if tag:
            encoded.append(byte | 0x80)
        else:
            encoded.append(byte)
            break
    return message_bytes + bytes(encoded) + b"\x01"


def test_unknown_fields_fail_encode(pb: ModuleType) -> None:
    data = _with_unknown_field(qmp_to_message(JOB, pb.JobInfo).SerializeToString(), 99)
    message = pb.JobInfo.FromString(data)
    with pytest.raises(TranscodeError) as caught:
        message_to_qmp(message)
    assert str(caught.value) == ("$: transcodetest.v1.JobInfo carries unknown field number(s) 99")


def test_unknown_fields_in_nested_message_fail_encode(pb: ModuleType) -> None:
    outer = qmp_to_message(
        {"ref": "r", "refs": [], "maybe-ref": {"driver": "raw", "filename": "f", "size": 1}},
        pb.Alternates,
    )
    outer.maybe_ref.definition.raw.MergeFromString(_with_unknown_field(b"", 42))
    with pytest.raises(TranscodeError, match="unknown field number") as caught:
        message_to_qmp(outer)
    assert caught.value.path == "$.maybe-ref"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("MissingDiscriminator", "discriminator 'kind' is not an enum member"),
        ("StringDiscriminator", "discriminator 'kind' is not an enum member"),
        ("StrayBranch", "branch 'blue' is not a value of Colour"),
        ("AmbiguousAlternate", "branches 'text' and 'colour' both take a JSON string"),
        ("UnknownMeta", "unknown QAPI meta 'widget'"),
        ("HasBytes", "has no QMP JSON form"),
        ("TwoResults", "a command result has one field"),
    ],
)
def test_descriptors_off_the_mapping(bad_pb: ModuleType, name: str, message: str) -> None:
    with pytest.raises(DescriptorError, match=message):
        qmp_to_message({}, getattr(bad_pb, name))
    with pytest.raises(DescriptorError, match=message):
        message_to_qmp(getattr(bad_pb, name)())


def test_failed_plan_is_not_cached_half_built(bad_pb: ModuleType) -> None:
    for _ in range(2):
        with pytest.raises(DescriptorError):
            qmp_to_message({}, bad_pb.StrayBranch)
    # Red was planned during the failed attempt and still works on its own.
    assert message_to_qmp(qmp_to_message({"shade": "dark"}, bad_pb.Red)) == {"shade": "dark"}


def test_not_a_message_type() -> None:
    with pytest.raises(TypeError):
        qmp_to_message({}, dict)  # type: ignore[type-var]
