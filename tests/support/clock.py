"""A clock for code that takes one, moved by the test instead of by time."""

from __future__ import annotations


class ManualClock:
    """Returns ``now``, which only changes when the test changes it."""

    def __init__(self, start: float = 0.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now
