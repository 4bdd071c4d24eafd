"""``python -m bench``: run the benchmarks, print their tables, write their JSON."""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import traceback
from collections.abc import Awaitable, Callable
from pathlib import Path

from bench import (
    control_latency,
    copy_throughput,
    durability,
    fanout,
    job_lifecycle,
    metrics_cost,
)
from bench.harness import RESULTS_DIR, BenchResult, Config, log

Benchmark = Callable[[Config], Awaitable[BenchResult]]

BENCHMARKS: dict[str, Benchmark] = {
    control_latency.NAME: control_latency.run,
    fanout.NAME: fanout.run,
    job_lifecycle.NAME: job_lifecycle.run,
    copy_throughput.NAME: copy_throughput.run,
    durability.NAME: durability.run,
    metrics_cost.NAME: metrics_cost.run,
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark qapi-jobs against a bare gRPC server, QMP, qemu-img and cp.",
    )
    parser.add_argument(
        "--smoke", action="store_true", help="tiny sizes: check that everything runs (< 30 s)"
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=sorted(BENCHMARKS),
        help="run only this benchmark (repeatable)",
    )
    parser.add_argument(
        "--results-dir",
        type=Path,
        default=RESULTS_DIR,
        help=f"where the JSON files go (default: {RESULTS_DIR})",
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="scratch directory for images and logs (default: a new temporary one)",
    )
    return parser.parse_args(argv)


async def run_all(names: list[str], smoke: bool, results_dir: Path, workdir: Path) -> int:
    """Run the named benchmarks one after another; 1 if any of them failed."""
    status = 0
    for name in names:
        config = Config(smoke=smoke, workdir=workdir / name)
        config.workdir.mkdir(parents=True, exist_ok=True)
        log(f"{name}: starting")
        started = time.monotonic()
        try:
            result = await BENCHMARKS[name](config)
        except Exception:
            traceback.print_exc()
            log(f"{name}: FAILED")
            status = 1
            continue
        result.finished_at = time.time()
        path = await asyncio.to_thread(result.write, results_dir)
        print(f"\n== {name} ==\n{result.render()}\n", flush=True)
        log(f"{name}: done in {time.monotonic() - started:.1f} s, wrote {path}")
    return status


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m bench``."""
    args = parse_args(argv)
    names = args.only or list(BENCHMARKS)
    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=True)
        return asyncio.run(run_all(names, args.smoke, args.results_dir, args.workdir))
    with tempfile.TemporaryDirectory(prefix="qapi-jobs-bench-") as scratch:
        return asyncio.run(run_all(names, args.smoke, args.results_dir, Path(scratch)))


if __name__ == "__main__":
    sys.exit(main())
