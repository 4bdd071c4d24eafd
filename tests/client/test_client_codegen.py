"""The client generator: the committed client is what it writes, names match the
protos, and a command added to the schema becomes a method with its docs."""

from __future__ import annotations

import inspect
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from qapi_jobs.client import AsyncJobsClient, JobsClient
from qapi_jobs.client.generated import COMMANDS, AsyncCommands, SyncCommands
from qapi_jobs.codegen.backends.client import generate, render
from qapi_jobs.codegen.backends.client.protoview import build
from qapi_jobs.codegen.backends.client.spec import RESERVED_METHODS
from qapi_jobs.codegen.backends.proto import default_lock_path
from qapi_jobs.codegen.backends.proto import generate as generate_protos
from qapi_jobs.codegen.backends.proto.context import Settings
from qapi_jobs.codegen.backends.proto.option_writer import OPTIONS_PATH
from qapi_jobs.codegen.backends.proto.render import render_file
from qapi_jobs.codegen.backends.proto.translate import translate
from qapi_jobs.codegen.frontend import load_schema
from qapi_jobs.codegen.lockfile import Lock
from qapi_jobs.codegen.protoc import compile_python
from qapi_jobs.v1 import service_pb2
from tests.support.paths import QEMU_SCHEMA, REPO

SCHEMA = REPO / "qapi" / "qapi-schema.json"
GENERATED = REPO / "client" / "qapi_jobs" / "client" / "generated"
LOCK = default_lock_path(REPO / "proto", "qapi_jobs.v1")
RUFF = Path(sys.executable).with_name("ruff")

NEW_COMMAND = """
##
# @job-set-label:
#
# Give a job a label that @query-jobs does not show.
#
# @id: the job's identifier
#
# @label: the new label
#
# @tags: extra words to remember
#
# @status: only when the job has this status
#
# Errors:
#     - the job does not exist
#
# Returns: the job as it is now
#
# Since: 9.9
##
{ 'command': 'job-set-label',
  'data': { 'id': 'str', 'label': 'str', '*tags': ['str'], '*status': 'JobStatus' },
  'returns': 'JobInfo' }

##
# @BackupLabel:
#
# A label for a backup.
#
# @target-size: how big the copy may grow
#
# Since: 9.9
##
{ 'struct': 'BackupLabel', 'data': { 'target-size': 'size' } }

##
# @LabelTarget:
#
# Which job to label, and how.
#
# @kind: the kind of job
#
# @id: the job's identifier
#
# Since: 9.9
##
{ 'union': 'LabelTarget',
  'base': { 'kind': 'JobType', 'id': 'str' },
  'discriminator': 'kind',
  'data': { 'backup': 'BackupLabel' } }

##
# @label-job:
#
# Label a job, with arguments that depend on its kind.
#
# Since: 9.9
##
{ 'command': 'label-job', 'boxed': true, 'data': 'LabelTarget' }
"""


def _formatted(name: str, text: str) -> str:
    result = subprocess.run(
        [str(RUFF), "format", "--stdin-filename", str(GENERATED / name), "-"],
        input=text,
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    )
    return result.stdout


def test_the_committed_client_is_what_the_generator_writes() -> None:
    files = render(
        load_schema(SCHEMA), package="qapi_jobs.v1", service="JobsService", lock=Lock.load(LOCK)
    )
    assert sorted(files) == sorted(p.name for p in GENERATED.glob("*.py"))
    for name, text in files.items():
        committed = (GENERATED / name).read_text(encoding="utf-8")
        assert _formatted(name, text) == committed, f"{name} is stale: run make generate"


@pytest.mark.parametrize("schema_path", [SCHEMA, QEMU_SCHEMA], ids=["project", "qemu"])
def test_the_client_sees_what_the_proto_backend_writes(schema_path: Path) -> None:
    # protoview.build() repeats the steps of the proto backend's translate();
    # the files it plans must be exactly the files translate() writes.
    schema = load_schema(schema_path)
    settings = Settings("qapi_jobs.v1", "JobsService")
    lock = Lock.load(LOCK) if schema_path == SCHEMA else Lock()
    expected = translate(schema, settings, Lock.loads(lock.dumps()))
    view = build(schema, settings, Lock.loads(lock.dumps()))
    planned = {file.path: render_file(file) for file in view.files}
    assert planned == {path: text for path, text in expected.items() if path in planned}
    assert set(expected) - set(planned) == {OPTIONS_PATH}


def test_generation_is_deterministic() -> None:
    schema = load_schema(SCHEMA)
    first = render(schema, package="qapi_jobs.v1", service="JobsService", lock=Lock.load(LOCK))
    again = render(schema, package="qapi_jobs.v1", service="JobsService", lock=Lock.load(LOCK))
    assert first == again


def test_methods_match_the_service() -> None:
    service = service_pb2.DESCRIPTOR.services_by_name["JobsService"]
    rpcs = {m.name: m for m in service.methods}
    assert len(COMMANDS) == len(rpcs) - 1  # all but the event stream
    for info in COMMANDS:
        method = rpcs[info.rpc]
        assert info.request.DESCRIPTOR is method.input_type
        assert info.response.DESCRIPTOR is method.output_type
        fields = set(info.request.DESCRIPTOR.fields_by_name)
        assert {m.field for m in info.members} == fields
        for cls in (SyncCommands, AsyncCommands):
            params = inspect.signature(getattr(cls, info.method)).parameters
            assert set(params) == {"self", "timeout", *fields}
            for member in info.members:
                assert params[member.field].kind is inspect.Parameter.KEYWORD_ONLY
                assert (params[member.field].default is None) == member.optional
        assert inspect.iscoroutinefunction(getattr(AsyncCommands, info.method))


def test_typed_signatures_and_docstrings() -> None:
    create = inspect.signature(SyncCommands.blockdev_create)
    assert create.parameters["options"].annotation == "image_pb2.BlockdevCreateOptions"
    assert create.return_annotation == "None"
    query = inspect.signature(SyncCommands.query_jobs)
    assert query.return_annotation == "list[job_pb2.JobInfo]"
    backup = inspect.signature(AsyncCommands.drive_backup)
    assert backup.parameters["format"].annotation == "image_pb2.ImageDriver.ValueType | None"
    doc = inspect.getdoc(SyncCommands.job_pause) or ""
    assert "Ask a job to pause." in doc and "``paused``" in doc
    assert "id: the job's identifier" in doc
    assert "- the job is already paused" in doc and "Since: 3.0" in doc


def test_generated_names_leave_the_helpers_alone() -> None:
    for client, commands in ((JobsClient, SyncCommands), (AsyncJobsClient, AsyncCommands)):
        own = {n for n in vars(client) if not n.startswith("_")}
        assert own <= RESERVED_METHODS, own - RESERVED_METHODS
        assert not own & {n for n in vars(commands) if not n.startswith("_")}


def test_a_new_command_becomes_a_method(tmp_path: Path) -> None:
    schema_dir = tmp_path / "qapi"
    shutil.copytree(REPO / "qapi", schema_dir)
    with (schema_dir / "job.json").open("a", encoding="utf-8") as handle:
        handle.write(NEW_COMMAND)
    protos = tmp_path / "proto"
    (protos / "qapi_jobs" / "v1").mkdir(parents=True)
    shutil.copy(LOCK, protos / "qapi_jobs" / "v1")
    shutil.copy(REPO / "proto" / "qapi_jobs" / "v1" / "watch.proto", protos / "qapi_jobs" / "v1")
    schema = load_schema(schema_dir / "qapi-schema.json")
    generate_protos(schema, protos)
    compile_python(protos)
    package = tmp_path / "gen" / "labelled"
    generate(schema, package, lock_path=default_lock_path(protos, "qapi_jobs.v1"))
    assert "def job_set_label(" in (package / "sync_commands.py").read_text()

    probe = f"""
import inspect, json, sys
sys.path.insert(0, {str(tmp_path / "gen")!r})
import labelled
from qapi_jobs.v1 import job_pb2, service_pb2

class Probe(labelled.SyncCommands):
    _stub = type("Stub", (), {{"JobSetLabel": "rpc"}})()
    def _unary(self, method, request, timeout):
        self.sent = (method, request, timeout)
        return service_pb2.JobSetLabelResponse(result=job_pb2.JobInfo(id=request.id))

probe = Probe()
info = probe.job_set_label(id="j", label="x", tags=["a", "b"], timeout=3)
method, request, timeout = probe.sent
signature = inspect.signature(labelled.SyncCommands.job_set_label)
entry = next(c for c in labelled.COMMANDS if c.name == "job-set-label")

import argparse
from qapi_jobs.client.cli.commands import arguments_of, option_name
from qapi_jobs.transcoder import decode_arguments
boxed = next(c for c in labelled.COMMANDS if c.name == "label-job")
options = {{m.name: option_name(m) for m in boxed.members}}
given = {{"kind": "backup", "id": "j", "backup": '{{"target-size": "1G"}}'}}
namespace = argparse.Namespace(**{{f"member__{{m.field}}": given[m.name] for m in boxed.members}})
arguments = arguments_of(boxed, namespace)
boxed_request = decode_arguments(boxed.request, arguments)
print(json.dumps({{
    "boxed_options": options,
    "boxed_arguments": arguments,
    "boxed_size": boxed_request.backup.target_size,
    "boxed_signature": list(inspect.signature(labelled.SyncCommands.label_job).parameters),
    "result": info.id,
    "method": method,
    "tags": list(request.tags.items),
    "has_status": request.HasField("status"),
    "timeout": timeout,
    "params": {{n: str(p.annotation) for n, p in signature.parameters.items()}},
    "returns": signature.return_annotation,
    "doc": inspect.getdoc(labelled.SyncCommands.job_set_label),
    "async": inspect.iscoroutinefunction(labelled.AsyncCommands.job_set_label),
    "help": [m.help for m in entry.members],
    "description": entry.description,
}}))
"""
    env = dict(os.environ, PYTHONPATH=str(protos))
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=False
    )
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert seen["result"] == "j" and seen["method"] == "rpc" and seen["timeout"] == 3
    assert seen["tags"] == ["a", "b"] and not seen["has_status"]
    assert seen["params"] == {
        "self": "<class 'inspect._empty'>",
        "id": "str",
        "label": "str",
        "tags": "Iterable[str] | None",
        "status": "job_pb2.JobStatus.ValueType | None",
        "timeout": "float | None",
    }
    assert seen["returns"] == "job_pb2.JobInfo"
    assert seen["async"]
    assert "Give a job a label that ``query-jobs`` does not show." in seen["doc"]
    assert "tags: extra words to remember (optional)" in seen["doc"]
    assert "Returns:\n    the job as it is now" in seen["doc"]
    assert "Since: 9.9" in seen["doc"]
    assert seen["help"] == [
        "the job's identifier",
        "the new label",
        "extra words to remember",
        "only when the job has this status",
    ]
    assert "Errors:\n  - the job does not exist" in seen["description"]
    assert seen["boxed_options"] == {"kind": "--kind", "id": "--id", "backup": "--backup"}
    assert seen["boxed_arguments"] == {"kind": "backup", "id": "j", "target-size": 1 << 30}
    assert seen["boxed_size"] == 1 << 30
    assert seen["boxed_signature"] == ["self", "kind", "id", "backup", "timeout"]


def test_the_client_command_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "qapi_jobs.codegen",
            "client",
            str(SCHEMA),
            "--out",
            str(tmp_path / "out"),
            "--proto-root",
            str(tmp_path / "none"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "no lock file" in result.stderr.splitlines()[0]


def test_qemus_whole_schema_gives_a_client(tmp_path: Path) -> None:
    schema = load_schema(QEMU_SCHEMA)
    generate_protos(schema, tmp_path, package="qemu.qmp.v1", service="QmpService")
    files = render(
        schema,
        package="qemu.qmp.v1",
        service="QmpService",
        lock=Lock.load(default_lock_path(tmp_path, "qemu.qmp.v1")),
    )
    for name, text in files.items():
        compile(text, name, "exec")
    commands = sum(1 for d in schema.explicit() if type(d).__name__ == "Command")
    assert files["sync_commands.py"].count("\n    def ") == commands
    assert files["async_commands.py"].count("\n    async def ") == commands
