"""Copy batches: how the source is cut into batches, and how a batch stops on a failure."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from qapi_jobs.server.engines.builtin import BuiltinEngine, sparse
from qapi_jobs.server.engines.builtin.batches import Batch, BatchCopier, BatchStopped, Run
from qapi_jobs.server.engines.builtin.copy import BlockCopier, ImageIoError
from qapi_jobs.server.jobs.driver import IoErrorDecision, IoOperation
from tests.support.fake_context import FakeContext, run_job
from tests.support.images import KIB, MIB, data_ranges, make_dense, make_image

STRIPES = [(offset, 256 * KIB) for offset in range(0, 4 * MIB, 512 * KIB)]
"""256 KiB of data, then 256 KiB of hole, over 4 MiB."""


@pytest.fixture
def copier(tmp_path: Path) -> Iterator[BlockCopier]:
    source, target = tmp_path / "src.img", tmp_path / "dst.img"
    make_image(source, 4 * MIB, STRIPES)
    target.touch()
    os.truncate(target, 4 * MIB)
    pair = BlockCopier(os.open(source, os.O_RDONLY), os.open(target, os.O_RDWR), 64 * KIB)
    yield pair
    os.close(pair.source)
    os.close(pair.target)


def batches(copier: BlockCopier, **bounds: Any) -> BatchCopier:
    options: dict[str, Any] = {
        "data_bytes": 512 * KIB,
        "zero_bytes": 4 * MIB,
        "target_is_blank": True,
        **bounds,
    }
    return BatchCopier(copier, 4 * MIB, **options)


def spans(batch: Batch) -> list[tuple[bool, int, int]]:
    return [(run.is_data, run.start // KIB, run.end // KIB) for run in batch.runs]


def test_a_batch_holds_one_chunk_of_data_and_the_holes_after_it(copier: BlockCopier) -> None:
    planner = batches(copier)
    first = planner.plan(0)
    assert spans(first) == [
        (True, 0, 256),
        (False, 256, 512),
        (True, 512, 768),
        (False, 768, 1024),
    ]
    assert (first.start, first.end, first.data_bytes) == (0, MIB, 512 * KIB)
    assert spans(planner.plan(3 * MIB)) == [
        (True, 3072, 3328),
        (False, 3328, 3584),
        (True, 3584, 3840),
        (False, 3840, 4096),
    ]
    end = planner.plan(4 * MIB)
    assert (end.runs, end.start, end.end, end.data_bytes) == ((), 4 * MIB, 4 * MIB, 0)


def test_a_long_data_run_is_cut_at_the_chunk(copier: BlockCopier) -> None:
    planner = batches(copier, data_bytes=96 * KIB)
    assert spans(planner.plan(0)) == [(True, 0, 96)]
    assert spans(planner.plan(192 * KIB)) == [(True, 192, 256), (False, 256, 512), (True, 512, 544)]


def test_holes_to_zero_count_against_their_own_bound(copier: BlockCopier) -> None:
    planner = batches(copier, target_is_blank=False, data_bytes=4 * MIB, zero_bytes=384 * KIB)
    assert spans(planner.plan(0)) == [
        (True, 0, 256),
        (False, 256, 512),
        (True, 512, 768),
        (False, 768, 896),
    ]


def test_the_number_of_runs_is_bounded(copier: BlockCopier) -> None:
    planner = batches(copier, data_bytes=4 * MIB, max_runs=3)
    assert spans(planner.plan(0)) == [(True, 0, 256), (False, 256, 512), (True, 512, 768)]


def test_bounds_must_be_positive(copier: BlockCopier) -> None:
    with pytest.raises(ValueError, match="positive"):
        batches(copier, max_runs=0)


def test_fallback_takes_one_chunk_as_data(copier: BlockCopier) -> None:
    planner = batches(copier)
    assert spans(planner.fallback(256 * KIB)) == [(True, 256, 768)]
    assert spans(planner.fallback(4 * MIB - KIB)) == [(True, 4095, 4096)]
    assert planner.fallback(4 * MIB).runs == ()


def test_running_every_batch_copies_the_image(tmp_path: Path, copier: BlockCopier) -> None:
    planner = batches(copier)
    batch = planner.plan(0)
    count = 0
    while batch.runs:
        batch = planner.run(batch, 0)
        count += 1
    assert count == 4
    source, target = tmp_path / "src.img", tmp_path / "dst.img"
    assert target.read_bytes() == source.read_bytes()
    assert data_ranges(target) == STRIPES


def test_a_failed_run_stops_the_batch_there(
    copier: BlockCopier, monkeypatch: pytest.MonkeyPatch
) -> None:
    done: list[int] = []

    def copy(offset: int, length: int) -> None:
        if offset == 512 * KIB:
            raise ImageIoError(IoOperation.WRITE, OSError(errno.EIO, "Input/output error"))
        done.append(offset)

    monkeypatch.setattr(copier, "copy", copy)
    planner = batches(copier)
    batch = planner.plan(0)
    with pytest.raises(BatchStopped) as stopped:
        planner.run(batch, 0)
    assert stopped.value.reached == 2
    assert stopped.value.failure.operation is IoOperation.WRITE
    assert done == [0]
    # Resuming after the failed run finishes the batch and plans the next one.
    assert planner.run(batch, 3).start == MIB


def test_a_failure_to_plan_the_next_batch_comes_after_the_whole_batch(
    copier: BlockCopier, monkeypatch: pytest.MonkeyPatch
) -> None:
    planner = batches(copier)
    batch = planner.plan(0)

    def unreadable(offset: int, end: int) -> tuple[bool, int]:
        raise ImageIoError(IoOperation.READ, OSError(errno.EIO, "Input/output error"))

    monkeypatch.setattr(copier, "source_run", unreadable)
    with pytest.raises(BatchStopped) as stopped:
        planner.run(batch, 0)
    assert stopped.value.reached == len(batch.runs) == 4
    assert stopped.value.failure.operation is IoOperation.READ


@pytest.mark.parametrize("decision", [IoErrorDecision.IGNORE, IoErrorDecision.RETRY])
async def test_a_source_that_cannot_be_mapped_once_is_still_copied(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, decision: IoErrorDecision
) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    content = make_image(data_dir / "disk.img", 4 * MIB, STRIPES)
    calls = 0
    original = sparse.next_run

    def fails_once_midway(fd: int, offset: int, end: int) -> tuple[bool, int]:
        nonlocal calls
        calls += 1
        if offset == 2 * MIB and calls < 100:
            calls = 100
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        return original(fd, offset, end)

    monkeypatch.setattr(sparse, "next_run", fails_once_midway)
    engine = BuiltinEngine(data_dir, chunk_size=512 * KIB)
    plan = await engine.prepare(
        "drive-backup", {"device": "disk.img", "target": "copy.img", "sync": "full"}
    )
    ctx = FakeContext("b1", decisions=[decision])
    outcome = await run_job(plan.driver, ctx)
    assert outcome.status == "completed"
    assert [op for op, _ in ctx.io_errors] == [IoOperation.READ]
    assert (data_dir / "copy.img").read_bytes() == content
    assert ctx.current == ctx.total == 4 * MIB
    assert sum(ctx.rate_limited) == 4 * MIB, "every byte of progress is charged once"


def test_runs_know_their_length() -> None:
    assert Run(4096, 12288, True).length == 8192


async def test_dense_copy_moves_one_chunk_per_batch(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    content = make_dense(data_dir / "disk.img", MIB + 4096)
    engine = BuiltinEngine(data_dir, chunk_size=256 * KIB)
    plan = await engine.prepare(
        "drive-backup", {"device": "disk.img", "target": "copy.img", "sync": "full"}
    )
    ctx = FakeContext("b1")
    assert (await run_job(plan.driver, ctx)).status == "completed"
    assert ctx.rate_limited == [256 * KIB] * 4 + [4096]
    assert (data_dir / "copy.img").read_bytes() == content
