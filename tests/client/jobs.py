"""Building requests the tests use again and again."""

from __future__ import annotations

import os
from pathlib import Path

from qapi_jobs.v1 import block_ops_pb2, image_pb2

MIB = 1 << 20


def raw_image(filename: str, size: int = MIB) -> image_pb2.BlockdevCreateOptions:
    """Options that create a raw image."""
    return image_pb2.BlockdevCreateOptions(
        driver=image_pb2.IMAGE_DRIVER_RAW,
        raw=image_pb2.ImageCreateOptionsRaw(filename=filename, size=size),
    )


def dense_file(data_dir: Path, name: str, size: int = 2 * MIB) -> str:
    """A file full of data below the data directory; returns its relative name."""
    (data_dir / name).write_bytes(os.urandom(size))
    return name


FULL = block_ops_pb2.MIRROR_SYNC_MODE_FULL
SLOW = 64 << 10
"""A speed limit (bytes/s) that keeps a backup of a few MiB running for seconds."""
