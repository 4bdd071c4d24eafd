"""Jobs owned by whoever started them, for a policy with ``owner_only = true``.

The owner of a job is the first identity of the caller whose call created
it.  Another operator may read the job like anyone with the read
permission, but every verb on it (pause, cancel, dismiss, set-speed, ...)
is refused.  Jobs created by a caller without any identity have no owner.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from qapi_jobs.server.engines.schema import job_commands
from qapi_jobs.server.grpc.policy import Caller

TRANSACTION = "transaction"
JOB_COMMANDS = job_commands()
"""The commands that start a job (those with a ``job-id`` member)."""


def created_ids(command: str, arguments: Mapping[str, Any]) -> list[str]:
    """The ids of the jobs a successful ``command`` creates (QEMU's default: the device)."""
    if command == TRANSACTION:
        ids: list[str] = []
        for action in arguments.get("actions", []):
            ids += created_ids(action.get("type", ""), action.get("data", {}))
        return ids
    if command not in JOB_COMMANDS:
        return []
    job_id = arguments.get("job-id", arguments.get("device"))
    return [job_id] if isinstance(job_id, str) else []


def acted_on(command: str, arguments: Mapping[str, Any]) -> str | None:
    """The job a verb acts on (``id``, or ``device`` for block-job verbs)."""
    if command == TRANSACTION or command in JOB_COMMANDS:
        return None
    job_id = arguments.get("id", arguments.get("device"))
    return job_id if isinstance(job_id, str) else None


class JobOwners:
    """The owner of every job that has one; ``live`` lists the ids of existing jobs."""

    def __init__(self, live: Callable[[], Iterable[str]], prune_above: int) -> None:
        self._owners: dict[str, str] = {}
        self._live = live
        self._prune_above = prune_above

    def owner(self, job_id: str) -> str | None:
        """Who owns ``job_id`` (None: nobody)."""
        return self._owners.get(job_id)

    def may_act(self, caller: Caller, job_id: str) -> bool:
        """Whether ``caller`` may use verbs on ``job_id``."""
        owner = self._owners.get(job_id)
        return owner is None or owner in caller.identities

    def record(self, caller: Caller, job_ids: Iterable[str]) -> None:
        """Note ``caller`` as the owner of the jobs it just created."""
        for job_id in job_ids:
            if caller.identities:
                self._owners[job_id] = caller.identities[0]
            else:
                self._owners.pop(job_id, None)
        if len(self._owners) > self._prune_above:
            live = set(self._live())
            self._owners = {key: value for key, value in self._owners.items() if key in live}
