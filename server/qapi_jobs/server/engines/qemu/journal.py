"""The engine's journal: what QEMU cannot tell a server that takes over a running daemon.

QEMU knows its jobs' statuses, progress and errors, but not the client's
auto-dismiss wish, who started each job, which nodes and secret objects
belong to which job, or which files a job created (to remove if it
fails).  The journal keeps that,
and the next node number, in the private run directory, as JSON lines: a
whole table (written to a new file, then renamed into place), followed by
the jobs added and dropped since.  Appending is cheap where a rename over
the old file is not (ext4 starts writing the old file's data back on every
such rename); the table is rewritten whole once enough records pile up.
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
        "owner": launch.owner,
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
        owner=entry.get("owner"),
    )


Record = dict[str, Any]
"""One appended line: ``{"add": entry, ...}`` or ``{"drop": job_id, ...}``, with ``next-node``."""


def added(launch: Launch, next_node: int) -> Record:
    """The record of a job that started."""
    return {"add": encode(launch), "next-node": next_node}


def dropped(job_id: str, next_node: int) -> Record:
    """The record of a job that went away."""
    return {"drop": job_id, "next-node": next_node}


def save(run_dir: Path, journal: Journal) -> None:
    """Replace the journal atomically with the whole table (blocking)."""
    content = {"next-node": journal.next_node, "jobs": [encode(item) for item in journal.launches]}
    temporary = run_dir / f".{JOURNAL_NAME}.tmp"
    fd = os.open(temporary, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(json.dumps(content) + "\n")
    os.replace(temporary, run_dir / JOURNAL_NAME)


def append(run_dir: Path, records: list[Record]) -> None:
    """Add records after the table (blocking)."""
    fd = os.open(run_dir / JOURNAL_NAME, os.O_CREAT | os.O_APPEND | os.O_WRONLY, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write("".join(json.dumps(record) + "\n" for record in records))


def load(run_dir: Path) -> Journal:
    """The journal in ``run_dir``; an empty one if there is none (blocking).

    A last line cut short (the server died while appending it) is ignored.
    """
    try:
        lines = (run_dir / JOURNAL_NAME).read_text().splitlines()
    except FileNotFoundError:
        return Journal()
    table = json.loads(lines[0])
    jobs = {entry["job-id"]: entry for entry in table["jobs"]}
    next_node = int(table["next-node"])
    for line in lines[1:]:
        try:
            record = json.loads(line)
        except ValueError:
            break
        if "add" in record:
            jobs[record["add"]["job-id"]] = record["add"]
        else:
            jobs.pop(record["drop"], None)
        next_node = max(next_node, int(record["next-node"]))
    return Journal(tuple(decode(entry) for entry in jobs.values()), next_node)
