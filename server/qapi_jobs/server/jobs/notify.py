"""Cheap many-waiter wake-ups on one event loop.

A :class:`WakeList` lets any number of tasks wait for "something changed";
waking costs one future resolution per waiting task and nothing per task
that is busy elsewhere.  Each waiter owns its future, so cancelling one
waiter never disturbs the others, and a single waiter can be woken alone
(used to close one subscription).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable


class WakeList:
    """A set of one-shot futures resolved together by :meth:`wake_all`."""

    def __init__(self) -> None:
        # A dict used as an insertion-ordered set: waiters wake in arrival order.
        self._futures: dict[asyncio.Future[None], None] = {}

    def __len__(self) -> int:
        return len(self._futures)

    async def wait(self, on_register: Callable[[asyncio.Future[None]], None] | None = None) -> None:
        """Wait for the next :meth:`wake_all` (or for the future to be resolved directly).

        ``on_register`` receives the waiter's own future, so that its owner
        can wake this one waiter alone.
        """
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._futures[future] = None
        if on_register is not None:
            on_register(future)
        try:
            await future
        finally:
            self._futures.pop(future, None)

    def wake_all(self) -> None:
        """Resolve every outstanding waiter."""
        if not self._futures:
            return
        futures, self._futures = self._futures, {}
        for future in futures:
            if not future.done():
                future.set_result(None)


class ChangeCounter:
    """A monotonically increasing version number that tasks can wait on.

    The manager bumps it whenever anything a JobInfo shows changes (status,
    progress, error, speed); throttled progress streams wait for it to move.
    """

    def __init__(self) -> None:
        self._value = 0
        self._waiters = WakeList()

    @property
    def value(self) -> int:
        """The current version."""
        return self._value

    def bump(self) -> None:
        """Record a change and wake the waiters."""
        self._value += 1
        self._waiters.wake_all()

    async def wait_beyond(self, version: int) -> int:
        """Return the current version as soon as it is greater than ``version``."""
        while self._value <= version:
            await self._waiters.wait()
        return self._value
