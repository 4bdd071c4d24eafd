"""block-stream, block-commit and backing-chain confinement on the qemu engine."""

from __future__ import annotations

from pathlib import Path

import pytest

from qapi_jobs.server.engines.builtin.paths import DataDir
from qapi_jobs.server.engines.qemu.chain import read_chain
from qapi_jobs.server.engines.qemu.jobs import QemuJobs
from qapi_jobs.server.engines.qemu.paths import ImageRoot
from qapi_jobs.server.jobs.errors import ErrorKind, JobError

from .conftest import names, statuses, until
from .images import MIB, chain, create, info, reads


async def test_chain_is_read_layer_by_layer(data_dir: Path) -> None:
    chain(data_dir)
    root = ImageRoot(DataDir(data_dir))
    layers = await read_chain(root, root.existing("top.qcow2", parameter="device"))
    assert [layer.name for layer in layers] == ["top.qcow2", "mid.qcow2", "base.qcow2"]
    assert [layer.backing for layer in layers] == ["mid.qcow2", "base.qcow2", None]


@pytest.mark.parametrize(
    ("backing", "kind", "reason"),
    [
        ("../outside.qcow2", ErrorKind.PERMISSION_DENIED, "BACKING_FILE_OUTSIDE_DATA_DIR"),
        ("/etc/passwd", ErrorKind.PERMISSION_DENIED, "BACKING_FILE_OUTSIDE_DATA_DIR"),
        ('json:{"driver":"null-co"}', ErrorKind.INVALID_ARGUMENT, "BACKING_FILE_PROTOCOL"),
        ("nbd:127.0.0.1:1", ErrorKind.INVALID_ARGUMENT, "BACKING_FILE_PROTOCOL"),
    ],
)
async def test_bad_backing_files_are_refused_before_any_qmp_command(
    jobs: QemuJobs, data_dir: Path, backing: str, kind: ErrorKind, reason: str
) -> None:
    create(data_dir.parent / "outside.qcow2")
    create(data_dir / "base.qcow2")
    create(data_dir / "evil.qcow2", backing=backing)
    qmp = jobs.daemon.qmp
    assert qmp is not None
    for command, arguments in [
        ("block-stream", {"device": "evil.qcow2"}),
        ("drive-backup", {"device": "evil.qcow2", "target": "t.qcow2", "sync": "full"}),
        ("block-commit", {"device": "evil.qcow2"}),
    ]:
        with pytest.raises(JobError) as refused:
            await jobs.start_job(command, arguments)
        assert (refused.value.kind, refused.value.reason) == (kind, reason)
        assert "evil.qcow2" in refused.value.message
        assert str(data_dir) not in refused.value.message
    assert not (data_dir / "t.qcow2").exists()
    assert await qmp.execute("query-named-block-nodes") == []
    assert jobs.events.last_seq == 0


async def test_a_loop_of_backing_files_is_refused(data_dir: Path) -> None:
    create(data_dir / "a.qcow2", backing="b.qcow2")
    create(data_dir / "b.qcow2", backing="a.qcow2")
    root = ImageRoot(DataDir(data_dir))
    with pytest.raises(JobError) as refused:
        await read_chain(root, root.existing("a.qcow2", parameter="device"))
    assert refused.value.reason == "BACKING_CHAIN_LOOP"


async def test_stream_to_a_base_keeps_data_and_a_relative_backing(
    jobs: QemuJobs, data_dir: Path
) -> None:
    _, _, top = chain(data_dir)
    events = jobs.subscribe()
    await jobs.start_job(
        "block-stream", {"job-id": "s1", "device": "top.qcow2", "base": "base.qcow2"}
    )
    seen = await until(events, "s1", "null")
    assert statuses(seen, "s1") == [
        "created", "running", "waiting", "pending", "concluded", "null",
    ]  # fmt: skip
    assert "BLOCK_JOB_COMPLETED" in names(seen)
    assert info(top)["backing-filename"] == "base.qcow2"
    assert reads(top, 1, 0, MIB) and reads(top, 2, MIB, MIB) and reads(top, 3, 2 * MIB, MIB)
    assert await _nodes(jobs) == []


async def test_stream_of_the_whole_chain_leaves_a_standalone_image(
    jobs: QemuJobs, data_dir: Path
) -> None:
    _, _, top = chain(data_dir)
    events = jobs.subscribe()
    await jobs.start_job("block-stream", {"job-id": "s2", "device": "top.qcow2"})
    await until(events, "s2", "null")
    assert "backing-filename" not in info(top)
    assert reads(top, 1, 0, MIB) and reads(top, 2, MIB, MIB) and reads(top, 3, 2 * MIB, MIB)


async def test_stream_base_outside_the_chain_is_refused(jobs: QemuJobs, data_dir: Path) -> None:
    chain(data_dir)
    create(data_dir / "other.qcow2")
    with pytest.raises(JobError) as refused:
        await jobs.start_job("block-stream", {"device": "top.qcow2", "base": "other.qcow2"})
    assert refused.value.reason == "NOT_IN_BACKING_CHAIN"
    assert await _nodes(jobs) == []


async def test_intermediate_commit(jobs: QemuJobs, data_dir: Path) -> None:
    base, _, top = chain(data_dir)
    events = jobs.subscribe()
    await jobs.start_job(
        "block-commit",
        {"job-id": "k1", "device": "top.qcow2", "top": "mid.qcow2", "base": "base.qcow2"},
    )
    seen = await until(events, "k1", "null")
    assert statuses(seen, "k1") == [
        "created", "running", "waiting", "pending", "concluded", "null",
    ]  # fmt: skip
    assert info(top)["backing-filename"] == "base.qcow2"
    assert reads(base, 2, MIB, MIB)
    assert reads(top, 1, 0, MIB) and reads(top, 2, MIB, MIB) and reads(top, 3, 2 * MIB, MIB)
    assert await _nodes(jobs) == []


async def test_active_commit_goes_ready_and_completes(jobs: QemuJobs, data_dir: Path) -> None:
    base, _, _ = chain(data_dir)
    events = jobs.subscribe()
    await jobs.start_job("block-commit", {"job-id": "k2", "device": "top.qcow2"})
    seen = await until(events, "k2", "ready")
    await jobs.job_complete("k2")
    await until(events, "k2", "null", seen)
    assert statuses(seen, "k2") == [
        "created", "running", "ready", "waiting", "pending", "concluded", "null",
    ]  # fmt: skip
    assert reads(base, 1, 0, MIB) and reads(base, 2, MIB, MIB) and reads(base, 3, 2 * MIB, MIB)


async def test_commit_with_base_above_top_is_refused(jobs: QemuJobs, data_dir: Path) -> None:
    chain(data_dir)
    with pytest.raises(JobError) as refused:
        await jobs.start_job(
            "block-commit", {"device": "top.qcow2", "top": "base.qcow2", "base": "mid.qcow2"}
        )
    assert refused.value.reason == "BASE_NOT_BELOW_TOP"


async def _nodes(jobs: QemuJobs) -> list[object]:
    assert jobs.daemon.qmp is not None
    nodes: list[object] = await jobs.daemon.qmp.execute("query-named-block-nodes")
    return nodes
