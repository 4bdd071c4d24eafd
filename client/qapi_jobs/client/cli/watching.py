"""The subcommands that look at jobs: ``jobs``, ``watch``, ``progress``, ``wait``."""

from __future__ import annotations

import argparse
import contextlib
import sys
import time

from rich.console import Group, RenderableType
from rich.live import Live
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from qapi_jobs.client.cli import exitcodes
from qapi_jobs.client.cli.connection import add_connection_options, connect, note_retry
from qapi_jobs.client.cli.output import (
    console,
    error_line,
    event_line,
    item_json,
    jobs_table,
    print_json,
    resync_lines,
    snapshot_json,
)
from qapi_jobs.client.errors import QapiJobsError
from qapi_jobs.client.follow import JobEndedError
from qapi_jobs.client.items import EventItem, JobsSnapshot, Resync, status_name
from qapi_jobs.transcoder import message_to_qmp
from qapi_jobs.v1 import job_pb2

_ACTIVE = frozenset(
    {
        job_pb2.JOB_STATUS_CREATED,
        job_pb2.JOB_STATUS_RUNNING,
        job_pb2.JOB_STATUS_PAUSED,
        job_pb2.JOB_STATUS_READY,
        job_pb2.JOB_STATUS_STANDBY,
        job_pb2.JOB_STATUS_WAITING,
        job_pb2.JOB_STATUS_PENDING,
        job_pb2.JOB_STATUS_ABORTING,
    }
)


def add_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``jobs``, ``watch``, ``progress`` and ``wait``."""
    sub = commands.add_parser(
        "jobs", help="list the jobs", description="List every job, newest first."
    )
    add_connection_options(sub, suppress=True)
    sub.set_defaults(run=run_jobs)

    sub = commands.add_parser(
        "watch",
        help="print events as they happen",
        description="Print every event as it happens, resuming by itself when the stream "
        "breaks or the server restarts.  With --json, one JSON object per line: events in "
        'QMP form plus "sequence" and "instance_id", and {"resync": ...} when the jobs were '
        "listed afresh.",
    )
    sub.add_argument(
        "--from",
        dest="after_sequence",
        type=int,
        metavar="SEQ",
        help="start after event SEQ (from an earlier watch) instead of now",
    )
    sub.add_argument(
        "--instance", default="", metavar="ID", help="the server instance SEQ came from"
    )
    sub.add_argument(
        "--snapshot", action="store_true", help="start with the current state of every job"
    )
    sub.add_argument(
        "--job",
        action="append",
        default=[],
        metavar="ID",
        help="only events of this job (repeatable)",
    )
    sub.add_argument(
        "--event",
        action="append",
        default=[],
        metavar="NAME",
        help="only this event, e.g. JOB_STATUS_CHANGE (repeatable)",
    )
    sub.add_argument("--count", type=int, metavar="N", help="exit after N events")
    add_connection_options(sub, suppress=True)
    sub.set_defaults(run=run_watch)

    sub = commands.add_parser(
        "progress",
        help="show live progress bars",
        description="Show a progress bar per job, updated as the jobs progress; a job that "
        "ends keeps its row with its final status for a while.  While the server cannot be "
        "reached, one status line says so.  With --job the command ends once that job has "
        "concluded or is gone.",
    )
    sub.add_argument("--job", default="", metavar="ID", help="only this job")
    sub.add_argument(
        "--interval", type=float, default=0.2, metavar="S", help="shortest time between updates"
    )
    sub.add_argument(
        "--until-idle", action="store_true", help="exit once no job is active any more"
    )
    sub.add_argument(
        "--keep",
        type=float,
        default=10.0,
        metavar="S",
        help="keep the row of a job that left the list (dismissed) with its last status "
        "for at least S seconds (default: 10)",
    )
    add_connection_options(sub, suppress=True)
    sub.set_defaults(run=run_progress)

    sub = commands.add_parser(
        "wait",
        help="wait until a job reaches a status",
        description="Wait until the job reaches one of the statuses (default: concluded) and "
        "print it.  A job that concludes with an error or is cancelled is a failure whatever "
        "was waited for: exit code 9 with its error (also when it concludes or vanishes "
        "without reaching the status), 10 on timeout.",
    )
    sub.add_argument("job_id", metavar="JOB_ID")
    sub.add_argument(
        "--status",
        action="append",
        default=[],
        choices=[status_name(v) for v in sorted(job_pb2.JobStatus.values()) if v],
        help="a status to wait for (repeatable; default: concluded)",
    )
    sub.add_argument(
        "--wait-timeout", type=float, metavar="S", help="give up after S seconds (default: never)"
    )
    sub.add_argument(
        "--allow-failure",
        action="store_true",
        help="a job that failed or was cancelled counts like any other (exit 0 once it "
        "reaches the status)",
    )
    add_connection_options(sub, suppress=True)
    sub.set_defaults(run=run_wait)


def run_jobs(args: argparse.Namespace) -> int:
    """``qapi-jobs jobs``."""
    with connect(args) as client:
        jobs = client.query_jobs()
    if args.json:
        print_json([message_to_qmp(info) for info in jobs])
    else:
        console().print(jobs_table(jobs))
    return exitcodes.OK


def run_watch(args: argparse.Namespace) -> int:
    """``qapi-jobs watch``."""
    out = console()
    seen = 0
    with connect(args, probe=True) as client:
        items = client.watch_events(
            after_sequence=args.after_sequence,
            instance_id=args.instance,
            snapshot=args.snapshot,
            job_ids=args.job,
            event_names=args.event,
        )
        with contextlib.closing(items):
            if args.count is not None and args.count <= 0:
                return exitcodes.OK
            for item in items:
                if args.json:
                    print_json(item_json(item))
                elif isinstance(item, Resync):
                    for line in resync_lines(item):
                        out.print(line)
                elif isinstance(item, EventItem):
                    out.print(event_line(item))
                if isinstance(item, EventItem):
                    seen += 1
                    if args.count is not None and seen >= args.count:
                        break
    return exitcodes.OK


def _done(snapshot: JobsSnapshot, job_id: str, until_idle: bool) -> bool:
    if job_id:
        return all(info.status == job_pb2.JOB_STATUS_CONCLUDED for info in snapshot.jobs)
    return until_idle and not any(info.status in _ACTIVE for info in snapshot.jobs)


def _describe(info: job_pb2.JobInfo, note: str = "") -> str:
    kind = message_to_qmp(info).get("type", "")
    text = f"{info.id} [dim]{kind}[/] {status_name(info.status)}"
    if info.HasField("error"):
        text += f" [red]{info.error}[/]"
    if note:
        text += f" [dim]({note})[/]"
    return text


class _Rows:
    """The rows of ``progress``: one bar per job, kept with its final status
    for ``keep`` seconds after the job left the server's list, plus one
    status line while the server cannot be reached."""

    def __init__(self, keep: float) -> None:
        self.keep = keep
        self.bars = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
            DownloadColumn(binary_units=True),
            TimeRemainingColumn(),
            console=console(),
        )
        self.tasks: dict[str, TaskID] = {}
        self.last: dict[str, job_pb2.JobInfo] = {}
        self.gone: dict[str, float] = {}
        self.note = ""

    def render(self) -> RenderableType:
        """What the screen shows now."""
        parts: list[RenderableType] = [self.bars if self.tasks else Text("no jobs", style="dim")]
        if self.note:
            parts.append(Text(self.note, style="yellow"))
        return Group(*parts)

    def update(self, snapshot: JobsSnapshot) -> None:
        """Take in a snapshot of the jobs."""
        self.note = ""
        now = time.monotonic()
        for info in reversed(snapshot.jobs):
            self.gone.pop(info.id, None)
            self.last[info.id] = info
            total = info.total_progress or None
            if info.id not in self.tasks:
                self.tasks[info.id] = self.bars.add_task(_describe(info), total=total)
            self.bars.update(
                self.tasks[info.id],
                description=_describe(info),
                completed=info.current_progress,
                total=total,
            )
        listed = {info.id for info in snapshot.jobs}
        for job_id in [j for j in self.tasks if j not in listed]:
            since = self.gone.setdefault(job_id, now)
            if since == now:
                self.bars.update(
                    self.tasks[job_id], description=_describe(self.last[job_id], "dismissed")
                )
            if now - since >= self.keep:
                self.bars.remove_task(self.tasks.pop(job_id))
                del self.gone[job_id], self.last[job_id]

    def unreachable(self, error: QapiJobsError, delay: float) -> None:
        """The watch lost the server: say so on the one status line."""
        self.note = f"server unreachable ({error.code.name}); retrying in {delay:.1f}s"


def run_progress(args: argparse.Namespace) -> int:
    """``qapi-jobs progress``."""
    rows = _Rows(args.keep)
    live: Live | None = None

    def unreachable(error: QapiJobsError, delay: float) -> None:
        rows.unreachable(error, delay)
        if live is not None:
            live.update(rows.render(), refresh=True)

    with connect(args, probe=True, on_retry=note_retry if args.json else unreachable) as client:
        snapshots = client.watch_jobs(args.job, min_interval=args.interval)
        with contextlib.closing(snapshots):
            if args.json:
                for snapshot in snapshots:
                    print_json(snapshot_json(snapshot))
                    if _done(snapshot, args.job, args.until_idle):
                        break
                return exitcodes.OK
            with Live(rows.render(), console=rows.bars.console, auto_refresh=False) as live:
                for snapshot in snapshots:
                    rows.update(snapshot)
                    live.update(rows.render(), refresh=True)
                    if _done(snapshot, args.job, args.until_idle):
                        break
    return exitcodes.OK


def run_wait(args: argparse.Namespace) -> int:
    """``qapi-jobs wait``."""
    statuses = args.status or ["concluded"]
    with connect(args, probe=True) as client:
        try:
            info = client.wait_for_status(
                args.job_id, statuses, check=not args.allow_failure, timeout=args.wait_timeout
            )
        except JobEndedError as err:
            if args.json and err.info is not None:
                print_json(message_to_qmp(err.info))
            print(error_line(err), file=sys.stderr)
            return exitcodes.JOB_FAILED
        except TimeoutError:
            print(
                f"qapi-jobs: job {args.job_id!r} did not reach {'/'.join(statuses)} in time",
                file=sys.stderr,
            )
            return exitcodes.TIMED_OUT
    if args.json:
        print_json(message_to_qmp(info))
    else:
        console().print(f"{info.id} {status_name(info.status)}", markup=False)
    return exitcodes.OK
