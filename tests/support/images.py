"""Making test images with known data and holes, and looking at them."""

from __future__ import annotations

import errno
import os
import random
from pathlib import Path

KIB = 1 << 10
MIB = 1 << 20


def make_image(path: Path, size: int, data: list[tuple[int, int]], *, seed: int = 1) -> bytes:
    """Create a sparse file of ``size`` bytes with random bytes in the ``data`` ranges.

    Returns the file's full content.
    """
    rng = random.Random(seed)
    content = bytearray(size)
    with open(path, "wb") as f:
        f.truncate(size)
        for offset, length in data:
            chunk = rng.randbytes(length)
            content[offset : offset + length] = chunk
            f.seek(offset)
            f.write(chunk)
    return bytes(content)


def make_dense(path: Path, size: int, *, seed: int = 2) -> bytes:
    """Create a file of ``size`` random bytes (no holes)."""
    return make_image(path, size, [(0, size)] if size else [], seed=seed)


def dense_file(data_dir: Path, name: str, size: int = 2 * MIB) -> str:
    """A file full of random data below ``data_dir``; returns its relative name."""
    make_dense(data_dir / name, size)
    return name


def data_ranges(path: Path) -> list[tuple[int, int]]:
    """The file's data extents as SEEK_DATA/SEEK_HOLE report them."""
    ranges: list[tuple[int, int]] = []
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        offset = 0
        while offset < size:
            try:
                start = os.lseek(fd, offset, os.SEEK_DATA)
            except OSError as exc:
                if exc.errno == errno.ENXIO:
                    break
                raise
            end = os.lseek(fd, start, os.SEEK_HOLE)
            ranges.append((start, end - start))
            offset = end
    finally:
        os.close(fd)
    return ranges


def allocated_bytes(path: Path) -> int:
    """Bytes of disk space the file occupies."""
    return os.stat(path).st_blocks * 512


def overwrite(path: Path, offset: int, data: bytes) -> None:
    """Write ``data`` into an existing file in place, as another process would."""
    fd = os.open(path, os.O_WRONLY)
    try:
        os.pwrite(fd, data, offset)
    finally:
        os.close(fd)
