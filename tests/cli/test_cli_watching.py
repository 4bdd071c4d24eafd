"""``watch``, ``progress`` and ``serve`` as separate processes, like a user runs them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
from pathlib import Path

from qapi_jobs.client import JobsClient
from tests.support.cli import QAPI_JOBS, Cli
from tests.support.servers import ThreadedServer, free_port

STATUSES = ["created", "running", "waiting", "pending", "concluded"]


class Script:
    """``qapi-jobs ARGS`` running in the background, its stdout read line by line."""

    def __init__(self, *argv: str, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [str(QAPI_JOBS), *argv],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=dict(os.environ, **env),
        )
        self.lines: list[str] = []
        self._first = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)
            self._first.set()
        self._first.set()

    def first_line(self) -> str:
        assert self._first.wait(30), "no output"
        return self.lines[0]

    def finish(self) -> tuple[int, str]:
        code = self.process.wait(30)
        assert self.process.stderr is not None
        return code, self.process.stderr.read()


def test_watch_prints_events_as_json_lines(
    cli: Cli, threaded_server: ThreadedServer, job_id: str
) -> None:
    env = {"QAPI_JOBS_SERVER": threaded_server.address}
    watch = Script("watch", "--json", "--snapshot", "--job", job_id, "--count", "5", env=env)
    human = Script("watch", "--snapshot", "--job", job_id, "--count", "5", env=env)
    resync = json.loads(watch.first_line())["resync"]
    assert resync["reason"] == "INITIAL" and resync["jobs"] == []
    assert "-- initial: 0 job(s)" in human.first_line()
    options = json.dumps({"driver": "raw", "filename": f"{job_id}.raw", "size": 4096})
    assert cli("blockdev-create", "--job-id", job_id, "--options", options).code == 0
    assert watch.finish() == (0, "")
    assert human.finish() == (0, "")
    events = [json.loads(line) for line in watch.lines[1:]]
    assert [e["data"]["status"] for e in events] == STATUSES
    assert all(e["event"] == "JOB_STATUS_CHANGE" and e["data"]["id"] == job_id for e in events)
    sequences = [e["sequence"] for e in events]
    assert sequences == list(range(resync["sequence"] + 1, resync["sequence"] + 6))
    assert {"seconds", "microseconds"} <= events[0]["timestamp"].keys()
    for line, status in zip(human.lines[-5:], STATUSES, strict=True):
        assert line.rstrip().endswith(f"JOB_STATUS_CHANGE id={job_id} status={status}")
    resumed = cli(
        "watch", "--json", "--from", str(sequences[2]), "--instance", events[0]["instance_id"],
        "--job", job_id, "--count", "2",
    )  # fmt: skip
    assert resumed.code == 0
    assert [json.loads(line)["sequence"] for line in resumed.out.splitlines()] == sequences[3:5]
    assert cli("job-dismiss", "--id", job_id).code == 0


def test_progress_follows_a_job_to_its_end(
    cli: Cli, threaded_server: ThreadedServer, job_id: str
) -> None:
    (threaded_server.data_dir / f"{job_id}-src.raw").write_bytes(b"\x09" * (1 << 20))
    started = cli(
        "drive-backup", "--job-id", job_id, "--device", f"{job_id}-src.raw",
        "--target", f"{job_id}-copy.raw", "--sync", "full", "--speed", str(4 << 20),
        "--auto-dismiss", "false",
    )  # fmt: skip
    assert started.code == 0, started.err
    shown = cli("progress", "--json", "--job", job_id, "--interval", "0.05")
    assert shown.code == 0, shown.err
    snapshots = [json.loads(line) for line in shown.out.splitlines()]
    assert snapshots[-1]["jobs"][0]["status"] == "concluded"
    progress = [s["jobs"][0]["current-progress"] for s in snapshots]
    assert progress == sorted(progress) and progress[-1] == 1 << 20
    bars = cli("progress", "--job", job_id)
    assert bars.code == 0 and f"{job_id} backup concluded" in bars.out and "100%" in bars.out
    assert cli("job-dismiss", "--id", job_id).code == 0
    idle = cli("progress", "--json", "--until-idle")
    assert idle.code == 0 and all(
        j["status"] == "concluded" for j in json.loads(idle.out.splitlines()[-1])["jobs"]
    )
    gone = cli("progress", "--job", job_id)
    assert gone.code == 4 and "Job not found" in gone.err


def test_serve_runs_the_server(tmp_path: Path) -> None:
    port = free_port()
    process = subprocess.Popen(
        [str(QAPI_JOBS), "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == f"qapi-jobs listening on 127.0.0.1:{port}"
        with JobsClient(f"127.0.0.1:{port}") as client:
            assert client.query_jobs() == []
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
        for pipe in (process.stdout, process.stderr):
            assert pipe is not None
            pipe.close()
