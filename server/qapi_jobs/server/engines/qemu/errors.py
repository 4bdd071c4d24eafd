"""QEMU's refusals as the project's JobError: QEMU's text, a kind and a reason.

The text stays QEMU's, except that the engine's node names and the host's
absolute paths are replaced by the client's own image paths: no message
may reveal either.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

from qapi_jobs.server.engines.qemu.qmp import QmpError, QmpUnavailable
from qapi_jobs.server.jobs.errors import ErrorKind, JobError

_VERB: Final = re.compile(
    r"Job '(?P<job>.*)' in state '(?P<status>[a-z]+)' "
    r"cannot accept command verb '(?P<verb>[a-z-]+)'"
)
_RULES: Final[tuple[tuple[re.Pattern[str], ErrorKind, str], ...]] = (
    (re.compile(r"^Job not found$"), ErrorKind.NOT_FOUND, "JOB_NOT_FOUND"),
    (re.compile(r"^Block job '.*' not found$"), ErrorKind.NOT_FOUND, "BLOCK_JOB_NOT_FOUND"),
    (re.compile(r"^Job is already paused$"), ErrorKind.WRONG_STATE, "ALREADY_PAUSED"),
    (re.compile(r"^Can't resume a job that was not paused$"), ErrorKind.WRONG_STATE, "NOT_PAUSED"),
    (re.compile(r"is currently paused$"), ErrorKind.WRONG_STATE, "JOB_PAUSED"),
    (re.compile(r"^Job ID '.*' already in use$"), ErrorKind.ALREADY_EXISTS, "JOB_ID_IN_USE"),
    (re.compile(r"^Invalid job ID '.*'$"), ErrorKind.INVALID_ARGUMENT, "INVALID_JOB_ID"),
    (re.compile(r"expects a non-negative value$"), ErrorKind.INVALID_ARGUMENT, "NEGATIVE_SPEED"),
    (re.compile(r"\"write\" lock|Failed to lock byte"), ErrorKind.WRONG_STATE, "IMAGE_LOCKED"),
    (re.compile(r" is busy: | is in use$"), ErrorKind.WRONG_STATE, "NODE_BUSY"),
    (
        re.compile(r"^Transaction aborted using Abort action$"),
        ErrorKind.INVALID_ARGUMENT,
        "TRANSACTION_ABORTED",
    ),
    (re.compile(r"have different sizes"), ErrorKind.INVALID_ARGUMENT, "SIZE_MISMATCH"),
)


_HINTS: Final = {
    "IMAGE_LOCKED": "Another process has the image open; close it there, or use another image.",
    "NODE_BUSY": "Another job of this server uses the image; wait for it to end, or cancel it.",
}


def job_error(error: QmpError, names: Mapping[str, str] | None = None) -> JobError:
    """The JobError for a QMP refusal; ``names`` maps node names and real paths to client paths."""
    text = scrub(error.desc, names or {})
    if error.error_class == "CommandNotFound":
        return JobError(ErrorKind.UNSUPPORTED, text, reason="UNSUPPORTED")
    match = _VERB.search(text)
    if match is not None:
        return JobError(
            ErrorKind.WRONG_STATE,
            text,
            job_id=match["job"],
            status=match["status"],
            verb=match["verb"],
            reason="VERB_NOT_ALLOWED",
        )
    for pattern, kind, reason in _RULES:
        if pattern.search(text):
            return JobError(kind, text, reason=reason, hint=_HINTS.get(reason))
    return JobError(ErrorKind.INVALID_ARGUMENT, text, reason="QEMU_REFUSED")


def unavailable(error: QmpUnavailable) -> JobError:
    """The JobError for a daemon that is gone or does not answer."""
    return JobError(
        ErrorKind.UNAVAILABLE,
        str(error),
        reason="QEMU_UNAVAILABLE",
        hint="The server's qemu-storage-daemon is not answering; retry the request later.",
    )


def scrub(text: str, names: Mapping[str, str]) -> str:
    """``text`` with every key of ``names`` (longest first) replaced by its value."""
    for secret in sorted(names, key=len, reverse=True):
        text = text.replace(secret, names[secret])
    return text
