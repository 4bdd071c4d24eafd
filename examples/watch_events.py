"""Print the server's events as they happen, surviving restarts of the server.

    python examples/watch_events.py [COUNT]

Starts with a snapshot of the jobs; stops after COUNT events (default: never).
"""

from __future__ import annotations

import contextlib
import sys

from qapi_jobs.client import EventItem, JobsClient, Resync, status_name


def main(count: int | None) -> int:
    """Watch until ``count`` events were printed; returns the exit code."""
    seen = 0
    with JobsClient() as client:
        events = client.watch_events(snapshot=True)
        with contextlib.closing(events):
            for item in events:
                if isinstance(item, Resync):
                    # After a restart (or a long disconnection) the server
                    # says so: rebuild whatever state you keep from here.
                    jobs = ", ".join(f"{s.job.id}={status_name(s.job.status)}" for s in item.jobs)
                    print(f"[{item.reason}] jobs: {jobs or 'none'}", flush=True)
                elif isinstance(item, EventItem):
                    print(f"#{item.sequence} {item.name} {item.data}", flush=True)
                    seen += 1
                    if count is not None and seen >= count:
                        break
    return 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else None))
