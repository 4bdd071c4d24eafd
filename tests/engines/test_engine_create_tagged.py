"""A file the builtin engine creates carries its creation tag from its first moment.

A restarted server removes a half-made file it has no inode for only when
the file carries the job's tag, so the file must never exist without it:
it is made unnamed, tagged, and then linked under its name.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from qapi_jobs.server.engines.builtin import files
from qapi_jobs.server.engines.builtin.paths import CREATION_TAG, DataDir


def test_a_new_file_has_its_tag_and_size(data_dir: Path) -> None:
    image = DataDir(data_dir).new("disk.img", parameter="target", hint="")
    assert image.creation_tag is not None
    fd, created = files.create_image(image, 1 << 20)
    path = data_dir / "disk.img"
    assert os.getxattr(path, CREATION_TAG) == image.creation_tag.encode()
    assert path.stat().st_size == 1 << 20
    assert (created.device, created.inode) == (path.stat().st_dev, path.stat().st_ino)
    assert os.fstat(fd).st_ino == created.inode
    image.close()


def test_no_untagged_file_is_ever_visible(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    image = DataDir(data_dir).new("disk.img", parameter="target", hint="")

    def crash(*args: object, **kwargs: object) -> None:
        # Stands for a SIGKILL after the create, before the name exists.
        assert os.listdir(data_dir) == []
        raise SystemExit("killed")

    monkeypatch.setattr(os, "link", crash)
    with pytest.raises(SystemExit):
        files.create_image(image, 1 << 20)
    assert os.listdir(data_dir) == []
    image.close()


def test_a_name_taken_meanwhile_is_refused_and_left_alone(data_dir: Path) -> None:
    image = DataDir(data_dir).new("disk.img", parameter="target", hint="")
    (data_dir / "disk.img").write_bytes(b"theirs")
    with pytest.raises(FileExistsError):
        files.create_image(image, 1 << 20)
    assert (data_dir / "disk.img").read_bytes() == b"theirs"
    image.close()
