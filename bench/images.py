"""Test images for the copy benchmark: fully written, or half data and half holes."""

from __future__ import annotations

import os
from pathlib import Path

CHUNK = 1 << 20


def _data_block(seed: int) -> bytes:
    # Incompressible and never all zeroes, so no tool can skip it as a hole.
    return seed.to_bytes(8, "little") + os.urandom(CHUNK - 8)


def write_image(path: Path, size: int, *, holes: bool) -> None:
    """Write a raw image of ``size`` bytes (a multiple of 1 MiB).

    With ``holes``, every other MiB is left unallocated (a hole reads as
    zeroes); otherwise every byte is written.  Blocking: run it in a thread.
    """
    if size % CHUNK:
        raise ValueError(f"image size {size} is not a multiple of {CHUNK}")
    block = _data_block(0)
    with path.open("wb") as image:
        for index in range(size // CHUNK):
            if holes and index % 2:
                continue
            image.seek(index * CHUNK)
            image.write(index.to_bytes(8, "little") + block[8:])
        image.truncate(size)
        image.flush()
        os.fsync(image.fileno())


def allocated_bytes(path: Path) -> int:
    """Bytes of ``path`` actually allocated on disk (holes excluded)."""
    return path.stat().st_blocks * 512


def fsync_path(path: Path) -> None:
    """Flush ``path``'s data to disk.  Blocking: run it in a thread."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
