"""Arrays: required (repeated) and optional (wrapper messages), recursion."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest

from qapi_jobs.transcoder import TranscodeError, message_to_qmp, qmp_to_message

JOB = {"id": "j", "type": "commit", "status": "running", "current-progress": 1, "total-progress": 2}
REQUIRED: dict[str, Any] = {"names": ["a", "b"], "small": [-128, 127], "jobs": [JOB], "states": []}


def test_required_arrays_round_trip(pb: ModuleType) -> None:
    message = qmp_to_message(REQUIRED, pb.Arrays)
    assert list(message.names) == ["a", "b"]
    assert list(message.small) == [-128, 127]
    assert message.jobs[0].id == "j"
    assert message_to_qmp(message) == REQUIRED


def test_empty_required_arrays_are_sent(pb: ModuleType) -> None:
    assert message_to_qmp(pb.Arrays()) == {"names": [], "small": [], "jobs": [], "states": []}


def test_missing_required_array(pb: ModuleType) -> None:
    value = dict(REQUIRED)
    del value["names"]
    with pytest.raises(TranscodeError) as caught:
        qmp_to_message(value, pb.Arrays)
    assert str(caught.value) == "$.names: required member is missing"


@pytest.mark.parametrize("member", ["tags", "bytes", "counts", "more-jobs"])
def test_optional_array_absent_vs_empty(pb: ModuleType, member: str) -> None:
    attr = member.replace("-", "_")
    absent = qmp_to_message(REQUIRED, pb.Arrays)
    assert not absent.HasField(attr)
    assert member not in message_to_qmp(absent)

    empty = qmp_to_message({**REQUIRED, member: []}, pb.Arrays)
    assert empty.HasField(attr)
    assert len(getattr(empty, attr).items) == 0
    assert message_to_qmp(empty)[member] == []


def test_optional_arrays_with_items(pb: ModuleType) -> None:
    value = {
        **REQUIRED,
        "tags": ["x", ""],
        "bytes": [0, 255],
        "counts": [0, 2**64 - 1],
        "more-jobs": [JOB, {**JOB, "id": "k", "error": "e"}],
    }
    message = qmp_to_message(value, pb.Arrays)
    assert list(message.tags.items) == ["x", ""]
    assert message.more_jobs.items[1].error == "e"
    assert message_to_qmp(message) == value


@pytest.mark.parametrize(
    ("member", "items", "path", "message"),
    [
        ("small", [0, 128], "$.small[1]", "128 is out of range for int8"),
        ("bytes", [1, 2, 256], "$.bytes[2]", "256 is out of range for uint8"),
        ("counts", [-1], "$.counts[0]", "-1 is out of range for uint64"),
        ("states", ["running", "bogus"], "$.states[1]", "'bogus' is not a value of JobStatus"),
        ("names", ["a", None], "$.names[1]", "expected string, got null"),
        ("tags", "a", "$.tags", "expected array, got string"),
        ("jobs", {"id": "j"}, "$.jobs", "expected array, got object"),
        ("more-jobs", [JOB, 5], "$.more-jobs[1]", "expected object, got integer"),
    ],
)
def test_array_element_errors(
    pb: ModuleType, member: str, items: Any, path: str, message: str
) -> None:
    with pytest.raises(TranscodeError) as caught:
        qmp_to_message({**REQUIRED, member: items}, pb.Arrays)
    assert caught.value.path == path
    assert caught.value.message == message


def test_nested_element_error_path(pb: ModuleType) -> None:
    broken = dict(JOB)
    del broken["type"]
    with pytest.raises(TranscodeError) as caught:
        qmp_to_message({**REQUIRED, "jobs": [JOB, broken]}, pb.Arrays)
    assert str(caught.value) == "$.jobs[1].type: required member is missing"


def test_wrapper_element_range_checked_on_encode(pb: ModuleType) -> None:
    message = qmp_to_message(REQUIRED, pb.Arrays)
    message.bytes.items.extend([1, 300])
    with pytest.raises(TranscodeError) as caught:
        message_to_qmp(message)
    assert str(caught.value) == "$.bytes[1]: 300 is out of range for uint8"


def test_unspecified_enum_in_array_fails_encode(pb: ModuleType) -> None:
    message = qmp_to_message(REQUIRED, pb.Arrays)
    message.states.extend([pb.JOB_STATUS_RUNNING, pb.JOB_STATUS_UNSPECIFIED])
    with pytest.raises(TranscodeError) as caught:
        message_to_qmp(message)
    assert str(caught.value) == "$.states[1]: JobStatus value is unspecified"


def test_recursive_type(pb: ModuleType) -> None:
    tree = {
        "name": "root",
        "children": [
            {"name": "leaf"},
            {"name": "empty", "children": []},
            {"name": "deep", "children": [{"name": "deeper", "children": [{"name": "x"}]}]},
        ],
    }
    message = qmp_to_message(tree, pb.TreeNode)
    assert message.children.items[2].children.items[0].children.items[0].name == "x"
    assert not message.children.items[0].HasField("children")
    assert message.children.items[1].HasField("children")
    assert message_to_qmp(message) == tree


def test_recursive_error_path(pb: ModuleType) -> None:
    tree = {"name": "r", "children": [{"name": "a", "children": [{"name": 1}]}]}
    with pytest.raises(TranscodeError) as caught:
        qmp_to_message(tree, pb.TreeNode)
    assert caught.value.path == "$.children[0].children[0].name"


def test_wrapper_message_as_top_level_value(pb: ModuleType) -> None:
    message = qmp_to_message([3, 2**64 - 1], pb.Uint64List)
    assert list(message.items) == [3, 2**64 - 1]
    assert message_to_qmp(message) == [3, 2**64 - 1]


def test_optional_plain_repeated_is_lossy(pb: ModuleType) -> None:
    assert message_to_qmp(qmp_to_message({}, pb.LossyArrays)) == {}
    assert message_to_qmp(qmp_to_message({"names": []}, pb.LossyArrays)) == {}
    assert message_to_qmp(qmp_to_message({"names": ["a"]}, pb.LossyArrays)) == {"names": ["a"]}
