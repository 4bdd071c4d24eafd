"""An overall deadline that bounds every call made under it.

``wait_for_status`` and ``run_job`` take one ``timeout`` for the whole
wait; each stream they open, each call they make and each pause between
reconnections gets what is left of it, so the server sees the deadline too
and nothing outlives it.
"""

from __future__ import annotations

import time


class Deadline:
    """A point in time (None: no deadline) and what is left until it."""

    def __init__(self, timeout: float | None) -> None:
        self.at = None if timeout is None else time.monotonic() + timeout

    def remaining(self) -> float | None:
        """Seconds left (None: no deadline); TimeoutError once it passed."""
        if self.at is None:
            return None
        left = self.at - time.monotonic()
        if left <= 0:
            raise TimeoutError("the deadline passed")
        return left

    def bound(self, timeout: float | None) -> float | None:
        """``timeout`` shortened to what is left (None: neither bounds)."""
        left = self.remaining()
        if left is None:
            return timeout
        return left if timeout is None else min(timeout, left)

    def pause(self, seconds: float) -> float:
        """How long to pause for ``seconds`` without passing the deadline."""
        left = self.remaining()
        return seconds if left is None else min(seconds, left)


NO_DEADLINE = Deadline(None)
"""For watches the caller iterates for as long as it likes."""
