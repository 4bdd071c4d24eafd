"""What every benchmark shares: percentiles, tables, results and their JSON file."""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeAlias

import grpc

Json: TypeAlias = bool | int | float | str | list["Json"] | dict[str, "Json"] | None

RESULTS_DIR = Path(__file__).resolve().parent / "results"
"""Where ``python -m bench`` writes its JSON files unless told otherwise."""


@dataclass(frozen=True)
class Config:
    """How a benchmark run is set up."""

    smoke: bool
    """Tiny sizes: checks that everything runs, measures nothing worth keeping."""
    workdir: Path
    """Scratch space for images, data directories and logs; removed after the run."""


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) of ``values``, interpolating linearly.

    NaN for an empty sequence, so that a missing measurement shows as such
    rather than as a zero.
    """
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low = math.floor(rank)
    high = math.ceil(rank)
    if low == high:
        return ordered[low]
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True)
class Distribution:
    """Percentiles of a set of durations, in seconds."""

    count: int
    p50: float
    p99: float
    max: float
    mean: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Distribution:
        """Summarise ``values`` (seconds)."""
        if not values:
            return cls(0, math.nan, math.nan, math.nan, math.nan)
        return cls(
            count=len(values),
            p50=percentile(values, 50),
            p99=percentile(values, 99),
            max=max(values),
            mean=sum(values) / len(values),
        )

    def to_json(self, unit: str = "us") -> dict[str, Json]:
        """The summary as JSON numbers in ``unit`` ("us" or "ms"), keys suffixed with it."""
        scale = {"us": 1e6, "ms": 1e3}[unit]
        return {
            "count": self.count,
            f"p50_{unit}": finite(self.p50 * scale),
            f"p99_{unit}": finite(self.p99 * scale),
            f"max_{unit}": finite(self.max * scale),
            f"mean_{unit}": finite(self.mean * scale),
        }


def finite(value: float) -> float | None:
    """``value`` rounded for JSON, or None where it is not a number (JSON has no NaN)."""
    if math.isnan(value) or math.isinf(value):
        return None
    return round(value, 3)


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """numerator / denominator, or None when either is missing or the denominator is 0."""
    if numerator is None or denominator is None or denominator == 0:
        return None
    if math.isnan(numerator) or math.isnan(denominator):
        return None
    return round(numerator / denominator, 3)


def format_cell(value: object) -> str:
    """How a value looks in a printed table."""
    if value is None:
        return "-"
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        magnitude = abs(value)
        if magnitude >= 1000:
            return f"{value:,.0f}"
        if magnitude >= 10:
            return f"{value:.1f}"
        return f"{value:.3g}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


@dataclass
class Table:
    """A titled table printed with aligned columns."""

    title: str
    columns: Sequence[str]
    rows: list[list[object]] = field(default_factory=list)

    def add(self, *cells: object) -> None:
        """Append a row; it must have one cell per column."""
        if len(cells) != len(self.columns):
            raise ValueError(f"{self.title}: {len(cells)} cells for {len(self.columns)} columns")
        self.rows.append(list(cells))

    def render(self) -> str:
        """The table as text, numbers right-aligned."""
        text = [[format_cell(cell) for cell in row] for row in self.rows]
        widths = [len(name) for name in self.columns]
        for row in text:
            widths = [max(width, len(cell)) for width, cell in zip(widths, row, strict=True)]
        numeric = [
            all(isinstance(row[i], int | float) or row[i] is None for row in self.rows)
            for i in range(len(self.columns))
        ]

        def line(cells: Iterable[str]) -> str:
            parts = [
                cell.rjust(width) if right else cell.ljust(width)
                for cell, width, right in zip(cells, widths, numeric, strict=True)
            ]
            return "  ".join(parts).rstrip()

        rule = "  ".join("-" * width for width in widths)
        return "\n".join([self.title, line(self.columns), rule, *(line(row) for row in text)])


@dataclass
class BenchResult:
    """Everything one benchmark found: measurements, ratios, tables, what it skipped."""

    name: str
    smoke: bool
    parameters: dict[str, Json] = field(default_factory=dict)
    measurements: list[dict[str, Json]] = field(default_factory=list)
    ratios: dict[str, float | None] = field(default_factory=dict)
    skipped: list[dict[str, Json]] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    started_at: float = field(default_factory=time.time)
    load_at_start: float = field(default_factory=lambda: os.getloadavg()[0])
    """The 1-minute load average when the benchmark started (others' work skews results)."""
    finished_at: float | None = None

    def measure(self, **row: Json) -> dict[str, Json]:
        """Record one measurement row and return it."""
        self.measurements.append(row)
        return row

    def skip(self, what: str, reason: str) -> None:
        """Record that ``what`` was not measured, and why."""
        self.skipped.append({"what": what, "reason": reason})

    def to_json(self) -> dict[str, Json]:
        """The JSON document written to the results directory."""
        finished = self.finished_at if self.finished_at is not None else time.time()
        measurements: list[Json] = [dict(row) for row in self.measurements]
        skipped: list[Json] = [dict(entry) for entry in self.skipped]
        return {
            "benchmark": self.name,
            "smoke": self.smoke,
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(self.started_at)),
            "duration_s": round(finished - self.started_at, 3),
            "host": {**host_info(), "loadavg_1m_start": round(self.load_at_start, 2)},
            "parameters": self.parameters,
            "measurements": measurements,
            "ratios": dict(self.ratios),
            "skipped": skipped,
        }

    def write(self, directory: Path) -> Path:
        """Write the JSON document as ``<name>-<timestamp>.json`` and return its path."""
        directory.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%dT%H%M%S", time.localtime(self.started_at))
        path = directory / f"{self.name}-{stamp}.json"
        path.write_text(json.dumps(self.to_json(), indent=2, allow_nan=False) + "\n")
        return path

    def render(self) -> str:
        """The tables, ratios and skips as text for the terminal."""
        parts = [table.render() for table in self.tables if table.rows]
        if self.ratios:
            width = max(len(name) for name in self.ratios)
            lines = [
                f"  {name.ljust(width)}  {format_cell(value)}"
                for name, value in self.ratios.items()
            ]
            parts.append(
                "ratios (for times, delays, CPU and memory: above 1 = the service is worse)\n"
                + "\n".join(lines)
            )
        if self.skipped:
            parts.append(
                "skipped:\n" + "\n".join(f"  {s['what']}: {s['reason']}" for s in self.skipped)
            )
        return "\n\n".join(parts)


def host_info() -> dict[str, Json]:
    """Facts about the machine a result was measured on."""
    load = os.getloadavg()
    return {
        "python": platform.python_version(),
        "grpcio": grpc.__version__,
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
        "kernel": platform.release(),
        "loadavg_1m_end": round(load[0], 2),
        "qemu": qemu_version(),
    }


def qemu_version() -> str | None:
    """The first line of ``qemu-img --version``, or None without qemu-img."""
    try:
        out = subprocess.run(
            ["qemu-img", "--version"], capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.splitlines()[0] if out.stdout else None


def log(message: str) -> None:
    """Progress notes go to stderr so that stdout holds only the tables."""
    print(f"[bench] {message}", file=sys.stderr, flush=True)
