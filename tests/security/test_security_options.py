"""Out-of-range settings are refused at start; the client refuses absurdly nested JSON."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from qapi_jobs.server.cli import EXIT_CONFIG, main


@pytest.fixture(autouse=True)
def _root_logging_restored() -> Iterator[None]:
    """``main`` points the root logger at this test's captured stderr; undo that after."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.parametrize(
    ("options", "complaint"),
    [
        (["--heartbeat-interval", "1e300"], "heartbeat interval must be within"),
        (["--shutdown-grace", "nan"], "shutdown grace must be within"),
        (["--job-watch-interval", "inf"], "job watch interval must be within"),
        (["--max-request-size", "10"], "max request size must be within"),
        (["--idle-timeout", "1e9"], "idle timeout must be within"),
        (["--policy", "missing.toml"], "cannot read the policy"),
    ],
)
def test_out_of_range_settings_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], options: list[str], complaint: str
) -> None:
    argv = ["--data-dir", str(tmp_path), "--listen", "127.0.0.1:0", *options]
    assert main(argv) == EXIT_CONFIG
    assert complaint in capsys.readouterr().err


@pytest.mark.parametrize("mode", ["999", "-1", "rw"])
def test_bad_file_modes_are_usage_errors(tmp_path: Path, mode: str) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["--data-dir", str(tmp_path), "--new-file-mode", mode])
    assert caught.value.code == 2


def test_deeply_nested_json_gets_a_clear_error(tmp_path: Path) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    done = subprocess.run(
        [Path(sys.executable).with_name("qapi-jobs"), "--server", "127.0.0.1:9", "blockdev-create",
         "--job-id", "a", "--options", f"@{deep}"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "nested more than 64 levels deep" in done.stderr
    assert "Traceback" not in done.stderr
