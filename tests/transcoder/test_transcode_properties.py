"""Property tests: random valid QMP JSON survives QMP -> proto -> wire -> QMP."""

from __future__ import annotations

from types import ModuleType
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qapi_jobs.transcoder import message_to_qmp, qmp_to_message

SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

text = st.text(max_size=12)
size = st.integers(0, 2**64 - 1)
uint64 = st.integers(0, 2**64 - 1)
# Doubles and 'any' numbers must survive a trip through a double exactly.
exact_int = st.integers(-(2**53), 2**53)
finite = st.floats(allow_nan=False, allow_infinity=False)
endian = st.sampled_from(["unspecified", "little", "big"])


def _merge(parts: tuple[dict[str, Any], ...]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for part in parts:
        merged.update(part)
    return merged


def _union(
    base: st.SearchStrategy[dict[str, Any]], branch: st.SearchStrategy[dict[str, Any]]
) -> st.SearchStrategy[dict[str, Any]]:
    # A union's wire object is its base members and its branch members together.
    return st.tuples(base, branch).map(_merge)


def image_create(refs: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    def base(driver: str) -> st.SearchStrategy[dict[str, Any]]:
        return st.fixed_dictionaries({"driver": st.just(driver)}, optional={"node-name": text})

    raw = st.fixed_dictionaries({"filename": text, "size": size})
    qcow2 = st.fixed_dictionaries(
        {"filename": text, "size": size},
        optional={"cluster-size": size, "backing": refs, "encrypt": st.booleans()},
    )
    null_co = st.fixed_dictionaries({}, optional={"size": size})
    return st.one_of(
        _union(base("raw"), raw),
        _union(base("qcow2"), qcow2),
        _union(base("null-co"), null_co),
        base("file"),
    )


blockdev_ref: st.SearchStrategy[Any] = st.deferred(
    lambda: st.one_of(text, image_create(blockdev_ref))
)
images = image_create(blockdev_ref)

socket_address = st.one_of(
    st.fixed_dictionaries(
        {"type": st.just("inet"), "host": text, "port": text}, optional={"ipv6": st.booleans()}
    ),
    st.fixed_dictionaries({"type": st.just("unix"), "path": text}),
    st.just({"type": "fd"}),
)


def _migration_base(transport: str) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({"transport": st.just(transport)}, optional={"tag": text})


migration_address = st.one_of(
    _union(_migration_base("socket"), socket_address),
    _union(_migration_base("file"), st.fixed_dictionaries({"filename": text, "offset": uint64})),
    _migration_base("exec"),
)

json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), exact_int, finite, text),
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(text, children, max_size=4)
    ),
    max_leaves=12,
)

alternates = st.fixed_dictionaries(
    {"ref": blockdev_ref, "refs": st.lists(blockdev_ref, max_size=3)},
    optional={
        "maybe-ref": st.one_of(st.none(), blockdev_ref),
        "name": st.one_of(st.none(), text),
        "stats": st.one_of(uint64, st.booleans(), st.lists(uint64, max_size=4)),
        "overlap": st.one_of(
            endian,
            st.fixed_dictionaries(
                {}, optional={"template": st.booleans(), "main-header": st.booleans()}
            ),
        ),
        "ratio": st.one_of(finite, exact_int, st.booleans()),
        "small": st.one_of(st.none(), st.integers(-128, 127)),
    },
)


def _round_trip(value: Any, cls: Any) -> None:
    message = qmp_to_message(value, cls)
    assert message_to_qmp(message) == value
    # The proto message carries everything: the binary wire form loses nothing.
    assert message_to_qmp(cls.FromString(message.SerializeToString())) == value


@SETTINGS
@given(value=images)
def test_union_round_trip(pb: ModuleType, value: dict[str, Any]) -> None:
    _round_trip(value, pb.ImageCreate)


@SETTINGS
@given(value=migration_address)
def test_nested_union_round_trip(pb: ModuleType, value: dict[str, Any]) -> None:
    _round_trip(value, pb.MigrationAddress)


@SETTINGS
@given(value=alternates)
def test_alternates_round_trip(pb: ModuleType, value: dict[str, Any]) -> None:
    _round_trip(value, pb.Alternates)


@SETTINGS
@given(value=json_values, many=st.lists(json_values, max_size=3))
def test_any_round_trip(pb: ModuleType, value: Any, many: list[Any]) -> None:
    _round_trip({"value": value, "many": many}, pb.AnyHolder)


@SETTINGS
@given(value=images, junk=st.dictionaries(st.text(min_size=1).map(lambda s: "x-" + s), json_values))
def test_unknown_members_are_dropped(
    pb: ModuleType, value: dict[str, Any], junk: dict[str, Any]
) -> None:
    assert message_to_qmp(qmp_to_message({**junk, **value}, pb.ImageCreate)) == value
