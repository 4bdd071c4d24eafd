"""A small asyncio QMP client: what a QEMU user talks to qemu-storage-daemon with.

It reads the greeting, negotiates capabilities, runs commands (several may
be in flight: each carries an ``id`` and its reply is matched by it) and
hands events to subscribers' queues.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

JsonObject = dict[str, Any]

_LINE_LIMIT = 64 * 1024 * 1024


class QmpError(Exception):
    """A command failed: QMP answered with an ``error`` object."""

    def __init__(self, error_class: str, desc: str) -> None:
        super().__init__(f"{error_class}: {desc}")
        self.error_class = error_class
        self.desc = desc


class QmpClient:
    """One QMP connection over a UNIX socket."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._ids = itertools.count(1)
        self._pending: dict[str, asyncio.Future[Any]] = {}
        self._subscribers: list[asyncio.Queue[JsonObject]] = []
        self._reader_task: asyncio.Task[None] | None = None
        self.greeting: JsonObject = {}

    @classmethod
    async def connect(cls, path: Path, wait_seconds: float = 10.0) -> QmpClient:
        """Connect, read the greeting and leave capabilities negotiation mode."""
        reader, writer = await asyncio.wait_for(
            asyncio.open_unix_connection(str(path), limit=_LINE_LIMIT), wait_seconds
        )
        client = cls(reader, writer)
        try:
            greeting = json.loads(await asyncio.wait_for(reader.readline(), wait_seconds))
            if "QMP" not in greeting:
                raise ConnectionError(f"not a QMP greeting: {greeting!r}")
            client.greeting = greeting
            client._reader_task = asyncio.create_task(client._read_loop(), name="qmp-reader")
            await asyncio.wait_for(client.execute("qmp_capabilities"), wait_seconds)
        except BaseException:
            await client.close()
            raise
        return client

    async def execute(self, command: str, arguments: Mapping[str, Any] | None = None) -> Any:
        """Run ``command`` and return its ``return`` value; raise QmpError on ``error``."""
        request_id = f"b{next(self._ids)}"
        message: JsonObject = {"execute": command, "id": request_id}
        if arguments:
            message["arguments"] = dict(arguments)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        try:
            self._writer.write(json.dumps(message).encode() + b"\n")
            await self._writer.drain()
            return await future
        finally:
            self._pending.pop(request_id, None)

    def subscribe(self) -> asyncio.Queue[JsonObject]:
        """A queue that receives every event from now on."""
        queue: asyncio.Queue[JsonObject] = asyncio.Queue()
        self._subscribers.append(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[JsonObject]) -> None:
        """Stop delivering events to ``queue``."""
        with contextlib.suppress(ValueError):
            self._subscribers.remove(queue)

    async def close(self) -> None:
        """Close the connection; commands still waiting fail with ConnectionError."""
        if self._reader_task is not None:
            self._reader_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader_task
        self._writer.close()
        with contextlib.suppress(OSError):
            await self._writer.wait_closed()
        self._fail_pending(ConnectionError("QMP connection closed"))

    async def _read_loop(self) -> None:
        try:
            while line := await self._reader.readline():
                self._dispatch(json.loads(line))
        finally:
            self._fail_pending(ConnectionError("QMP connection lost"))

    def _dispatch(self, message: JsonObject) -> None:
        if "event" in message:
            for queue in self._subscribers:
                queue.put_nowait(message)
            return
        future = self._pending.get(str(message.get("id")))
        if future is None or future.done():
            return
        if "error" in message:
            error = message["error"]
            future.set_exception(QmpError(error.get("class", "?"), error.get("desc", "")))
        else:
            future.set_result(message.get("return"))

    def _fail_pending(self, error: Exception) -> None:
        for future in self._pending.values():
            if not future.done():
                future.set_exception(error)
