"""A byte-rate limiter for block jobs (``speed`` in bytes per second, 0 = unlimited).

QEMU hands out a quota of ``speed / 10`` bytes per 100 ms slice and lets the
first request of a slice through whatever its size.  This limiter keeps the
same behaviour with a *theoretical arrival time*: each accounted byte moves
``paid_until`` forward by ``1 / speed`` seconds, and a new request has to
wait while ``paid_until`` is more than one slice ahead of the clock.  So a
job may run one slice ahead of its budget, a single large chunk is never
held back before it is copied (only the next one is), and the long-run rate
equals the speed.  A speed change re-prices the debt still owed, so raising
the speed or removing the limit shortens a wait at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable

SLICE_SECONDS = 0.1
"""How far ahead of its budget a job may run (QEMU's 100 ms slice)."""


def slice_bytes(speed: int) -> int:
    """How many bytes one slice of ``speed`` allows (0 for no limit).

    A job that moves at most this much between two calls of the limiter
    makes progress once per slice, and its first step is no larger.
    """
    return int(speed * SLICE_SECONDS)


class RateLimiter:
    """Tracks bytes copied against a speed; the clock is injectable for tests."""

    def __init__(self, speed: int = 0, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._speed = 0
        self._paid_until = clock()
        self.set_speed(speed)

    @property
    def speed(self) -> int:
        """The limit in bytes per second; 0 means unlimited."""
        return self._speed

    def set_speed(self, speed: int) -> None:
        """Change the limit; bytes already accounted are re-priced at the new speed."""
        if speed < 0:
            raise ValueError("speed must not be negative")
        now = self._clock()
        if self._speed > 0 and speed > 0:
            owed_bytes = max(0.0, self._paid_until - now) * self._speed
            self._paid_until = now + owed_bytes / speed
        else:
            self._paid_until = now
        self._speed = speed

    def delay(self) -> float:
        """Seconds to wait before the next chunk may go (0 when it may go now)."""
        if self._speed == 0:
            return 0.0
        return max(0.0, self._paid_until - SLICE_SECONDS - self._clock())

    def account(self, nbytes: int) -> None:
        """Record ``nbytes`` as copied."""
        if nbytes < 0:
            raise ValueError("nbytes must not be negative")
        if self._speed == 0:
            return
        self._paid_until = max(self._paid_until, self._clock()) + nbytes / self._speed
