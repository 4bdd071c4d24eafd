"""Confinement to the data directory: symbolic links in and out of it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from qapi_jobs.server.engines.builtin import BuiltinEngine
from qapi_jobs.server.engines.builtin.paths import DataDir
from qapi_jobs.server.jobs.errors import ErrorKind, JobError
from tests.support.fake_context import FakeContext, run_job
from tests.support.images import MIB, make_dense


async def refused(engine: BuiltinEngine, command: str, arguments: dict[str, object]) -> JobError:
    with pytest.raises(JobError) as caught:
        await engine.prepare(command, arguments)
    return caught.value


async def test_symlinked_file_leading_outside(
    engine: BuiltinEngine, data_dir: Path, outside: Path
) -> None:
    (data_dir / "link.img").symlink_to(outside / "secret.img")
    error = await refused(
        engine, "drive-backup", {"device": "link.img", "target": "copy.img", "sync": "full"}
    )
    assert error.kind is ErrorKind.PERMISSION_DENIED
    assert error.reason == "SYMLINK_IN_IMAGE_PATH"
    assert error.message == (
        "Image path 'link.img' goes through a symbolic link; image paths may not contain "
        "symbolic links: name the file by its real path inside the data directory"
    )
    assert str(outside) not in error.message


async def test_symlinked_directory_leading_outside(
    engine: BuiltinEngine, data_dir: Path, outside: Path
) -> None:
    make_dense(data_dir / "disk.img", MIB)
    (data_dir / "out").symlink_to(outside, target_is_directory=True)
    error = await refused(
        engine, "drive-backup", {"device": "disk.img", "target": "out/copy.img", "sync": "full"}
    )
    assert error.kind is ErrorKind.PERMISSION_DENIED
    assert not (outside / "copy.img").exists()


async def test_dangling_symlink_leading_outside(
    engine: BuiltinEngine, data_dir: Path, outside: Path
) -> None:
    (data_dir / "trap.img").symlink_to(outside / "would-be-created.img")
    error = await refused(
        engine,
        "blockdev-create",
        {"job-id": "c1", "options": {"driver": "raw", "filename": "trap.img", "size": 1}},
    )
    assert error.kind is ErrorKind.PERMISSION_DENIED
    assert not (outside / "would-be-created.img").exists()


async def test_symlink_to_the_root_directory(engine: BuiltinEngine, data_dir: Path) -> None:
    (data_dir / "root").symlink_to("/", target_is_directory=True)
    error = await refused(
        engine, "drive-backup", {"device": "root/etc/passwd", "target": "x.img", "sync": "full"}
    )
    assert error.kind is ErrorKind.PERMISSION_DENIED


async def test_symlinks_inside_the_directory_are_refused_too(
    engine: BuiltinEngine, data_dir: Path
) -> None:
    # A link that stays inside today can be retargeted tomorrow: no link is followed.
    make_dense(data_dir / "disk.img", MIB)
    (data_dir / "images").mkdir()
    (data_dir / "current.img").symlink_to("disk.img")
    (data_dir / "backups").symlink_to("images", target_is_directory=True)
    for device, target in (("current.img", "copy.img"), ("disk.img", "backups/copy.img")):
        error = await refused(
            engine, "drive-backup", {"device": device, "target": target, "sync": "full"}
        )
        assert error.reason == "SYMLINK_IN_IMAGE_PATH"
    assert not (data_dir / "images" / "copy.img").exists()


async def test_symlink_planted_after_prepare_is_not_followed(
    engine: BuiltinEngine, data_dir: Path, outside: Path
) -> None:
    make_dense(data_dir / "disk.img", MIB)
    plan = await engine.prepare(
        "drive-backup",
        {"device": "disk.img", "target": "copy.img", "sync": "full"},
    )
    (data_dir / "copy.img").symlink_to(outside / "planted.img")
    outcome = await run_job(plan.driver, FakeContext())
    assert outcome.status == "failed"
    assert not (outside / "planted.img").exists()


async def test_source_swapped_for_a_symlink_after_prepare(
    engine: BuiltinEngine, data_dir: Path, outside: Path
) -> None:
    make_dense(data_dir / "disk.img", MIB)
    plan = await engine.prepare(
        "drive-backup", {"device": "disk.img", "target": "copy.img", "sync": "full"}
    )
    (data_dir / "disk.img").rename(data_dir / "disk.orig")
    (data_dir / "disk.img").symlink_to(outside / "secret.img")
    outcome = await run_job(plan.driver, FakeContext())
    # The job copies the file opened when it was prepared, never the secret.
    assert outcome.status == "completed"
    assert (data_dir / "copy.img").read_bytes() == (data_dir / "disk.orig").read_bytes()


def test_opening_keeps_the_clients_name(data_dir: Path) -> None:
    (data_dir / "a").mkdir()
    image = DataDir(data_dir).new("a//./b.img", parameter="target", hint="")
    assert (image.name, image.base) == ("a//./b.img", "b.img")
    assert os.path.samestat(os.fstat(image.dir_fd), os.stat(data_dir / "a"))
    image.close()


def test_data_dir_given_through_a_symlink(tmp_path: Path, data_dir: Path) -> None:
    # The administrator's own link to the data directory is fine.
    (tmp_path / "alias").symlink_to(data_dir, target_is_directory=True)
    image = DataDir(tmp_path / "alias").new("x.img", parameter="target", hint="")
    assert os.path.samestat(os.fstat(image.dir_fd), os.stat(data_dir))
    image.close()


def test_symlink_loop_is_refused(data_dir: Path) -> None:
    os.symlink("loop2", data_dir / "loop1")
    os.symlink("loop1", data_dir / "loop2")
    with pytest.raises(JobError) as caught:
        DataDir(data_dir).existing("loop1", parameter="device", writable=False)
    assert caught.value.reason == "SYMLINK_IN_IMAGE_PATH"
