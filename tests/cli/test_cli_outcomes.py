"""The first hour with ``qapi-jobs``, as separate processes: failures look
like failures, ``--wait``, sizes on every integer, addresses, errors, help."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from qapi_jobs.client.cli import exitcodes
from qapi_jobs.client.cli.main import client_version
from tests.support.cli import Result, run_script
from tests.support.servers import ThreadedServer

DOCS = Path(__file__).resolve().parents[2] / "docs" / "client.md"
TOO_LARGE = "File too large"


@pytest.fixture
def server(threaded_server: ThreadedServer) -> ThreadedServer:
    """The module's server."""
    return threaded_server


def _raw(name: str, size: str) -> str:
    return json.dumps({"driver": "raw", "filename": name, "size": size})


def _at(server: ThreadedServer, *argv: str) -> Result:
    return run_script("--server", server.address, *argv)


def test_a_job_that_fails_fails_wait(server: ThreadedServer, job_id: str) -> None:
    created = _at(server, "blockdev-create", "--job-id", job_id, "--options", _raw(job_id, "1E"))
    assert created.code == 0, created.err
    waited = _at(server, "wait", job_id)
    assert waited.code == exitcodes.JOB_FAILED and waited.out == ""
    assert (
        waited.err
        == f"qapi-jobs: job '{job_id}' failed: Could not create '{job_id}': {TOO_LARGE}\n"
    )
    as_json = _at(server, "--json", "wait", job_id)
    assert as_json.code == exitcodes.JOB_FAILED and TOO_LARGE in as_json.err
    assert TOO_LARGE in json.loads(as_json.out)["error"]
    allowed = _at(server, "wait", job_id, "--allow-failure")
    assert (allowed.code, allowed.out) == (0, f"{job_id} concluded\n")
    assert _at(server, "job-dismiss", "--id", job_id).code == 0


def test_wait_flag_gives_the_outcome(server: ThreadedServer, job_id: str) -> None:
    failed = _at(
        server, "blockdev-create", "--job-id", job_id, "--options", _raw(job_id, "1E"), "--wait"
    )
    assert failed.code == exitcodes.JOB_FAILED and TOO_LARGE in failed.err
    assert failed.out.splitlines()[-1].startswith(f"{job_id} concluded")
    made = _at(
        server, "blockdev-create", "--job-id", f"{job_id}-ok", "--options",
        _raw(f"{job_id}-ok.raw", "1M"), "--wait",
    )  # fmt: skip
    assert made.code == 0, made.err
    assert made.out.splitlines()[-1] == f"{job_id}-ok concluded 100%"
    (server.data_dir / f"{job_id}-src.raw").write_bytes(b"\x01" * (1 << 20))
    backup = _at(
        server, "drive-backup", "--device", f"{job_id}-src.raw", "--target",
        f"{job_id}-copy.raw", "--sync", "full", "--speed", "64M", "--wait",
    )  # fmt: skip
    assert backup.code == 0, backup.err
    assert backup.out.splitlines()[-1] == f"{job_id}-src.raw concluded"
    assert (server.data_dir / f"{job_id}-copy.raw").read_bytes() == b"\x01" * (1 << 20)
    mirror = _at(
        server, "--json", "drive-mirror", "--job-id", f"{job_id}-m", "--device",
        f"{job_id}-src.raw", "--target", f"{job_id}-m.raw", "--sync", "full",
        "--buf-size", "1M", "--granularity", "64K", "--wait",
    )  # fmt: skip
    assert mirror.code == 0, mirror.err
    assert json.loads(mirror.out)["status"] == "ready"
    assert _at(server, "job-cancel", "--id", f"{job_id}-m").code == 0
    assert _at(server, "wait", f"{job_id}-m", "--status", "null").code == 0
    help_text = _at(server, "drive-mirror", "--help").out
    assert "--wait" in help_text and "once it is ready" in " ".join(help_text.split())


def test_a_transaction_waits_for_every_job(server: ThreadedServer, job_id: str) -> None:
    for n in (1, 2):
        (server.data_dir / f"{job_id}-src{n}.raw").write_bytes(b"\x02" * (256 << 10))
    actions = [
        {
            "type": "drive-backup",
            "data": {
                "job-id": f"{job_id}-{n}",
                "device": f"{job_id}-src{n}.raw",
                "target": f"{job_id}-{n}.raw",
                "sync": "full",
                "speed": "1M",
            },
        }
        for n in (1, 2)
    ]
    done = _at(server, "--json", "transaction", "--actions", json.dumps(actions), "--wait")
    assert done.code == 0, done.err
    assert [(j["id"], j["status"]) for j in map(json.loads, done.out.splitlines())] == [
        (f"{job_id}-1", "concluded"),
        (f"{job_id}-2", "concluded"),
    ]


def test_every_integer_takes_size_suffixes(server: ThreadedServer, job_id: str) -> None:
    (server.data_dir / f"{job_id}.raw").write_bytes(b"\x03" * (1 << 20))
    started = _at(
        server, "drive-backup", "--job-id", job_id, "--device", f"{job_id}.raw", "--target",
        f"{job_id}-copy.raw", "--sync", "full", "--speed", "64K", "--auto-dismiss", "false",
    )  # fmt: skip
    assert started.code == 0, started.err
    assert _at(server, "block-job-set-speed", "--device", job_id, "--speed", "1.5K").code == 0
    speeds = json.loads(_at(server, "--json", "query-block-jobs").out)
    assert [b["speed"] for b in speeds if b["device"] == job_id] == [1536]
    assert _at(server, "job-cancel", "--id", job_id).code == 0
    cancelled = _at(server, "wait", job_id)
    assert cancelled.code == exitcodes.JOB_FAILED and "Operation canceled" in cancelled.err
    assert _at(server, "job-dismiss", "--id", job_id).code == 0
    bad = _at(server, "block-job-set-speed", "--device", job_id, "--speed", "64Q")
    assert bad.code == exitcodes.USAGE and "'64Q' is not a valid int" in bad.err
    help_text = " ".join(_at(server, "drive-mirror", "--help").out.split())
    assert "--granularity N" in help_text and "suffixes K, M, G, T, P, E" in help_text


def test_server_addresses(server: ThreadedServer) -> None:
    as_url = run_script("--server", f"http://{server.address}/", "--json", "jobs")
    assert as_url.code == 0, as_url.err
    for address, text in (
        ("127.0.0.1:99999", "the port must be a number from 1 to 65535"),
        (f"https://{server.address}", "asks for TLS: add --tls"),
        (f"ftp://{server.address}", "unknown scheme 'ftp'"),
    ):
        refused = run_script("--server", address, "jobs")
        assert refused.code == exitcodes.USAGE and text in refused.err, (address, refused.err)
    tls = run_script("--server", server.address, "--tls", "--timeout", "5", "jobs")
    assert tls.code == exitcodes.UNREACHABLE
    assert "hint: the server may not use TLS" in tls.err


def test_errors_show_the_details(server: ThreadedServer) -> None:
    missing = _at(server, "job-dismiss", "--id", "nothing-here")
    assert missing.code == exitcodes.NOT_FOUND
    assert missing.err.splitlines() == [
        "qapi-jobs: Job not found (NOT_FOUND, JOB_NOT_FOUND)",
        "  job_id: nothing-here",
    ]


def test_version_and_usage() -> None:
    shown = run_script("--version")
    assert (shown.code, shown.out) == (0, f"qapi-jobs-client {client_version()}\n")
    assert re.fullmatch(r"qapi-jobs-client \d+\.\d+\.\d+\S*\n", shown.out)
    unknown = run_script("jobs", "--bogus")
    assert unknown.code == exitcodes.USAGE
    assert unknown.err.startswith("usage: qapi-jobs jobs ")
    assert "unrecognized arguments: --bogus" in unknown.err


def test_the_exit_codes_are_documented_as_they_are() -> None:
    help_text = run_script("--help").out
    documented = re.findall(r"^\| (\d+) \| ", DOCS.read_text(encoding="utf-8"), re.MULTILINE)
    assert [int(code) for code in documented] == [code for code, _ in exitcodes.TABLE]
    for code, meaning in exitcodes.TABLE:
        assert re.search(rf"^  {code}\s+{re.escape(meaning[:30])}", help_text, re.MULTILINE)


def test_progress_says_no_jobs(tmp_path: Path) -> None:
    empty = ThreadedServer(tmp_path).start()
    try:
        shown = run_script("--server", empty.address, "progress", "--until-idle")
    finally:
        empty.stop()
    assert (shown.code, shown.out.strip()) == (0, "no jobs")


def test_every_command_that_starts_jobs_has_wait() -> None:
    from qapi_jobs.client.cli.following import starts_jobs
    from qapi_jobs.client.generated import COMMANDS

    assert {info.name for info in COMMANDS if starts_jobs(info)} == {
        "blockdev-create",
        "x-blockdev-amend",
        "drive-backup",
        "drive-mirror",
        "block-stream",
        "block-commit",
        "transaction",
    }
