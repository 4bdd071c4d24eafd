"""CPU time and resident memory of another process, read from /proc."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True)
class ProcessSample:
    """One reading of a process's counters."""

    cpu_seconds: float
    """User plus system CPU time consumed so far (resolution: one clock tick)."""
    rss_bytes: int
    """Resident set size."""


def sample(pid: int) -> ProcessSample:
    """Read the CPU time and RSS of process ``pid`` (which must be alive)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    # The command name (field 2) may hold spaces; the fields after it are fixed.
    fields = stat[stat.rindex(")") + 2 :].split()
    utime, stime = int(fields[11]), int(fields[12])
    resident_pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    return ProcessSample(
        cpu_seconds=(utime + stime) / _CLOCK_TICKS, rss_bytes=resident_pages * _PAGE_SIZE
    )
