"""Callbacks of the asyncio client may be plain functions or coroutine functions."""

from __future__ import annotations

import inspect


async def settle(value: object) -> None:
    """Wait for what a callback returned when it is awaitable."""
    if inspect.isawaitable(value):
        await value
