"""How ``qapi-jobs`` shows things: tables, event lines, JSON, errors.

Human output goes through rich (colours only on a terminal); ``--json``
output is QMP-form JSON (what the transcoder's ``message_to_qmp`` gives),
one document per line, for scripts.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from datetime import UTC
from typing import Any, TextIO

import grpc
from rich.console import Console
from rich.table import Table

from qapi_jobs.client.errors import QapiJobsError
from qapi_jobs.client.items import EventItem, Heartbeat, JobsSnapshot, Resync, status_name
from qapi_jobs.transcoder import message_to_qmp
from qapi_jobs.v1 import job_pb2

_STATUS_STYLES = {
    "running": "green",
    "ready": "cyan",
    "paused": "yellow",
    "standby": "yellow",
    "pending": "magenta",
    "waiting": "magenta",
    "aborting": "red",
    "concluded": "bold",
}


def console(stream: TextIO | None = None) -> Console:
    """A rich console on ``stream`` (stdout by default)."""
    return Console(file=stream or sys.stdout, highlight=False, soft_wrap=True)


def print_json(value: Any, stream: TextIO | None = None) -> None:
    """One compact JSON document on its own line."""
    out = stream or sys.stdout
    out.write(json.dumps(value, separators=(",", ":"), sort_keys=False) + "\n")
    out.flush()


def error_line(err: BaseException, address: str = "", *, tls: bool = False) -> str:
    """What ``qapi-jobs`` prints on stderr for an error: one line, then the
    server's BadRequest fields and ErrorInfo facts indented below it and
    its hint (or one of ours for an unreachable server) as ``hint: ...``."""
    if not isinstance(err, QapiJobsError):
        return f"qapi-jobs: {err}"
    parts = [err.code.name]
    if err.reason:
        parts.append(err.reason)
    message = err.message
    unreachable = err.code is grpc.StatusCode.UNAVAILABLE and not err.reason
    if address and unreachable:
        message = f"cannot reach {address}: {message}"
    lines = [f"qapi-jobs: {message} ({', '.join(parts)})"]
    lines += [f"  {v.field}: {v.description}" for v in err.field_violations]
    lines += [f"  {key}: {value}" for key, value in sorted(err.facts.items())]
    hint = err.hint or (connection_hint(err.message, address, tls=tls) if unreachable else None)
    if hint:
        lines.append(f"hint: {hint}")
    return "\n".join(lines)


def connection_hint(message: str, address: str, *, tls: bool) -> str | None:
    """A hint for gRPC's own text about a connection that failed."""
    where = f" at {address}" if address else ""
    if "Connection refused" in message or "connection refused" in message:
        return (
            f"is the server running{where}? Start one with 'qapi-jobs serve', or point "
            "--server (or $QAPI_JOBS_SERVER) at the right HOST:PORT"
        )
    if not tls and "Socket closed" in message:
        return "the server may expect TLS: add --tls (and --tls-ca FILE for a private CA)"
    if tls and ("WRONG_VERSION_NUMBER" in message or "handshake" in message.lower()):
        return "the server may not use TLS: drop --tls and the --tls-* options"
    if "DNS resolution failed" in message:
        return "check the host name in --server (or $QAPI_JOBS_SERVER)"
    return None


def percent(info: job_pb2.JobInfo) -> str:
    """Progress as a percentage ('' when the total is unknown)."""
    if info.total_progress <= 0:
        return ""
    return f"{100 * info.current_progress / info.total_progress:.0f}%"


def jobs_table(jobs: Iterable[job_pb2.JobInfo]) -> Table:
    """A table of jobs: id, type, status, progress, error."""
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("ID", "TYPE", "STATUS", "PROGRESS", "DONE", "TOTAL", "ERROR"):
        table.add_column(
            column, justify="right" if column in ("PROGRESS", "DONE", "TOTAL") else "left"
        )
    for info in jobs:
        status = status_name(info.status)
        kind = message_to_qmp(info).get("type", "")
        table.add_row(
            info.id,
            str(kind),
            f"[{_STATUS_STYLES.get(status, '')}]{status}[/]"
            if status in _STATUS_STYLES
            else status,
            percent(info),
            str(info.current_progress),
            str(info.total_progress),
            info.error if info.HasField("error") else "",
        )
    return table


def _timestamp(item: EventItem) -> str:
    if not item.event.HasField("timestamp"):
        return "-"
    when = item.event.timestamp.ToDatetime(tzinfo=UTC)
    return when.astimezone().isoformat(timespec="milliseconds")


def event_line(item: EventItem) -> str:
    """``SEQ TIME NAME key=value ...`` for one event, marked if the server made it."""
    data = " ".join(f"{key}={value}" for key, value in item.data.items())
    mark = " (synthetic)" if item.synthetic else ""
    return f"{item.sequence:>6} {_timestamp(item)} {item.name} {data}{mark}".rstrip()


def resync_lines(item: Resync) -> list[str]:
    """What a human sees for a snapshot: one line per job, then a marker."""
    lines = []
    for snapshot in item.jobs:
        info = snapshot.job
        lines.append(
            f"{'':>6} snapshot {info.id} {status_name(info.status)} {percent(info)}".rstrip()
        )
    lines.append(f"{item.sequence:>6} -- {item.reason.lower()}: {len(item.jobs)} job(s)")
    return lines


def item_json(item: EventItem | Resync | Heartbeat) -> dict[str, Any]:
    """The ``--json`` line of a watch item."""
    if isinstance(item, EventItem):
        line = {"sequence": item.sequence, "instance_id": item.instance_id, **item.qmp()}
        return line | {"synthetic": True} if item.synthetic else line
    if isinstance(item, Resync):
        return {
            "resync": {
                "reason": item.reason,
                "sequence": item.sequence,
                "instance_id": item.instance_id,
                "jobs": [_snapshot_json(s) for s in item.jobs],
            }
        }
    return {"heartbeat": {"sequence": item.sequence, "instance_id": item.instance_id}}


def _snapshot_json(snapshot: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"job": message_to_qmp(snapshot.job)}
    if snapshot.HasField("block_job"):
        out["block-job"] = message_to_qmp(snapshot.block_job)
    return out


def snapshot_json(snapshot: JobsSnapshot) -> dict[str, Any]:
    """The ``--json`` line of a WatchJobs snapshot."""
    return {
        "sequence": snapshot.sequence,
        "instance_id": snapshot.instance_id,
        "resync": snapshot.resync,
        "jobs": [message_to_qmp(info) for info in snapshot.jobs],
    }
