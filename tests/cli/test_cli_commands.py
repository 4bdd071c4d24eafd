"""Schema commands on the command line: options from the members, JSON in QMP form,
exit codes per refusal, one error line."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.cli import Cli, run_script
from tests.support.servers import ThreadedServer


def _raw(name: str, size: str = "1M") -> str:
    return json.dumps({"driver": "raw", "filename": name, "size": size})


def test_help_comes_from_the_schema(cli: Cli) -> None:
    top = cli("--help")
    assert top.code == 0
    assert "blockdev-create" in top.out and "Start a job that creates an image file." in top.out
    assert "3    cannot reach the server" in top.out
    sub = cli("blockdev-create", "--help")
    assert sub.code == 0
    assert "once it is concluded, read its outcome with query-jobs" in sub.out
    assert "--job-id TEXT" in sub.out and "--options JSON" in sub.out
    assert "Errors:\n  - the identifier is invalid or in use" in sub.out
    backup = cli("drive-backup", "--help")
    assert "{report,ignore,enospc,stop,auto}" in backup.out
    assert "--auto-finalize [BOOL]" in backup.out


def test_create_wait_list_and_dismiss(
    cli: Cli, threaded_server: ThreadedServer, job_id: str
) -> None:
    created = cli("blockdev-create", "--job-id", job_id, "--options", _raw(f"{job_id}.raw", "2M"))
    assert (created.code, created.out, created.err) == (0, "", "")
    waited = cli("wait", job_id, "--json")
    assert waited.code == 0
    info = json.loads(waited.out)
    assert info["status"] == "concluded" and info["total-progress"] == 2 << 20
    assert (threaded_server.data_dir / f"{job_id}.raw").stat().st_size == 2 << 20
    listed = cli("--json", "jobs")
    assert {"id": job_id, "type": "create", "status": "concluded"}.items() <= next(
        j for j in json.loads(listed.out) if j["id"] == job_id
    ).items()
    table = cli("jobs")
    assert job_id in table.out and "concluded" in table.out and "100%" in table.out
    dismissed = cli("job-dismiss", "--id", job_id, "--json")
    assert (dismissed.code, json.loads(dismissed.out)) == (0, {})
    queried = cli("query-jobs", "--json")
    assert job_id not in {j["id"] for j in json.loads(queried.out)}


def test_refusals_have_exit_codes_and_one_line(
    cli: Cli, threaded_server: ThreadedServer, job_id: str
) -> None:
    missing = cli("job-pause", "--id", "nope")
    assert missing.code == 4 and missing.out == ""
    assert missing.err == "qapi-jobs: Job not found (NOT_FOUND, JOB_NOT_FOUND)\n  job_id: nope\n"
    invalid = cli("blockdev-create", "--job-id", "bad/id", "--options", _raw("b.raw"))
    assert invalid.code == 6 and "Invalid job ID 'bad/id'" in invalid.err
    (threaded_server.data_dir / f"{job_id}-src.raw").write_bytes(b"\x05" * (1 << 20))
    started = cli(
        "drive-backup",
        "--job-id",
        job_id,
        "--device",
        f"{job_id}-src.raw",
        "--target",
        f"{job_id}-copy.raw",
        "--sync",
        "full",
        "--speed",
        "65536",
        "--auto-dismiss",
        "false",
    )
    assert started.code == 0, started.err
    assert cli("wait", job_id, "--status", "running").code == 0
    wrong = cli("job-complete", "--id", job_id)
    assert wrong.code == 5
    first, *facts = wrong.err.splitlines()
    assert "cannot accept command verb 'complete'" in first
    assert facts == [f"  job_id: {job_id}", "  status: running", "  verb: complete"]
    taken = cli("blockdev-create", "--job-id", job_id, "--options", _raw(f"{job_id}-2.raw"))
    assert taken.code == 7
    assert cli("job-cancel", "--id", job_id).code == 0
    failed = cli("wait", job_id, "--status", "ready", "--json")
    assert failed.code == 9
    assert failed.err == f"qapi-jobs: job '{job_id}' failed: Operation canceled\n"
    assert json.loads(failed.out)["error"] == "Operation canceled"
    assert cli("job-dismiss", "--id", job_id).code == 0
    assert cli("wait", job_id, "--status", "null").code == 0


def test_bad_values_are_usage_errors(cli: Cli, tmp_path: Path) -> None:
    bad_json = cli("blockdev-create", "--job-id", "x", "--options", "{nope")
    assert bad_json.code == 2 and "is not valid JSON" in bad_json.err
    bad_size = cli("blockdev-create", "--job-id", "x", "--options", _raw("x.raw", "1Q"))
    assert bad_size.code == 2 and "'1Q' is not a size" in bad_size.err
    bad_member = cli("blockdev-create", "--job-id", "x", "--options", '{"driver": "raw"}')
    assert bad_member.code == 2 and "$.options" in bad_member.err
    bad_int = cli("block-job-set-speed", "--device", "x", "--speed", "fast")
    assert bad_int.code == 2 and "'fast' is not a valid int" in bad_int.err
    missing_file = cli("blockdev-create", "--job-id", "x", "--options", f"@{tmp_path}/none.json")
    assert missing_file.code == 2 and "cannot read" in missing_file.err
    assert cli("blockdev-create", "--job-id", "x").code == 2  # --options is required
    assert cli("drive-backup", "--device", "a", "--target", "b", "--sync", "sideways").code == 2


def test_json_from_a_file_and_a_transaction(
    cli: Cli, threaded_server: ThreadedServer, tmp_path: Path
) -> None:
    options = tmp_path / "options.json"
    options.write_text(_raw("from-file.raw", "64k"))
    assert cli("blockdev-create", "--job-id", "ff", "--options", f"@{options}").code == 0
    assert cli("wait", "ff").code == 0
    assert (threaded_server.data_dir / "from-file.raw").stat().st_size == 64 << 10
    assert cli("job-dismiss", "--id", "ff").code == 0
    aborted = cli("transaction", "--actions", '[{"type": "abort", "data": {}}]')
    assert aborted.code == 6
    assert aborted.err == (
        "qapi-jobs: Transaction aborted using Abort action"
        " (INVALID_ARGUMENT, TRANSACTION_ABORTED)\n"
    )
    (threaded_server.data_dir / "t-src.raw").write_bytes(b"\x07" * (256 << 10))
    action = {
        "type": "drive-backup",
        "data": {"job-id": "t1", "device": "t-src.raw", "target": "t1.raw", "sync": "full"},
    }
    grouped = cli(
        "transaction",
        "--actions",
        json.dumps([action]),
        "--properties",
        '{"completion-mode": "grouped"}',
    )
    assert grouped.code == 0, grouped.err
    assert cli("wait", "t1", "--status", "null").code == 0
    assert (threaded_server.data_dir / "t1.raw").read_bytes() == b"\x07" * (256 << 10)


def test_a_server_that_is_not_there(cli: Cli) -> None:
    backup = ["drive-backup", "--device", "a", "--target", "b", "--sync", "full", "--wait"]
    for command in (
        ["jobs"],
        ["watch"],
        ["progress"],
        ["wait", "j"],
        ["job-pause", "--id", "j"],
        backup,
    ):
        unreachable = cli("--server", "127.0.0.1:1", "--timeout", "5", *command)
        assert unreachable.code == 3, command
        assert unreachable.err.startswith("qapi-jobs: cannot reach 127.0.0.1:1: "), command
        error, hint = unreachable.err.splitlines()
        assert error.endswith(" (UNAVAILABLE)"), command
        assert hint.startswith("hint: is the server running at 127.0.0.1:1?"), command


def test_the_installed_script_and_the_environment(threaded_server: ThreadedServer) -> None:
    result = run_script("query-jobs", "--json", env={"QAPI_JOBS_SERVER": threaded_server.address})
    assert result.code == 0 and isinstance(json.loads(result.out), list)
    after = run_script("--server", threaded_server.address, "--json", "query-block-jobs")
    assert after.code == 0 and isinstance(json.loads(after.out), list)
