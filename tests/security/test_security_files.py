"""What an image may be: no links, a regular file, a sane path; new files private."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest

from qapi_jobs.server.engines.builtin import BuiltinEngine
from qapi_jobs.server.engines.builtin.paths import DataDir
from qapi_jobs.server.jobs.errors import ErrorKind, JobError
from qapi_jobs.server.jobs.manager import JobManager

from .support import run_job, write

SIZE = 8 << 10


def backup(device: str, target: str, **members: Any) -> dict[str, Any]:
    return {"job-id": "j", "device": device, "target": target, "sync": "full", **members}


def create(filename: str) -> dict[str, Any]:
    return {"job-id": "c", "options": {"driver": "raw", "filename": filename, "size": SIZE}}


async def refusal(engine: BuiltinEngine, command: str, arguments: dict[str, Any]) -> JobError:
    with pytest.raises(JobError) as caught:
        await engine.prepare(command, arguments)
    return caught.value


async def test_hard_links_to_outside_files_are_refused(
    engine: BuiltinEngine, data_dir: Path, outside: Path
) -> None:
    secret = write(outside / "secret.img", b"S" * SIZE)
    os.link(outside / "secret.img", data_dir / "linked.img")
    write(data_dir / "disk.img", b"d" * SIZE)
    for arguments in (
        backup("linked.img", "copy.img"),
        backup("disk.img", "linked.img", mode="existing"),
    ):
        error = await refusal(engine, "drive-backup", arguments)
        assert (error.kind, error.reason) == (ErrorKind.PERMISSION_DENIED, "HARD_LINKED_IMAGE")
        assert "Image 'linked.img' has 2 hard links" in error.message
        assert "--allow-hard-links" in error.message
    assert (outside / "secret.img").read_bytes() == secret
    assert not (data_dir / "copy.img").exists()


async def test_hard_links_can_be_allowed(
    data_dir: Path, manager: JobManager, use_openat2: bool
) -> None:
    engine = BuiltinEngine(DataDir(data_dir, allow_hard_links=True, use_openat2=use_openat2))
    content = write(data_dir / "disk.img", b"d" * SIZE)
    os.link(data_dir / "disk.img", data_dir / "twin.img")
    assert await run_job(manager, engine, "drive-backup", backup("twin.img", "c.img")) == (
        "completed"
    )
    assert (data_dir / "c.img").read_bytes() == content
    # Still the same file under two names: not a target for itself.
    error = await refusal(engine, "drive-backup", backup("disk.img", "twin.img", mode="existing"))
    assert error.reason == "SAME_IMAGE"


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda path: path.mkdir(), id="directory"),
        pytest.param(lambda path: os.mkfifo(path), id="fifo"),
        pytest.param(lambda path: path.symlink_to("disk.img"), id="symlink"),
    ],
)
async def test_images_must_be_regular_files(
    engine: BuiltinEngine, data_dir: Path, make: Any
) -> None:
    write(data_dir / "disk.img", b"d" * SIZE)
    make(data_dir / "odd")
    for arguments in (backup("odd", "copy.img"), backup("disk.img", "odd", mode="existing")):
        error = await refusal(engine, "drive-backup", arguments)
        assert error.reason in ("NOT_A_REGULAR_FILE", "SYMLINK_IN_IMAGE_PATH")
        assert error.kind in (ErrorKind.INVALID_ARGUMENT, ErrorKind.PERMISSION_DENIED)


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("x" * 256, id="component"),
        pytest.param("/".join(["d"] * 2100), id="path"),
    ],
)
async def test_too_long_paths_are_invalid_arguments(
    engine: BuiltinEngine, data_dir: Path, name: str
) -> None:
    write(data_dir / "disk.img", b"d" * SIZE)
    for command, arguments in (
        ("blockdev-create", create(name)),
        ("drive-backup", backup(name, "copy.img")),
        ("drive-backup", backup("disk.img", name)),
    ):
        error = await refusal(engine, command, arguments)
        assert (error.kind, error.reason) == (ErrorKind.INVALID_ARGUMENT, "IMAGE_PATH_TOO_LONG")
        assert len(error.message) < 400, "the message shows a bounded slice of the path"


async def test_control_characters_in_paths_are_escaped(engine: BuiltinEngine) -> None:
    error = await refusal(engine, "drive-backup", backup("no\nsuch.img", "copy.img"))
    assert error.message == "Could not open 'no\\nsuch.img': No such file or directory"


@pytest.mark.parametrize("mode", [None, 0o640])
async def test_new_files_get_the_configured_mode(
    data_dir: Path, manager: JobManager, mode: int | None
) -> None:
    old_umask = os.umask(0)
    try:
        data = DataDir(data_dir) if mode is None else DataDir(data_dir, new_file_mode=mode)
        engine = BuiltinEngine(data)
        write(data_dir / "disk.img", b"d" * SIZE)
        assert await run_job(manager, engine, "blockdev-create", create("new.img")) == "completed"
        assert await run_job(manager, engine, "drive-backup", backup("disk.img", "c.img")) == (
            "completed"
        )
    finally:
        os.umask(old_umask)
    for name in ("new.img", "c.img"):
        assert stat.S_IMODE((data_dir / name).stat().st_mode) == (mode or 0o600)


async def test_open_files_are_limited(data_dir: Path, manager: JobManager) -> None:
    engine = BuiltinEngine(DataDir(data_dir, max_open_files=4))
    write(data_dir / "disk.img", b"d" * SIZE)
    held = await engine.prepare("drive-backup", backup("disk.img", "a.img"))
    error = await refusal(engine, "drive-backup", backup("disk.img", "b.img"))
    assert (error.kind, error.reason) == (ErrorKind.RESOURCE_EXHAUSTED, "MAX_OPEN_FILES")
    assert "max-open-files (4)" in error.message
    del held
    assert await run_job(manager, engine, "drive-backup", backup("disk.img", "b.img")) == (
        "completed"
    )
    assert engine.data_dir.open_files == 0
