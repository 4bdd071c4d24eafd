"""Jobs owned by whoever started them, for a policy with ``owner_only = true``.

The owner of a job is the first identity of the caller whose call created
it.  Another operator may read the job like anyone with the read
permission, but every verb on it (pause, cancel, dismiss, set-speed, ...)
is refused.  Jobs created by a caller without any identity have no owner.

The owner travels with the job: :meth:`JobOwners.creating` names it to the
jobs layer while the command runs (see ``jobs.job.CREATOR``), so that it
is in the job's first durable record, and after a restart ``stored``
reads it back from the restored job.  A backend without durable jobs
(``stored`` None) keeps owners in memory only.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from qapi_jobs.server.engines.schema import job_commands
from qapi_jobs.server.grpc.policy import Caller
from qapi_jobs.server.jobs.job import CREATOR

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
    """The owner of every job that has one; ``live`` lists the ids of existing jobs.

    ``stored`` (if given) tells the owner kept with an existing job: the
    answer for jobs this process did not see created (restored ones).
    """

    def __init__(
        self,
        live: Callable[[], Iterable[str]],
        prune_above: int,
        stored: Callable[[str], str | None] | None = None,
    ) -> None:
        self._owners: dict[str, str | None] = {}
        self._live = live
        self._prune_above = prune_above
        self._stored = stored

    def owner(self, job_id: str) -> str | None:
        """Who owns ``job_id`` (None: nobody)."""
        if job_id in self._owners:
            return self._owners[job_id]
        return None if self._stored is None else self._stored(job_id)

    def may_act(self, caller: Caller, job_id: str) -> bool:
        """Whether ``caller`` may use verbs on ``job_id``."""
        owner = self.owner(job_id)
        return owner is None or owner in caller.identities

    @staticmethod
    @contextlib.contextmanager
    def creating(caller: Caller) -> Iterator[None]:
        """Make ``caller`` the owner of the jobs created inside (kept with their records)."""
        token = CREATOR.set(caller.identities[0] if caller.identities else None)
        try:
            yield
        finally:
            CREATOR.reset(token)

    def record(self, caller: Caller, job_ids: Iterable[str]) -> None:
        """Note ``caller`` as the owner of the jobs it just created."""
        for job_id in job_ids:
            self._owners[job_id] = caller.identities[0] if caller.identities else None
        if len(self._owners) > self._prune_above:
            live = set(self._live())
            self._owners = {key: value for key, value in self._owners.items() if key in live}
