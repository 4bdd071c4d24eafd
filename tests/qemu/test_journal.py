"""The journal: a whole table, then the jobs added and dropped since, replayed in order."""

from __future__ import annotations

from pathlib import Path

from qapi_jobs.server.engines.qemu.graph import OpenNodes
from qapi_jobs.server.engines.qemu.journal import (
    JOURNAL_NAME,
    Journal,
    added,
    append,
    dropped,
    load,
    save,
)
from qapi_jobs.server.engines.qemu.recipes import Launch
from qapi_jobs.server.jobs.status import JobType


def _launch(job_id: str) -> Launch:
    return Launch(
        job_id, JobType.BACKUP, "blockdev-backup", {}, auto_dismiss=False,
        nodes=OpenNodes([f"{job_id}-f"], [], {f"{job_id}-f": "a.raw"}),
        created=[Path("/data") / f"{job_id}.raw"],
    )  # fmt: skip


def test_records_after_the_table_are_replayed(tmp_path: Path) -> None:
    save(tmp_path, Journal((_launch("a"), _launch("b")), next_node=3))
    append(tmp_path, [added(_launch("c"), 5), dropped("a", 5)])
    append(tmp_path, [dropped("c", 6)])
    journal = load(tmp_path)
    assert [launch.job_id for launch in journal.launches] == ["b"]
    assert journal.next_node == 6
    (kept,) = journal.launches
    assert (kept.auto_dismiss, kept.nodes.added, kept.created) == (
        False, ["b-f"], [Path("/data/b.raw")],
    )  # fmt: skip


def test_a_record_cut_short_ends_the_replay(tmp_path: Path) -> None:
    save(tmp_path, Journal((), next_node=1))
    append(tmp_path, [added(_launch("c"), 2)])
    with (tmp_path / JOURNAL_NAME).open("a") as file:
        file.write('{"drop": "c", "next')
    assert [launch.job_id for launch in load(tmp_path).launches] == ["c"]


def test_a_new_table_replaces_the_records(tmp_path: Path) -> None:
    save(tmp_path, Journal((), next_node=1))
    append(tmp_path, [added(_launch("c"), 2)])
    save(tmp_path, Journal((_launch("d"),), next_node=4))
    assert [launch.job_id for launch in load(tmp_path).launches] == ["d"]


def test_no_journal_is_an_empty_one(tmp_path: Path) -> None:
    assert load(tmp_path) == Journal()
