"""What a refused command looks like to a program.

    python examples/handle_errors.py

Branch on the exception class and on ``reason``; the message is for people,
and so are the server's ``hint`` and the ``facts`` (ids, sizes, limits) that
come with it.
"""

from __future__ import annotations

import sys

from qapi_jobs.client import JobNotFound, JobsClient, QapiJobsError, WrongState


def main() -> int:
    """Pause a job that does not exist; returns the exit code."""
    with JobsClient() as client:
        try:
            client.job_pause(id="no-such-job")
        except JobNotFound as err:
            print(f"not found: {err.message} (reason {err.reason}, job {err.job_id})")
        except WrongState as err:
            print(f"job {err.job_id} is {err.job_status} and refuses {err.verb}")
        except QapiJobsError as err:
            print(f"refused: {err.code.name} {err.reason}: {err.message}", file=sys.stderr)
            for key, value in err.facts.items():
                print(f"  {key}: {value}", file=sys.stderr)
            if err.hint:
                print(f"hint: {err.hint}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
