"""Create a raw image and follow the job to its end, with a progress line.

    python examples/create_image.py disk.raw 1G

The server's address comes from $QAPI_JOBS_SERVER (default 127.0.0.1:50051).
"""

from __future__ import annotations

import sys

from qapi_jobs.client import JobsClient, status_name
from qapi_jobs.v1 import image_pb2, job_pb2

SUFFIXES = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}


def size_of(text: str) -> int:
    """``1G`` → 1073741824."""
    factor = SUFFIXES.get(text[-1:].upper(), 1)
    return int(text[:-1] if factor > 1 else text) * factor


def show(info: job_pb2.JobInfo) -> None:
    """Print one progress line."""
    print(f"{info.id}: {status_name(info.status)} {info.current_progress}/{info.total_progress}")


def main(filename: str, size: str) -> int:
    """Create ``filename`` with ``size`` bytes; returns the exit code."""
    job_id = f"create-{filename}"
    options = image_pb2.BlockdevCreateOptions(
        driver=image_pb2.IMAGE_DRIVER_RAW,
        raw=image_pb2.ImageCreateOptionsRaw(filename=filename, size=size_of(size)),
    )
    with JobsClient() as client:
        outcome = client.run_job(
            job_id,
            lambda: client.blockdev_create(job_id=job_id, options=options),
            on_progress=show,
            check=False,
            timeout=300,
        )
    if not outcome.ok:
        print(f"{job_id} failed: {outcome.error}", file=sys.stderr)
        return 1
    print(f"{filename} created")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
