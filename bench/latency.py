"""Timing repeated calls of several targets, interleaved so that noise hits them alike."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from bench.procstat import sample

Call = Callable[[], Awaitable[object]]
Samples = defaultdict[str, list[float]]


@dataclass(frozen=True)
class MessageSizes:
    """Serialized request and response sizes of one operation, in bytes."""

    request: int
    response: int


@dataclass
class Alternating:
    """Operations that must take turns (pause, then resume), each timed under its own name.

    ``server_pid`` names the process that serves them, whose CPU time is
    then measured around every batch of calls.
    """

    steps: Sequence[tuple[str, Call]]
    server_pid: int | None = None

    async def once(self, samples: Samples) -> None:
        """Run every step once, in order, recording each one's duration."""
        for name, call in self.steps:
            start = time.perf_counter_ns()
            await call()
            samples[name].append((time.perf_counter_ns() - start) / 1e9)


def single(name: str, call: Call, server_pid: int | None = None) -> Alternating:
    """A probe of one operation."""
    return Alternating([(name, call)], server_pid)


@dataclass
class Timings:
    """Durations by operation name, and the serving process's CPU time per call."""

    samples: Samples = field(default_factory=lambda: defaultdict(list))
    server_cpu: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    """CPU seconds the server spent, by operation; a probe's steps share its batches equally."""

    def cpu_per_call(self, name: str) -> float | None:
        """Server CPU seconds per call of ``name``; None if not measured."""
        calls = len(self.samples.get(name, ()))
        if name not in self.server_cpu or not calls:
            return None
        return self.server_cpu[name] / calls


async def time_interleaved(
    probes: Sequence[Alternating], rounds: int, per_round: int, warmup: int
) -> Timings:
    """Run every probe ``warmup`` times, then ``rounds`` times ``per_round`` times each.

    The probes take turns round by round, so a burst of load from elsewhere
    on the machine spreads over all of them instead of skewing one.  Returns
    the durations (seconds) by operation name, warm-up excluded.
    """
    discarded: Samples = defaultdict(list)
    for probe in probes:
        for _ in range(warmup):
            await probe.once(discarded)
    timings = Timings()
    for _ in range(rounds):
        for probe in probes:
            before = sample(probe.server_pid).cpu_seconds if probe.server_pid else 0.0
            for _ in range(per_round):
                await probe.once(timings.samples)
            if probe.server_pid:
                spent = sample(probe.server_pid).cpu_seconds - before
                for name, _ in probe.steps:
                    timings.server_cpu[name] += spent / len(probe.steps)
    return timings
