"""The engine's journal: what QEMU cannot tell a server that takes over a running daemon.

QEMU knows its jobs' statuses, progress and errors, but not the client's
auto-dismiss wish, which nodes and secret objects belong to which job, or
which files a job created (to remove if it fails).  The journal keeps that,
and the next node number, in the private run directory; it is rewritten
whole (write, then rename) whenever a job starts or goes away.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from qapi_jobs.server.engines.qemu.graph import OpenNodes
from qapi_jobs.server.engines.qemu.recipes import Launch
from qapi_jobs.server.jobs.status import JobType

JOURNAL_NAME: Final = "journal.json"


@dataclass(frozen=True)
class Journal:
    """The engine's jobs (oldest first) and the next node number."""

    launches: tuple[Launch, ...] = ()
    next_node: int = 1


def encode(launch: Launch) -> dict[str, Any]:
    """One job's journal entry."""
    return {
        "job-id": launch.job_id,
        "type": launch.job_type.value,
        "command": launch.command,
        "auto-finalize": launch.auto_finalize,
        "auto-dismiss": launch.auto_dismiss,
        "nodes": list(launch.nodes.added),
        "objects": list(launch.nodes.objects),
        "names": dict(launch.nodes.names),
        "created": [str(path) for path in launch.created],
    }


def decode(entry: dict[str, Any]) -> Launch:
    """The Launch a journal entry describes (its QMP arguments are not kept)."""
    return Launch(
        entry["job-id"],
        JobType(entry["type"]),
        entry["command"],
        {},
        auto_finalize=entry["auto-finalize"],
        auto_dismiss=entry["auto-dismiss"],
        nodes=OpenNodes(list(entry["nodes"]), list(entry["objects"]), dict(entry["names"])),
        created=[Path(path) for path in entry["created"]],
    )


def save(run_dir: Path, journal: Journal) -> None:
    """Replace the journal atomically (blocking)."""
    content = {"next-node": journal.next_node, "jobs": [encode(item) for item in journal.launches]}
    temporary = run_dir / f".{JOURNAL_NAME}.tmp"
    fd = os.open(temporary, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, 0o600)
    with os.fdopen(fd, "w") as file:
        json.dump(content, file)
    os.replace(temporary, run_dir / JOURNAL_NAME)


def load(run_dir: Path) -> Journal:
    """The journal in ``run_dir``; an empty one if there is none (blocking)."""
    try:
        content = json.loads((run_dir / JOURNAL_NAME).read_text())
    except FileNotFoundError:
        return Journal()
    return Journal(tuple(decode(entry) for entry in content["jobs"]), int(content["next-node"]))
