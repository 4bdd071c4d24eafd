"""A directory swapped for a symbolic link while jobs run never leads them outside.

An attacker with write access to the data directory (another tenant, a
compromised VM image tool) renames a directory and puts a symbolic link to
an outside directory in its place, over and over, while clients start jobs
on paths through it.  A server that checks a path and later opens it by
name can be raced into writing or reading outside; one that opens each
image once, beneath the data directory and following no link, cannot.
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from qapi_jobs.server.engines.builtin import BuiltinEngine
from qapi_jobs.server.jobs.manager import JobManager

from .support import run_job, snapshot, write

ATTEMPTS = 200
"""Raced attempts per argument; every CONTROL_EVERY-th attempt more runs without the race."""
CONTROL_EVERY = 20
SIZE = 16 << 10


class Swapper:
    """Swaps ``data/d0`` for a link to ``outside/d0`` and back, in a thread, on demand."""

    def __init__(self, data_dir: Path, outside: Path) -> None:
        self._dir = data_dir / "d0"
        self._aside = data_dir / "d0.orig"
        self._target = outside / "d0"
        self._go = threading.Event()
        self._idle = threading.Event()
        self._stop = False
        self.swaps = 0
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while True:
            if not self._go.is_set():
                self._idle.set()
                self._go.wait()
                if self._stop:
                    return
                self._idle.clear()
            os.rename(self._dir, self._aside)
            os.symlink(self._target, self._dir)
            # Let the jobs' threads meet the link, then the real directory.
            time.sleep(0)
            os.unlink(self._dir)
            os.rename(self._aside, self._dir)
            time.sleep(0)
            self.swaps += 1

    @contextmanager
    def swapping(self) -> Iterator[None]:
        """Swap while the body runs; afterwards ``data/d0`` is the real directory again."""
        self._idle.clear()
        self._go.set()
        try:
            yield
        finally:
            self._go.clear()
            self._idle.wait()

    def close(self) -> None:
        self._stop = True
        self._go.set()
        self._thread.join()


def backup(device: str, target: str, **members: Any) -> dict[str, Any]:
    return {"job-id": "j", "device": device, "target": target, "sync": "full", **members}


CASES: list[tuple[str, str, dict[str, Any]]] = [
    (
        "create filename",
        "blockdev-create",
        {"job-id": "j", "options": {"driver": "raw", "filename": "d0/new.img", "size": SIZE}},
    ),
    ("backup device", "drive-backup", backup("d0/src.img", "copy.img")),
    ("backup new target", "drive-backup", backup("plain.img", "d0/new.img")),
    (
        "backup existing target",
        "drive-backup",
        backup("plain.img", "d0/tgt.img", mode="existing"),
    ),
    ("mirror device", "drive-mirror", backup("d0/src.img", "copy.img")),
    (
        "mirror existing target",
        "drive-mirror",
        backup("plain.img", "d0/tgt.img", mode="existing"),
    ),
]


@pytest.mark.parametrize(("name", "command", "arguments"), CASES, ids=[c[0] for c in CASES])
async def test_directory_swapped_for_a_symlink_never_leads_outside(
    engine: BuiltinEngine,
    manager: JobManager,
    data_dir: Path,
    outside: Path,
    name: str,
    command: str,
    arguments: dict[str, Any],
) -> None:
    (data_dir / "d0").mkdir()
    (outside / "d0").mkdir()
    write(data_dir / "d0" / "src.img", b"i" * SIZE)
    write(data_dir / "plain.img", b"p" * SIZE)
    secret = write(outside / "d0" / "src.img", b"S" * SIZE)
    write(outside / "d0" / "tgt.img", b"O" * SIZE)
    outside_before = snapshot(outside)
    swapper = Swapper(data_dir, outside)
    outcomes: Counter[str] = Counter()
    try:
        for attempt in range(ATTEMPTS + ATTEMPTS // CONTROL_EVERY):
            write(data_dir / "d0" / "tgt.img", b"t" * SIZE)
            if attempt % (CONTROL_EVERY + 1) == CONTROL_EVERY:
                # A control: undisturbed, the same job works.
                assert await run_job(manager, engine, command, arguments) == "completed"
            else:
                with swapper.swapping():
                    outcome = await run_job(manager, engine, command, arguments)
                outcomes[outcome.split(":")[0]] += 1
            assert snapshot(outside) == outside_before, f"{name}: wrote outside ({outcome})"
            copy = data_dir / "copy.img"
            if copy.exists():
                assert secret[:64] not in copy.read_bytes(), f"{name}: read outside data"
                copy.unlink()
            (data_dir / "d0" / "new.img").unlink(missing_ok=True)
    finally:
        swapper.close()
    # The race was really run: the swaps got in the way of some attempts.
    assert sum(outcomes.values()) == ATTEMPTS
    assert outcomes["completed"] < ATTEMPTS, outcomes
    assert engine.data_dir.open_files == 0
