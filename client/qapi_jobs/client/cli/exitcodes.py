"""The exit codes of ``qapi-jobs``, which scripts can rely on.

:data:`TABLE` is the one list of them: ``qapi-jobs --help`` prints it and
the documentation's table is checked against it.  ``qapi-jobs serve`` is
the server (qapi-jobs-server) and exits with the server's own codes (0, 2,
11, 12; see ``qapi-jobs serve --help``), which the client's codes below
leave free.
"""

from __future__ import annotations

import grpc

OK = 0
REFUSED = 1
USAGE = 2
UNREACHABLE = 3
NOT_FOUND = 4
WRONG_STATE = 5
INVALID_ARGUMENT = 6
ALREADY_EXISTS = 7
PERMISSION_DENIED = 8
JOB_FAILED = 9
TIMED_OUT = 10
INTERRUPTED = 130

TABLE: tuple[tuple[int, str], ...] = (
    (OK, "success (with --wait or wait: the job succeeded)"),
    (REFUSED, "the server refused the request (for a reason without a code below)"),
    (USAGE, "usage error: bad option, argument value or server address"),
    (UNREACHABLE, "cannot reach the server, or it did not answer in time"),
    (NOT_FOUND, "not found (e.g. no such job)"),
    (WRONG_STATE, "the job's status does not allow the request"),
    (INVALID_ARGUMENT, "invalid argument"),
    (ALREADY_EXISTS, "already exists (job id or target taken)"),
    (PERMISSION_DENIED, "permission denied (e.g. a path outside the data directory)"),
    (JOB_FAILED, "--wait or wait: the job failed, was cancelled, or ended or vanished first"),
    (TIMED_OUT, "wait: timed out"),
    (INTERRUPTED, "interrupted (Ctrl-C)"),
)
"""Every exit code of the client commands and what it means."""

_BY_STATUS = {
    grpc.StatusCode.UNAVAILABLE: UNREACHABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED: UNREACHABLE,
    grpc.StatusCode.NOT_FOUND: NOT_FOUND,
    grpc.StatusCode.FAILED_PRECONDITION: WRONG_STATE,
    grpc.StatusCode.INVALID_ARGUMENT: INVALID_ARGUMENT,
    grpc.StatusCode.ALREADY_EXISTS: ALREADY_EXISTS,
    grpc.StatusCode.PERMISSION_DENIED: PERMISSION_DENIED,
}


def for_status(code: grpc.StatusCode) -> int:
    """The exit code for a refusal with gRPC status ``code``."""
    return _BY_STATUS.get(code, REFUSED)


def epilog() -> str:
    """The exit-code section of ``qapi-jobs --help``."""
    lines = ["exit codes:"]
    lines += [f"  {code:<4} {meaning}" for code, meaning in TABLE]
    lines.append("  (qapi-jobs serve exits with the server's codes: see 'qapi-jobs serve --help')")
    return "\n".join(lines) + "\n"
