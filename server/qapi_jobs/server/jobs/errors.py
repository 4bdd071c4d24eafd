"""Errors of the job manager and the engines, classified for their callers.

QEMU reports nearly everything as GenericError with a text; our callers
(the gRPC adapter above all) need to pick a status code without parsing
that text, so every error carries a :class:`ErrorKind` and, where useful,
the job, status and verb it is about.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping


class ErrorKind(enum.Enum):
    """What sort of mistake the caller made; maps onto gRPC status codes."""

    NOT_FOUND = "not-found"
    """The job (or image) named does not exist."""
    WRONG_STATE = "wrong-state"
    """The job exists but its status does not allow the request."""
    INVALID_ARGUMENT = "invalid-argument"
    """An argument is malformed or out of range."""
    ALREADY_EXISTS = "already-exists"
    """A job id or target file is taken."""
    PERMISSION_DENIED = "permission-denied"
    """A path leads outside the data directory."""
    UNSUPPORTED = "unsupported"
    """The engine cannot run this kind of job or option."""
    RESOURCE_EXHAUSTED = "resource-exhausted"
    """A configured limit of the server (jobs, open files, ...) is reached."""
    UNAVAILABLE = "unavailable"
    """The engine's backend (qemu-storage-daemon) is gone or does not answer; retry later."""


class JobError(Exception):
    """A refused request, with QEMU's exact text as the message."""

    def __init__(
        self,
        kind: ErrorKind,
        message: str,
        *,
        job_id: str | None = None,
        status: str | None = None,
        verb: str | None = None,
        reason: str | None = None,
        hint: str | None = None,
        facts: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.job_id = job_id
        self.status = status
        self.verb = verb
        self.reason = reason or kind.name
        """A stable, machine-readable reason, e.g. ``VERB_NOT_ALLOWED``."""
        self.hint = hint
        """One sentence saying what to do, where the message must stay QEMU's."""
        self.facts = dict(facts or {})
        """Further context (sizes, ids, limits) under snake_case keys."""

    def metadata(self) -> dict[str, str]:
        """The error's context as string pairs (for google.rpc.ErrorInfo).

        The hint goes under ``hint``, next to the facts.
        """
        pairs = {"job_id": self.job_id, "status": self.status, "verb": self.verb}
        pairs |= self.facts
        pairs["hint"] = self.hint
        return {key: value for key, value in pairs.items() if value is not None}
