"""What ``progress`` shows: finished rows stay a while, an empty screen
says so, and an unreachable server is one status line."""

from __future__ import annotations

import io

from rich.console import Console

from qapi_jobs.client.cli.watching import _Rows
from qapi_jobs.client.errors import Unavailable
from qapi_jobs.client.items import JobsSnapshot
from qapi_jobs.v1 import job_pb2


def _screen(rows: _Rows) -> str:
    out = io.StringIO()
    Console(file=out, width=120, color_system=None).print(rows.render())
    return out.getvalue()


def _snapshot(*jobs: job_pb2.JobInfo) -> JobsSnapshot:
    return JobsSnapshot(tuple(jobs), 1, "A")


def test_a_dismissed_job_keeps_its_row_with_its_last_status() -> None:
    rows = _Rows(keep=3600)
    assert _screen(rows).strip() == "no jobs"
    failed = job_pb2.JobInfo(
        id="b1", type=job_pb2.JOB_TYPE_BACKUP, status=job_pb2.JOB_STATUS_CONCLUDED, error="boom"
    )
    rows.update(_snapshot(failed))
    rows.update(_snapshot())
    screen = _screen(rows)
    assert "b1 backup concluded boom (dismissed)" in screen
    rows.keep = 0
    rows.update(_snapshot())
    assert _screen(rows).strip() == "no jobs"


def test_an_unreachable_server_is_one_line_until_the_next_snapshot() -> None:
    rows = _Rows(keep=10)
    for delay in (0.5, 1.0, 2.0):
        rows.unreachable(Unavailable("Connection refused"), delay)
    lines = _screen(rows).splitlines()
    assert lines == ["no jobs", "server unreachable (UNAVAILABLE); retrying in 2.0s"]
    rows.update(_snapshot())
    assert _screen(rows).strip() == "no jobs"
