"""The blocking primitives: extent walking, hole punching, the block copier, resync."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from qapi_jobs.server.engines.builtin import sparse
from qapi_jobs.server.engines.builtin.copy import BlockCopier, ImageIoError, SourceShrankError
from qapi_jobs.server.engines.builtin.resync import Resync
from qapi_jobs.server.jobs.driver import IoOperation
from tests.support.images import KIB, MIB, data_ranges, make_dense, make_image


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    yield tmp_path / "src.img", tmp_path / "dst.img"


def open_pair(source: Path, target: Path, buffer: int = 64 * KIB) -> BlockCopier:
    return BlockCopier(os.open(source, os.O_RDONLY), os.open(target, os.O_RDWR), buffer)


def close(copier: BlockCopier) -> None:
    os.close(copier.source)
    os.close(copier.target)


def test_next_run_walks_data_and_holes(tmp_path: Path) -> None:
    path = tmp_path / "s.img"
    make_image(path, MIB, [(64 * KIB, 64 * KIB), (512 * KIB, 128 * KIB)])
    fd = os.open(path, os.O_RDONLY)
    try:
        runs = []
        offset = 0
        while offset < MIB:
            is_data, end = sparse.next_run(fd, offset, MIB)
            runs.append((is_data, offset, end))
            offset = end
        assert runs == [
            (False, 0, 64 * KIB),
            (True, 64 * KIB, 128 * KIB),
            (False, 128 * KIB, 512 * KIB),
            (True, 512 * KIB, 640 * KIB),
            (False, 640 * KIB, MIB),
        ]
        assert sparse.next_run(fd, 0, 32 * KIB) == (False, 32 * KIB)
        assert sparse.next_run(fd, 64 * KIB, 100 * KIB) == (True, 100 * KIB)
        assert sparse.next_run(fd, 2 * MIB, 3 * MIB) == (False, 3 * MIB), "past the end: hole"
        assert sparse.is_hole(fd, 128 * KIB, 384 * KIB)
        assert not sparse.is_hole(fd, 0, 128 * KIB)
    finally:
        os.close(fd)


def test_punch_hole_keeps_the_size(tmp_path: Path) -> None:
    path = tmp_path / "d.img"
    content = make_dense(path, MIB)
    fd = os.open(path, os.O_RDWR)
    try:
        assert sparse.punch_hole(fd, 256 * KIB, 256 * KIB)
    finally:
        os.close(fd)
    assert path.stat().st_size == MIB
    assert data_ranges(path) == [(0, 256 * KIB), (512 * KIB, 512 * KIB)]
    expected = content[: 256 * KIB] + bytes(256 * KIB) + content[512 * KIB :]
    assert path.read_bytes() == expected


def test_zero_range_without_hole_punching_writes_only_over_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sparse, "punch_hole", lambda fd, offset, length: False)
    path = tmp_path / "z.img"
    make_image(path, MIB, [(0, 128 * KIB), (768 * KIB, 64 * KIB)])
    fd = os.open(path, os.O_RDWR)
    try:
        sparse.zero_range(fd, 64 * KIB, 896 * KIB, memoryview(bytes(16 * KIB)))
    finally:
        os.close(fd)
    assert path.read_bytes()[64 * KIB : 960 * KIB] == bytes(896 * KIB)
    # Zeros were written over data only; the hole between stayed a hole.
    assert data_ranges(path) == [(0, 128 * KIB), (768 * KIB, 64 * KIB)]


def test_copier_classifies_failures(
    pair: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    source, target = pair
    make_dense(source, 128 * KIB)
    target.touch()
    copier = open_pair(source, target)
    try:

        def eio(*args: object) -> int:
            raise OSError(errno.EIO, "Input/output error")

        monkeypatch.setattr(os, "copy_file_range", eio)
        monkeypatch.setattr(os, "preadv", eio)
        with pytest.raises(ImageIoError) as caught:
            copier.copy(0, 64 * KIB)
        assert caught.value.operation is IoOperation.READ
        assert caught.value.error.errno == errno.EIO
        monkeypatch.undo()

        monkeypatch.setattr(os, "copy_file_range", eio)
        monkeypatch.setattr(os, "pwrite", eio)
        with pytest.raises(ImageIoError) as caught:
            copier.copy(0, 64 * KIB)
        assert caught.value.operation is IoOperation.WRITE
    finally:
        close(copier)


def test_copier_reports_a_short_source(pair: tuple[Path, Path]) -> None:
    source, target = pair
    make_dense(source, 100 * KIB)
    target.touch()
    copier = open_pair(source, target)
    try:
        with pytest.raises(SourceShrankError) as caught:
            copier.copy(0, 128 * KIB)
        assert caught.value.offset == 100 * KIB
    finally:
        close(copier)


def test_resync_finds_differing_granules(pair: tuple[Path, Path]) -> None:
    source, target = pair
    content = make_dense(source, 256 * KIB)
    changed = bytearray(content)
    changed[5000:5010] = b"0123456789"
    changed[70 * KIB] ^= 0xFF
    changed[71 * KIB] ^= 0xFF
    target.write_bytes(bytes(changed))
    copier = open_pair(source, target)
    try:
        resync = Resync(copier, granularity=4 * KIB, chunk_size=128 * KIB)
        runs = resync.scan(0, 128 * KIB)
        assert runs == [(4 * KIB, 4 * KIB), (68 * KIB, 4 * KIB)]
        resync.apply(runs)
        assert resync.scan(128 * KIB, 128 * KIB) == []
    finally:
        close(copier)
    assert target.read_bytes() == content


def test_resync_treats_a_short_target_as_different(pair: tuple[Path, Path]) -> None:
    source, target = pair
    content = make_dense(source, 64 * KIB)
    target.write_bytes(content[: 40 * KIB])
    copier = open_pair(source, target)
    try:
        resync = Resync(copier, granularity=8 * KIB, chunk_size=64 * KIB)
        runs = resync.scan(0, 64 * KIB)
        assert runs == [(40 * KIB, 24 * KIB)]
        resync.apply(runs)
    finally:
        close(copier)
    assert target.read_bytes() == content


def test_resync_skips_holes_in_both_files(
    pair: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    source, target = pair
    make_image(source, MIB, [])
    make_image(target, MIB, [])
    copier = open_pair(source, target)
    try:
        resync = Resync(copier, granularity=64 * KIB, chunk_size=256 * KIB)

        def no_reads(*args: object) -> int:
            raise AssertionError("holes in both files need no reading")

        monkeypatch.setattr(os, "preadv", no_reads)
        assert resync.scan(0, 256 * KIB) == []
    finally:
        close(copier)


def test_resync_requires_whole_granules(pair: tuple[Path, Path]) -> None:
    source, target = pair
    source.touch()
    target.touch()
    copier = open_pair(source, target)
    try:
        with pytest.raises(ValueError, match="multiple of the granularity"):
            Resync(copier, granularity=64 * KIB, chunk_size=96 * KIB)
    finally:
        close(copier)
