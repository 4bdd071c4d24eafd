"""Reading command-line values: sizes, booleans, JSON with sizes inside."""

from __future__ import annotations

import pytest

from qapi_jobs.client.cli.values import BadValue, expand_sizes, parse_bool, parse_size
from qapi_jobs.transcoder.descriptors import plan_of_type
from qapi_jobs.v1 import service_pb2


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("0", 0),
        ("4096", 4096),
        ("64k", 64 << 10),
        ("64K", 64 << 10),
        ("1M", 1 << 20),
        ("1G", 1 << 30),
        ("2T", 2 << 40),
        ("1.5M", 3 << 19),
        ("1GiB", 1 << 30),
        ("10MB", 10 << 20),
    ],
)
def test_sizes(text: str, value: int) -> None:
    assert parse_size(text) == value


@pytest.mark.parametrize("text", ["", "G", "-1", "1Q", "1.1", "0.5k1", "1 G B"])
def test_bad_sizes(text: str) -> None:
    with pytest.raises(BadValue):
        parse_size(text)


def test_booleans() -> None:
    assert [parse_bool(t) for t in ("true", "Yes", "on", "1")] == [True] * 4
    assert [parse_bool(t) for t in ("false", "NO", "off", "0")] == [False] * 4
    with pytest.raises(BadValue):
        parse_bool("maybe")


def test_sizes_inside_union_json() -> None:
    plan = plan_of_type(service_pb2.BlockdevCreateRequest)
    options = {"driver": "qcow2", "filename": "a", "size": "1G", "cluster-size": "64k"}
    arguments = {"job-id": "j", "options": options}
    expanded = expand_sizes(plan, arguments)
    assert expanded["options"]["size"] == 1 << 30
    assert expanded["options"]["cluster-size"] == 64 << 10
    assert options["size"] == "1G"  # the input is left alone
    untouched = {"job-id": "1G", "options": {"driver": "raw", "filename": "1G", "size": 5}}
    assert expand_sizes(plan, untouched) == untouched
