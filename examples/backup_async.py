"""Back an image up with the asyncio client, finalizing the job ourselves.

    python examples/backup_async.py SOURCE TARGET

The backup is created with auto-finalize and auto-dismiss off, as a
program does when it wants to decide when the result takes effect;
``run_job`` finalizes and dismisses it once it is ready.
"""

from __future__ import annotations

import asyncio
import sys

from qapi_jobs.client import AsyncJobsClient, JobFailed, status_name
from qapi_jobs.v1 import block_ops_pb2, job_pb2


async def main(source: str, target: str) -> int:
    """Copy ``source`` to ``target``; returns the exit code."""
    job_id = f"backup-{source}"
    async with AsyncJobsClient() as client:

        async def start() -> None:
            await client.drive_backup(
                job_id=job_id,
                device=source,
                target=target,
                sync=block_ops_pb2.MIRROR_SYNC_MODE_FULL,
                auto_finalize=False,
                auto_dismiss=False,
            )

        def progress(info: job_pb2.JobInfo) -> None:
            print(f"{status_name(info.status):>10} {info.current_progress}/{info.total_progress}")

        try:
            outcome = await client.run_job(job_id, start, on_progress=progress, timeout=300)
        except JobFailed as failed:
            print(f"backup failed: {failed.outcome.error}", file=sys.stderr)
            return 1
    copied = outcome.info.total_progress if outcome.info else 0
    print(f"{target} holds a copy of {source} ({copied} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1], sys.argv[2])))
