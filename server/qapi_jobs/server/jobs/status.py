"""Job statuses, verbs and types, and QEMU 7.2's tables that relate them.

The two tables are plain data so that tests can check them cell by cell
against the specification:

* :data:`TRANSITIONS` — which status may follow which (a forbidden edge is
  a bug in the manager, never a user error);
* :data:`VERB_STATES` — in which statuses each verb is accepted.
"""

from __future__ import annotations

import enum


class JobStatus(enum.Enum):
    """Where a job is in its life; values are the QAPI wire names."""

    UNDEFINED = "undefined"
    CREATED = "created"
    RUNNING = "running"
    PAUSED = "paused"
    READY = "ready"
    STANDBY = "standby"
    WAITING = "waiting"
    PENDING = "pending"
    ABORTING = "aborting"
    CONCLUDED = "concluded"
    NULL = "null"


class JobVerb(enum.Enum):
    """The operations a client can apply to a job (QEMU 7.2 set)."""

    CANCEL = "cancel"
    PAUSE = "pause"
    RESUME = "resume"
    SET_SPEED = "set-speed"
    COMPLETE = "complete"
    DISMISS = "dismiss"
    FINALIZE = "finalize"


class JobType(enum.Enum):
    """What kind of work a job does (the project's JobType)."""

    COMMIT = "commit"
    STREAM = "stream"
    MIRROR = "mirror"
    BACKUP = "backup"
    CREATE = "create"
    AMEND = "amend"


_S = JobStatus

TRANSITIONS: dict[JobStatus, frozenset[JobStatus]] = {
    _S.UNDEFINED: frozenset({_S.CREATED}),
    _S.CREATED: frozenset({_S.RUNNING, _S.ABORTING, _S.NULL}),
    _S.RUNNING: frozenset({_S.PAUSED, _S.READY, _S.WAITING, _S.ABORTING}),
    _S.PAUSED: frozenset({_S.RUNNING}),
    _S.READY: frozenset({_S.STANDBY, _S.WAITING, _S.ABORTING}),
    _S.STANDBY: frozenset({_S.READY}),
    _S.WAITING: frozenset({_S.PENDING, _S.ABORTING}),
    _S.PENDING: frozenset({_S.ABORTING, _S.CONCLUDED}),
    _S.ABORTING: frozenset({_S.ABORTING, _S.CONCLUDED}),
    _S.CONCLUDED: frozenset({_S.NULL}),
    _S.NULL: frozenset(),
}
"""Allowed ``from -> to`` edges.  ABORTING -> ABORTING is legal but silent."""

_LIVE = frozenset({_S.CREATED, _S.RUNNING, _S.PAUSED, _S.READY, _S.STANDBY})

VERB_STATES: dict[JobVerb, frozenset[JobStatus]] = {
    JobVerb.CANCEL: _LIVE | {_S.WAITING, _S.PENDING},
    JobVerb.PAUSE: _LIVE,
    JobVerb.RESUME: _LIVE,
    JobVerb.SET_SPEED: _LIVE,
    JobVerb.COMPLETE: frozenset({_S.READY, _S.STANDBY}),
    JobVerb.FINALIZE: frozenset({_S.PENDING}),
    JobVerb.DISMISS: frozenset({_S.CONCLUDED}),
}
"""The statuses in which each verb is accepted (QEMU 7.2: complete in READY and STANDBY)."""

READY_STATES = frozenset({_S.READY, _S.STANDBY})
"""Statuses reported as ``ready`` in BlockJobInfo."""

COMPLETED_STATES = frozenset({_S.WAITING, _S.PENDING, _S.ABORTING, _S.CONCLUDED, _S.NULL})
"""Statuses of a job whose work function has finished (QEMU's job_is_completed)."""


class TransitionError(RuntimeError):
    """The manager tried an edge that is not in :data:`TRANSITIONS` (a bug)."""


def check_transition(old: JobStatus, new: JobStatus) -> None:
    """Raise :class:`TransitionError` unless ``old -> new`` is an allowed edge."""
    if new not in TRANSITIONS[old]:
        raise TransitionError(f"illegal job status transition {old.value} -> {new.value}")


def verb_allowed(verb: JobVerb, status: JobStatus) -> bool:
    """Whether ``verb`` is accepted by a job in ``status``."""
    return status in VERB_STATES[verb]
