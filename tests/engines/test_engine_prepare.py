"""Every refusal of BuiltinEngine.prepare: kind, message, and no side effects."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from qapi_jobs.server.engines import Engine, job_commands
from qapi_jobs.server.engines.builtin import BuiltinEngine
from qapi_jobs.server.jobs.errors import ErrorKind, JobError
from tests.support.images import MIB, make_dense

NOT_FOUND = ErrorKind.NOT_FOUND
INVALID = ErrorKind.INVALID_ARGUMENT
EXISTS = ErrorKind.ALREADY_EXISTS
UNSUPPORTED = ErrorKind.UNSUPPORTED


@pytest.fixture
def images(data_dir: Path) -> Path:
    make_dense(data_dir / "disk.img", MIB)
    make_dense(data_dir / "small.img", MIB // 2)
    make_dense(data_dir / "big.img", 2 * MIB)
    (data_dir / "sub").mkdir()
    make_dense(data_dir / "twin.img", MIB)
    os.link(data_dir / "twin.img", data_dir / "hardlink.img")
    return data_dir


def listing(directory: Path) -> list[str]:
    return sorted(str(path) for path in directory.rglob("*"))


def backup(**members: Any) -> dict[str, Any]:
    return {"device": "disk.img", "target": "copy.img", "sync": "full", **members}


def create(**options: Any) -> dict[str, Any]:
    return {
        "job-id": "c1",
        "options": {"driver": "raw", "filename": "new.img", "size": 1, **options},
    }


CASES: list[tuple[str, str, dict[str, Any], ErrorKind, str]] = [
    # What the engine does not do at all.
    (
        "unknown",
        "query-jobs",
        {},
        UNSUPPORTED,
        "'query-jobs' does not start a job the builtin engine runs",
    ),
    ("stream", "block-stream", {"device": "disk.img"}, UNSUPPORTED, "qemu engine"),
    ("commit", "block-commit", {"device": "disk.img"}, UNSUPPORTED, "qemu engine"),
    ("amend", "x-blockdev-amend", {"job-id": "a"}, UNSUPPORTED, "qemu engine"),
    (
        "qcow2 create",
        "blockdev-create",
        {"job-id": "c1", "options": {"driver": "qcow2", "filename": "q", "size": 1}},
        UNSUPPORTED,
        "Format 'qcow2' is created by the qemu engine; the builtin engine creates raw images only",
    ),
    ("qcow2 backup", "drive-backup", backup(format="qcow2"), UNSUPPORTED, "qemu engine"),
    ("qcow2 mirror", "drive-mirror", backup(format="qcow2"), UNSUPPORTED, "qemu engine"),
    (
        "sync top",
        "drive-backup",
        backup(sync="top"),
        UNSUPPORTED,
        "Sync mode 'top' not supported: the builtin engine supports only 'full'; "
        "the qemu engine runs the others",
    ),
    ("sync none", "drive-mirror", backup(sync="none"), UNSUPPORTED, "supports only 'full'"),
    (
        "sync incremental",
        "drive-backup",
        backup(sync="incremental"),
        UNSUPPORTED,
        "supports only 'full'",
    ),
    (
        "metadata prealloc",
        "blockdev-create",
        create(preallocation="metadata"),
        INVALID,
        "Unsupported preallocation mode: metadata",
    ),
    (
        "granularity small",
        "drive-mirror",
        backup(granularity=256),
        INVALID,
        "Parameter 'granularity' expects a value in range [512B, 64MB]",
    ),
    (
        "granularity big",
        "drive-mirror",
        backup(granularity=128 << 20),
        INVALID,
        "Parameter 'granularity' expects a value in range [512B, 64MB]",
    ),
    (
        "granularity uneven",
        "drive-mirror",
        backup(granularity=1536),
        INVALID,
        "Parameter 'granularity' expects a power of 2",
    ),
    (
        "buf-size",
        "drive-mirror",
        backup(**{"buf-size": -1}),
        INVALID,
        "Invalid parameter 'buf-size'",
    ),
    # Files.
    (
        "missing source",
        "drive-backup",
        backup(device="nope.img"),
        NOT_FOUND,
        "Could not open 'nope.img': No such file or directory",
    ),
    (
        "missing mirror source",
        "drive-mirror",
        backup(device="nope.img"),
        NOT_FOUND,
        "Could not open 'nope.img': No such file or directory",
    ),
    (
        "source is a directory",
        "drive-backup",
        backup(device="sub"),
        INVALID,
        "Could not open 'sub': not a regular file; images are plain files",
    ),
    (
        "target exists",
        "drive-backup",
        backup(target="big.img"),
        EXISTS,
        "Image 'big.img' already exists; pass mode 'existing' to copy into it, "
        "or choose another target",
    ),
    (
        "mirror target exists",
        "drive-mirror",
        backup(target="big.img"),
        EXISTS,
        "Image 'big.img' already exists",
    ),
    (
        "missing existing target",
        "drive-backup",
        backup(mode="existing"),
        NOT_FOUND,
        "Could not open 'copy.img': No such file or directory",
    ),
    (
        "target in missing dir",
        "drive-backup",
        backup(target="nodir/copy.img"),
        NOT_FOUND,
        "Could not create 'nodir/copy.img': its directory does not exist",
    ),
    (
        "smaller backup target",
        "drive-backup",
        backup(target="small.img", mode="existing"),
        INVALID,
        "Source and target image have different sizes",
    ),
    (
        "backup onto itself",
        "drive-backup",
        backup(target="disk.img", mode="existing"),
        INVALID,
        "Can't back up 'disk.img' onto itself; choose another target",
    ),
    (
        "backup onto a hard link",
        "drive-backup",
        backup(device="twin.img", target="hardlink.img", mode="existing"),
        ErrorKind.PERMISSION_DENIED,
        "Image 'twin.img' has 2 hard links",
    ),
    (
        "mirror onto itself",
        "drive-mirror",
        backup(target="./disk.img", mode="existing"),
        INVALID,
        "Can't mirror node into itself",
    ),
    (
        "create over a file",
        "blockdev-create",
        create(filename="disk.img"),
        EXISTS,
        "Image 'disk.img' already exists; blockdev-create makes new files only: "
        "choose another name or remove the file",
    ),
    (
        "create over a directory",
        "blockdev-create",
        create(filename="sub"),
        EXISTS,
        "Image 'sub' already exists",
    ),
    (
        "create in missing dir",
        "blockdev-create",
        create(filename="a/b.img"),
        NOT_FOUND,
        "Could not create 'a/b.img': its directory does not exist",
    ),
    # Paths leaving the data directory.
    (
        "absolute source",
        "drive-backup",
        backup(device="/etc/passwd"),
        INVALID,
        "Image path '/etc/passwd' is absolute; name the image relative to the data directory",
    ),
    (
        "absolute target",
        "drive-backup",
        backup(target="/tmp/x.img"),
        INVALID,
        "Image path '/tmp/x.img' is absolute",
    ),
    (
        "dotdot source",
        "drive-backup",
        backup(device="../secret.img"),
        INVALID,
        "Image path '../secret.img' contains '..'; "
        "name the image by a path inside the data directory",
    ),
    (
        "inner dotdot",
        "blockdev-create",
        create(filename="sub/../../x.img"),
        INVALID,
        "contains '..'",
    ),
    (
        "empty path",
        "drive-backup",
        backup(device=""),
        INVALID,
        "Parameter 'device' must name an image file relative to the data directory",
    ),
    (
        "nul in path",
        "blockdev-create",
        create(filename="a\0b"),
        INVALID,
        "Parameter 'options.filename' must name an image file",
    ),
    (
        "the data dir",
        "drive-backup",
        backup(device="."),
        INVALID,
        "Image path '.' names the data directory itself, not an image file",
    ),
]


def member(path: str, value: Any, command: str = "drive-backup") -> dict[str, Any]:
    """Arguments whose member at ``path`` (dots for nesting) is ``value``; None removes it."""
    arguments = create() if command == "blockdev-create" else backup()
    *outer, last = path.split(".")
    holder = arguments
    for name in outer:
        holder = holder[name]
    if value is None:
        del holder[last]
    else:
        holder[last] = value
    return arguments


SCHEMA_CASES: list[tuple[str, dict[str, Any], str]] = [
    ("drive-backup", member("device", None), "device"),
    ("drive-backup", member("sync", None), "sync"),
    ("blockdev-create", member("job-id", None, "blockdev-create"), "job-id"),
    ("blockdev-create", member("options", None, "blockdev-create"), "options"),
    ("blockdev-create", member("options.size", None, "blockdev-create"), "options.size"),
    ("blockdev-create", member("options.size", -1, "blockdev-create"), "options.size"),
    ("blockdev-create", member("options.size", "1G", "blockdev-create"), "options.size"),
    ("drive-backup", member("speed", True), "speed"),
    ("drive-backup", member("device", 3), "device"),
    ("blockdev-create", member("options", [], "blockdev-create"), "options"),
    ("drive-backup", member("auto-dismiss", 1), "auto-dismiss"),
    ("drive-backup", member("sync", "most"), "sync"),
    ("drive-backup", member("mode", "relative"), "mode"),
    ("drive-backup", member("on-source-error", "panic"), "on-source-error"),
    (
        "blockdev-create",
        member("options.preallocation", "some", "blockdev-create"),
        "options.preallocation",
    ),
    ("drive-mirror", member("granularity", 1 << 32), "granularity"),
]


@pytest.mark.parametrize(
    ("command", "arguments", "field"),
    SCHEMA_CASES,
    ids=[f"{case[0]}:{case[2]}" for case in SCHEMA_CASES],
)
async def test_arguments_are_checked_against_the_schema(
    engine: BuiltinEngine, images: Path, command: str, arguments: dict[str, Any], field: str
) -> None:
    """Missing members, wrong types, unknown enum values, out-of-range integers.

    The schema (through the transcoder) decides, not a list in the engine;
    the refusal names the member.
    """
    before = listing(images)
    with pytest.raises(JobError) as caught:
        await engine.prepare(command, arguments)
    assert caught.value.kind is INVALID
    assert caught.value.reason == "INVALID_REQUEST"
    assert caught.value.facts["field"] == field
    assert f"$.{field}" in caught.value.message
    assert listing(images) == before


@pytest.mark.parametrize(
    ("command", "arguments", "kind", "message"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
async def test_refusal(
    engine: BuiltinEngine,
    images: Path,
    command: str,
    arguments: dict[str, Any],
    kind: ErrorKind,
    message: str,
) -> None:
    before = listing(images)
    with pytest.raises(JobError) as caught:
        await engine.prepare(command, arguments)
    assert caught.value.kind is kind
    assert message in caught.value.message
    assert caught.value.reason, "every refusal has a machine-readable reason"
    assert listing(images) == before


async def test_messages_never_reveal_server_paths(engine: BuiltinEngine, images: Path) -> None:
    for _, command, arguments, _, _ in CASES:
        with pytest.raises(JobError) as caught:
            await engine.prepare(command, arguments)
        assert str(images) not in caught.value.message


async def test_negative_speed_is_left_to_the_job_manager(
    engine: BuiltinEngine, images: Path
) -> None:
    plan = await engine.prepare("drive-mirror", backup(speed=-1))
    assert plan.speed == -1


async def test_none_counts_as_absent(engine: BuiltinEngine, images: Path) -> None:
    plan = await engine.prepare(
        "drive-backup", backup(**{"job-id": None, "speed": None, "mode": None, "format": None})
    )
    assert (plan.job_id, plan.speed) == ("disk.img", 0)


async def test_the_engine_interface(engine: BuiltinEngine) -> None:
    assert isinstance(engine, Engine)
    assert engine.name == "builtin"
    assert engine.commands == {"blockdev-create", "drive-backup", "drive-mirror"}
    assert engine.commands <= job_commands()


def test_data_dir_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a directory"):
        BuiltinEngine(tmp_path / "missing")
