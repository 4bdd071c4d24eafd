"""The exit codes of ``qapi-jobs``, which scripts can rely on.

====  ==========================================================================
code  meaning
====  ==========================================================================
0     success
1     the server refused the request (a status without a code of its own below)
2     usage error: unknown option, missing or malformed argument value
3     cannot reach the server (UNAVAILABLE) or it did not answer in time
4     not found (NOT_FOUND): e.g. no job with that id
5     the job's status does not allow the request (FAILED_PRECONDITION)
6     invalid argument (INVALID_ARGUMENT)
7     already exists (ALREADY_EXISTS): the job id or target is taken
8     permission denied (PERMISSION_DENIED): e.g. a path outside the data directory
9     ``wait``: the job failed, concluded or vanished without reaching the status
10    ``wait``: the timeout ran out
130   interrupted (Ctrl-C)
====  ==========================================================================
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
