"""Building requests the tests send again and again."""

from __future__ import annotations

from qapi_jobs.v1 import block_ops_pb2, image_pb2

from .images import KIB, MIB


def raw_image(filename: str, size: int = MIB) -> image_pb2.BlockdevCreateOptions:
    """Options that create a raw image."""
    return image_pb2.BlockdevCreateOptions(
        driver=image_pb2.IMAGE_DRIVER_RAW,
        raw=image_pb2.ImageCreateOptionsRaw(filename=filename, size=size),
    )


FULL = block_ops_pb2.MIRROR_SYNC_MODE_FULL
SLOW = 64 * KIB
"""A speed limit (bytes/s) that keeps a backup of a few MiB running for seconds."""
