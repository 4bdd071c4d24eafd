"""How watch streams end: the statuses, with ErrorInfo reasons clients act on.

The reasons and metadata keys are the contract (the messages are for
people): EVENTS_EXPIRED and INSTANCE_CHANGED mean "list again", i.e. watch
with ``send_initial_snapshot``; WATCHER_TOO_SLOW and SERVER_SHUTTING_DOWN
mean "resume after ``resume_after_sequence``" (on another server, for the
latter), when the metadata carries it.
"""

from __future__ import annotations

import grpc
from google.rpc import code_pb2

from qapi_jobs.server.grpc.errors import error_status

EVENTS_EXPIRED = "EVENTS_EXPIRED"
INSTANCE_CHANGED = "INSTANCE_CHANGED"
WATCHER_TOO_SLOW = "WATCHER_TOO_SLOW"
SERVER_SHUTTING_DOWN = "SERVER_SHUTTING_DOWN"
INVALID_WATCH_REQUEST = "INVALID_WATCH_REQUEST"


class StreamEnd(Exception):
    """Ends a stream with ``status`` (raised by sessions, sent by the adapters)."""

    def __init__(self, status: grpc.Status) -> None:
        super().__init__(status.details)
        self.status = status


def invalid_request(message: str, field: str) -> StreamEnd:
    """A request the server cannot serve whatever its state (INVALID_ARGUMENT)."""
    return StreamEnd(
        error_status(code_pb2.INVALID_ARGUMENT, message, INVALID_WATCH_REQUEST, {"field": field})
    )


def events_expired(after_sequence: int, oldest: int, instance_id: str) -> StreamEnd:
    """Resuming from a sequence number whose successors are gone."""
    return StreamEnd(
        error_status(
            code_pb2.OUT_OF_RANGE,
            f"events after sequence {after_sequence} are no longer retained "
            f"(the oldest is {oldest}); list the jobs again (send_initial_snapshot)",
            EVENTS_EXPIRED,
            {"oldest_sequence": str(oldest), "instance_id": instance_id},
        )
    )


def instance_changed(message: str, instance_id: str) -> StreamEnd:
    """Resuming from a sequence number another server instance issued."""
    return StreamEnd(
        error_status(
            code_pb2.OUT_OF_RANGE,
            f"{message}; list the jobs again (send_initial_snapshot)",
            INSTANCE_CHANGED,
            {"instance_id": instance_id},
        )
    )


def too_slow(resume_after: int, max_lag: int, instance_id: str) -> StreamEnd:
    """A watcher that fell more than ``max_lag`` events behind."""
    return StreamEnd(
        error_status(
            code_pb2.ABORTED,
            f"watcher fell more than {max_lag} events behind; resume after sequence {resume_after}",
            WATCHER_TOO_SLOW,
            {
                "resume_after_sequence": str(resume_after),
                "instance_id": instance_id,
                "max_lag": str(max_lag),
            },
        )
    )


def stream_too_slow(max_lag: int) -> StreamEnd:
    """A StreamEvents watcher (no sequence numbers) that fell too far behind."""
    return StreamEnd(
        error_status(
            code_pb2.ABORTED,
            f"watcher fell more than {max_lag} events behind; events were lost",
            WATCHER_TOO_SLOW,
            {"max_lag": str(max_lag)},
        )
    )


def shutting_down(resume_after: int | None, instance_id: str) -> grpc.Status:
    """The server ends (or refuses) a stream because it is going away.

    ``resume_after`` is where the stream stands: everything up to it was
    sent (or filtered out); None when nothing resumable was sent, e.g. in
    the middle of an initial snapshot.
    """
    if resume_after is None:
        return error_status(
            code_pb2.UNAVAILABLE,
            "server shutting down; watch again elsewhere",
            SERVER_SHUTTING_DOWN,
            {"instance_id": instance_id},
        )
    return error_status(
        code_pb2.UNAVAILABLE,
        f"server shutting down; resume after sequence {resume_after} elsewhere",
        SERVER_SHUTTING_DOWN,
        {"resume_after_sequence": str(resume_after), "instance_id": instance_id},
    )
