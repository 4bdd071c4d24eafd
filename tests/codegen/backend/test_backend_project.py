"""Acceptance: the project's own schema and the committed output in proto/.

The staleness check regenerates everything into a temporary tree (with the
committed lock and the hand-written files as inputs) and requires every
file to match the committed one byte for byte."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from qapi_jobs.codegen.backends.proto import LOCK_NAME
from qapi_jobs.codegen.backends.proto.option_writer import OPTIONS_PATH
from qapi_jobs.codegen.backends.proto.output import PYTHON_COMPANIONS, is_generated
from qapi_jobs.codegen.cli import main
from qapi_jobs.codegen.errors import SchemaError
from qapi_jobs.codegen.frontend import load_schema
from tests.support.paths import REPO

from .tools import BIN, buf_lint

PROTO = REPO / "proto"
SCHEMA = REPO / "qapi" / "qapi-schema.json"
PACKAGE_DIR = PROTO / "qapi_jobs" / "v1"


def _tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


def _is_output(root: Path, path: Path) -> bool:
    """Whether ``make generate`` writes ``path`` (the lock is also an input)."""
    relative = path.relative_to(root).as_posix()
    if relative == OPTIONS_PATH or path.name.endswith(PYTHON_COMPANIONS):
        return True
    return path.suffix == ".proto" and is_generated(path)


def test_committed_output_is_up_to_date(tmp_path: Path) -> None:
    for path in PROTO.rglob("*"):
        if path.is_file() and "__pycache__" not in path.parts and not _is_output(PROTO, path):
            target = tmp_path / path.relative_to(PROTO)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
    assert (tmp_path / "qapi_jobs/v1" / LOCK_NAME).exists()
    argv = ["proto", str(SCHEMA), "--out", str(tmp_path)]
    assert main([*argv, "--package", "qapi_jobs.v1", "--service", "JobsService"]) == 0
    assert main(["python", str(tmp_path)]) == 0
    committed, fresh = _tree(PROTO), _tree(tmp_path)
    assert sorted(committed) == sorted(fresh), "run 'make generate'"
    stale = [name for name in committed if committed[name] != fresh[name]]
    assert stale == [], "run 'make generate'"


def test_committed_tree_lints() -> None:
    """``buf lint`` with the committed proto/buf.yaml (STANDARD), as ``make lint`` runs it."""
    assert "STANDARD" in (PROTO / "buf.yaml").read_text(encoding="utf-8")
    assert buf_lint(PROTO, write_config=False) == ""


def test_generated_modules_import() -> None:
    from qapi_jobs.qapi.v1 import options_pb2
    from qapi_jobs.v1 import job_pb2, service_pb2, service_pb2_grpc

    service = service_pb2.DESCRIPTOR.services_by_name["JobsService"]
    pause = service.methods_by_name["JobPause"]
    assert pause.GetOptions().Extensions[options_pb2.command].name == "job-pause"
    assert hasattr(service_pb2_grpc, "JobsServiceStub")
    undefined = job_pb2.JobStatus.DESCRIPTOR.values_by_name["JOB_STATUS_UNDEFINED"]
    assert undefined.number == 1
    assert undefined.GetOptions().Extensions[options_pb2.value].name == "undefined"
    event_field = service_pb2.Event.DESCRIPTOR.fields_by_name["job_status_change"]
    assert event_field.message_type is not None
    assert event_field.message_type.name == "JobStatusChangeEvent"


GOOD = """\
import grpc

from qapi_jobs.v1 import job_pb2, service_pb2, service_pb2_grpc


def info() -> job_pb2.JobInfo:
    made = job_pb2.JobInfo(id="j", status=job_pb2.JOB_STATUS_RUNNING, current_progress=1)
    made.error = "boom"
    if made.HasField("error"):
        made.ClearField("error")
    return made


async def jobs(channel: grpc.aio.Channel) -> list[job_pb2.JobInfo]:
    stub = service_pb2_grpc.JobsServiceStub(channel)
    response = await stub.QueryJobs(service_pb2.QueryJobsRequest())
    return list(response.result)


def kind(event: service_pb2.Event) -> str | None:
    return event.WhichOneof("kind")
"""

BAD = """\
from qapi_jobs.v1 import job_pb2

broken = job_pb2.JobInfo(id=1)
"""


def test_stubs_type_check_strictly(tmp_path: Path) -> None:
    """mypy --strict (the project's configuration) accepts typed use of the
    generated stubs and rejects a wrongly typed field."""
    (tmp_path / "good_usage.py").write_text(GOOD, encoding="utf-8")
    (tmp_path / "bad_usage.py").write_text(BAD, encoding="utf-8")
    result = subprocess.run(
        [
            str(BIN / "mypy"),
            "--config-file",
            str(REPO / "pyproject.toml"),
            "--cache-dir",
            str(tmp_path / "cache"),
            str(tmp_path / "good_usage.py"),
            str(tmp_path / "bad_usage.py"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    errors = [line for line in result.stdout.splitlines() if ": error:" in line]
    assert len(errors) == 1, result.stdout
    assert "bad_usage.py:3:" in errors[0] and '"id"' in errors[0]


@pytest.mark.parametrize(
    "stem", ["job", "block_job", "image", "block_ops", "transaction", "service"]
)
def test_every_module_has_python_and_stubs(stem: str) -> None:
    for suffix in (".proto", *PYTHON_COMPANIONS):
        assert (PACKAGE_DIR / f"{stem}{suffix}").exists(), f"{stem}{suffix}"


PROBE = """
##
# @Probe:
#
# A struct with a member nobody documented.
##
{ 'struct': 'Probe', 'data': { 'undocumented': 'int' } }
"""


def test_project_schema_takes_current_rules_as_errors(tmp_path: Path) -> None:
    """The pragma in qapi-schema.json makes QEMU's post-7.2 doc rules errors, not warnings."""
    assert load_schema(SCHEMA).warnings == ()
    copy = tmp_path / "qapi"
    shutil.copytree(SCHEMA.parent, copy)
    root = copy / SCHEMA.name
    root.write_text(root.read_text() + PROBE)
    with pytest.raises(SchemaError, match="'undocumented' of struct 'Probe' is not documented"):
        load_schema(root)
    without_pragma = root.read_text().replace(", 'documentation-exceptions': []", "")
    root.write_text(without_pragma)
    assert len(load_schema(root).warnings) == 1
