"""The engine takes members, enum values and ranges from the schema, not from a copy.

A copy of qapi/ gets new members and a new enum value; it is translated to
.proto and compiled into a descriptor pool of its own, and an unchanged
BuiltinEngine built on that service's descriptors runs jobs with the new
members present (ignoring them) and refuses the new enum value as
unsupported instead of failing.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import grpc_tools  # type: ignore[import-untyped]
import pytest
from google.protobuf import descriptor_pb2, descriptor_pool
from google.protobuf.descriptor import ServiceDescriptor
from grpc_tools import protoc

from qapi_jobs.server.engines import job_commands
from qapi_jobs.server.engines.builtin import BuiltinEngine
from qapi_jobs.server.engines.builtin.engine import DEFAULTS
from qapi_jobs.server.jobs.errors import ErrorKind, JobError
from qapi_jobs.server.jobs.manager import JobManager
from qapi_jobs.server.jobs.status import JobStatus
from tests.support.images import MIB, make_dense

REPO = Path(__file__).resolve().parents[2]
QAPI = REPO / "qapi"


def _add(text: str, anchor: str, addition: str) -> str:
    assert anchor in text, anchor
    return text.replace(anchor, anchor + addition, 1)


def _grown_schema(root: Path) -> Path:
    """A copy of qapi/ with new members in DriveBackup, drive-mirror and the raw
    create options, and a new MirrorSyncMode value."""
    schema = root / "qapi"
    shutil.copytree(QAPI, schema)
    ops = schema / "block-ops.json"
    text = ops.read_text(encoding="utf-8")
    text = _add(
        text,
        "# @sync: how much to copy; the builtin engine does @full\n",
        "#\n# @compress: compress the copy\n",
    )
    text = _add(text, "{ 'struct': 'DriveBackup',\n  'data': { ", "'*compress': 'bool', ")
    text = _add(
        text,
        "# @buf-size: how many bytes may be in flight at once (default: 16 MiB)\n",
        "#\n# @copy-mode: how writes are carried over\n",
    )
    text = _add(text, "{ 'command': 'drive-mirror',\n  'data': { ", "'*copy-mode': 'str', ")
    text = _add(
        text,
        "# @bitmap: like @incremental, with more bitmap policies\n",
        "#\n# @later: a mode from a newer schema\n",
    )
    text = _add(text, "'incremental', 'bitmap'", ", 'later'")
    ops.write_text(text, encoding="utf-8")
    image = schema / "image.json"
    text = image.read_text(encoding="utf-8")
    text = text.replace(
        "# @size: the image's size in bytes\n",
        "# @size: the image's size in bytes\n#\n# @extent-size-hint: a hint for the file system\n",
        1,
    )
    text = _add(
        text, "{ 'struct': 'ImageCreateOptionsRaw',\n  'data': { ", "'*extent-size-hint': 'size', "
    )
    image.write_text(text, encoding="utf-8")
    return schema / "qapi-schema.json"


@pytest.fixture(scope="module")
def grown_service(tmp_path_factory: pytest.TempPathFactory) -> ServiceDescriptor:
    """JobsService of the grown schema, in a descriptor pool of its own."""
    root = tmp_path_factory.mktemp("grown")
    out = root / "proto"
    translate = subprocess.run(
        [
            sys.executable,
            "-m",
            "qapi_jobs.codegen",
            "proto",
            str(_grown_schema(root)),
            "--out",
            str(out),
            "--package",
            "qapi_jobs.v1",
            "--service",
            "JobsService",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert translate.returncode == 0, translate.stderr
    descriptor_set = root / "set.pb"
    well_known = Path(grpc_tools.__file__).parent / "_proto"
    args = [
        "protoc",
        f"-I{out}",
        f"-I{well_known}",
        f"--descriptor_set_out={descriptor_set}",
        "--include_imports",
        "qapi_jobs/v1/service.proto",
    ]
    assert protoc.main(args) == 0, args
    files = descriptor_pb2.FileDescriptorSet.FromString(descriptor_set.read_bytes())
    pool = descriptor_pool.DescriptorPool()
    for file in files.file:
        pool.Add(file)
    return pool.FindServiceByName("qapi_jobs.v1.JobsService")


@pytest.fixture
def grown_engine(grown_service: ServiceDescriptor, data_dir: Path) -> BuiltinEngine:
    make_dense(data_dir / "disk.img", MIB)
    return BuiltinEngine(data_dir, service=grown_service)


def backup(**members: Any) -> dict[str, Any]:
    return {"job-id": "b1", "device": "disk.img", "target": "copy.img", "sync": "full", **members}


async def test_the_grown_schema_really_has_the_new_members(
    grown_service: ServiceDescriptor,
) -> None:
    request = grown_service.FindMethodByName("DriveBackup").input_type
    assert "compress" in request.fields_by_name
    assert job_commands(grown_service) == job_commands()


async def test_new_members_are_ignored_and_the_jobs_run(
    grown_engine: BuiltinEngine, data_dir: Path
) -> None:
    mirror = backup(**{"job-id": "m1", "target": "mirror.img", "copy-mode": "background"})
    assert (await grown_engine.prepare("drive-mirror", mirror)).job_id == "m1"
    manager = JobManager()
    await manager.start(await grown_engine.prepare("drive-backup", backup(compress=True)))
    create = {
        "job-id": "c1",
        "options": {"driver": "raw", "filename": "new.img", "size": MIB, "extent-size-hint": 4096},
    }
    await manager.start(await grown_engine.prepare("blockdev-create", create))
    async with asyncio.timeout(30):
        version = manager.change_version
        while any(job.status is not JobStatus.CONCLUDED for job in manager.query_jobs()):
            version = await manager.wait_for_change(version)
    assert manager.job_info("c1").error is None
    await manager.shutdown()
    assert (data_dir / "copy.img").read_bytes() == (data_dir / "disk.img").read_bytes()
    assert (data_dir / "new.img").stat().st_size == MIB


async def test_a_new_enum_value_is_refused_as_unsupported(grown_engine: BuiltinEngine) -> None:
    with pytest.raises(JobError) as caught:
        await grown_engine.prepare("drive-backup", backup(sync="later"))
    assert caught.value.kind is ErrorKind.UNSUPPORTED
    assert "Sync mode 'later' not supported" in caught.value.message


async def test_the_current_engine_refuses_what_only_the_grown_schema_has(
    engine: BuiltinEngine,
) -> None:
    with pytest.raises(JobError) as caught:
        await engine.prepare("drive-backup", backup(sync="later"))
    assert caught.value.kind is ErrorKind.INVALID_ARGUMENT
    assert caught.value.facts["field"] == "sync"


def _documented_defaults() -> dict[str, str]:
    """``(default: X)`` of every member documented in qapi/, by member name."""
    found: dict[str, str] = {}
    for path in sorted(QAPI.glob("*.json")):
        sections = re.split(r"^# @(?=[\w-]+:)|^##$", path.read_text(encoding="utf-8"), flags=re.M)
        for section in sections:
            name, _, doc = section.partition(":")
            default = re.search(r"\(default:\s+([^)]+)\)", " ".join(doc.split()))
            if default:
                found.setdefault(name, default.group(1))
    return found


def test_the_engine_defaults_are_the_documented_ones() -> None:
    """The defaults the engine applies match what the schema documents."""
    documented = _documented_defaults()
    for member, value in DEFAULTS.items():
        if member in {"format", "granularity", "buf-size"}:
            continue  # documented as the source's format / a size the engine picks
        text = documented[member].split(",")[0].lstrip("@")
        assert text == str(value).lower(), member
