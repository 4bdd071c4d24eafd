"""``python -m bench --smoke`` runs every benchmark and writes well-formed JSON.

The smoke run measures nothing worth keeping; it proves that every
benchmark, its baselines and the result files still work.  Speed is never
asserted.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from typing import Any

import pytest

from tests.support.paths import REPO

TIMEOUT = 180

ENVELOPE = {
    "benchmark",
    "smoke",
    "started_at",
    "duration_s",
    "host",
    "parameters",
    "measurements",
    "ratios",
    "skipped",
}
HAVE_QSD = shutil.which("qemu-storage-daemon") is not None
HAVE_QEMU_IMG = shutil.which("qemu-img") is not None


@pytest.fixture(scope="module")
def smoke_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """Run the smoke mode once; its JSON documents by benchmark name."""
    results = tmp_path_factory.mktemp("bench-results")
    completed = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--results-dir", str(results)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    documents: dict[str, dict[str, Any]] = {}
    for path in sorted(results.glob("*.json")):
        document = json.loads(path.read_text())
        assert path.name.startswith(document["benchmark"] + "-")
        documents[document["benchmark"]] = document
    return documents


def _check_numbers(value: Any) -> None:
    if isinstance(value, float):
        assert math.isfinite(value)
    elif isinstance(value, dict):
        for item in value.values():
            _check_numbers(item)
    elif isinstance(value, list):
        for item in value:
            _check_numbers(item)


def _rows(document: dict[str, Any], **match: Any) -> list[dict[str, Any]]:
    return [
        row
        for row in document["measurements"]
        if all(row.get(key) == value for key, value in match.items())
    ]


def test_every_benchmark_wrote_one_document(smoke_results: dict[str, dict[str, Any]]) -> None:
    assert set(smoke_results) == {
        "control_latency",
        "fanout",
        "job_lifecycle",
        "copy_throughput",
        "durability",
        "metrics_cost",
    }
    for document in smoke_results.values():
        assert set(document) == ENVELOPE
        assert document["smoke"] is True
        assert {"python", "grpcio", "cpus", "loadavg_1m_start"} <= set(document["host"])
        _check_numbers(document)
        for value in document["ratios"].values():
            assert value is None or isinstance(value, int | float)
        skipped = {entry["what"] for entry in document["skipped"]}
        assert "service" not in skipped


def test_control_latency(smoke_results: dict[str, dict[str, Any]]) -> None:
    document = smoke_results["control_latency"]
    targets = ["service", "echo"] + (["qmp"] if HAVE_QSD else [])
    for operation in ("query-jobs", "job-pause", "job-resume"):
        for target in targets:
            (row,) = _rows(document, target=target, operation=operation)
            assert {
                "request_bytes",
                "response_bytes",
                "count",
                "p50_us",
                "p99_us",
                "max_us",
            } <= set(row)
            assert row["count"] > 0
            assert row["p50_us"] > 0
        assert document["ratios"][f"{operation} p50 service/echo"] is not None
        if HAVE_QSD:
            assert document["ratios"][f"{operation} p99 service/qmp"] is not None
    echo = _rows(document, target="echo", operation="query-jobs")[0]
    service = _rows(document, target="service", operation="query-jobs")[0]
    assert echo["response_bytes"] == service["response_bytes"]


def test_fanout(smoke_results: dict[str, dict[str, Any]]) -> None:
    document = smoke_results["fanout"]
    watcher_counts = [step["watchers"] for step in document["parameters"]["steps"]]
    for watchers in watcher_counts:
        for target in ("bare", "service"):
            rows = _rows(document, target=target, watchers=watchers)
            assert {row["phase"] for row in rows} == {"steady", "burst"}
            for row in rows:
                assert {
                    "events",
                    "deliveries",
                    "missing_deliveries",
                    "deliveries_per_s",
                    "server_cpu_us_per_delivery",
                    "server_rss_kib_per_1000_streams",
                    "delay",
                } <= set(row)
                assert row["streams_opened"] == watchers
                assert row["events"] > 0
                assert row["deliveries"] == row["events"] * watchers
                assert {"p50_ms", "p99_ms", "max_ms"} <= set(row["delay"])
        assert f"{watchers} watchers burst delivery time service/bare" in document["ratios"]


def test_job_lifecycle(smoke_results: dict[str, dict[str, Any]]) -> None:
    document = smoke_results["job_lifecycle"]
    targets = ["service"] + (["qmp", "service-qemu"] if HAVE_QSD else [])
    for target in targets:
        for mode in ("sequential", "concurrent"):
            (row,) = _rows(document, target=target, mode=mode)
            assert row["jobs"] > 0
            assert row["jobs_per_s"] > 0
            assert {"p50_ms", "p99_ms"} <= set(row["job_duration"])
    if HAVE_QSD:
        assert document["ratios"]["concurrent time per job service/qmp"] is not None
        assert document["ratios"]["concurrent time per job service-qemu/qmp"] is not None


def test_copy_throughput(smoke_results: dict[str, dict[str, Any]]) -> None:
    document = smoke_results["copy_throughput"]
    copiers = ["service", "cp"] + (["qemu-img"] if HAVE_QEMU_IMG else [])
    for image in ("half-holes", "full"):
        for copier in copiers:
            (row,) = _rows(document, kind="copy", image=image, copier=copier)
            assert row["mib_per_s"] > 0
            assert row["mib_per_s_incl_fsync"] > 0
            assert row["allocated_bytes"] > 0
    limit_targets = ["service"] + (["qemu"] if HAVE_QSD else [])
    for limit in document["parameters"]["speed_limits_mib_per_s"]:
        for target in limit_targets:
            (row,) = _rows(document, kind="speed_limit", target=target, limit_mib_per_s=limit)
            assert {"measured_mib_per_s", "accuracy", "sampled_seconds"} <= set(row)


def test_durability(smoke_results: dict[str, dict[str, Any]]) -> None:
    document = smoke_results["durability"]
    for operation in ("query-jobs", "job-pause", "job-resume"):
        for log in ("store", "memory"):
            (row,) = _rows(document, kind="control", operation=operation, log=log)
            assert row["count"] > 0 and row["p50_us"] > 0
        assert document["ratios"][f"{operation} p50 store/memory"] is not None
    for phase in ("steady", "burst"):
        for log in ("store", "memory"):
            (row,) = _rows(document, kind="fanout", phase=phase, log=log)
            assert row["missing_deliveries"] == 0
            assert row["deliveries"] == row["events"] * document["parameters"]["watchers"]
        assert f"fan-out {phase} CPU per delivery store/memory" in document["ratios"]
    restarts = _rows(document, kind="restart")
    assert len(restarts) == 4 and all(row["median_ms"] > 0 for row in restarts)


def test_metrics_cost(smoke_results: dict[str, dict[str, Any]]) -> None:
    document = smoke_results["metrics_cost"]
    for operation in ("query-jobs", "job-pause", "job-resume"):
        for target in ("metrics off", "metrics on"):
            (row,) = _rows(document, target=target, operation=operation)
            assert row["count"] > 0
        assert document["ratios"][f"{operation} p50 metrics on/off"] > 0
    (scrape,) = _rows(document, target="scrape")
    assert scrape["body_bytes"] > 0
