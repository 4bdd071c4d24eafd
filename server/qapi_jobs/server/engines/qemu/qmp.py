"""The engine's QMP client: one connection to qemu-storage-daemon over a UNIX socket.

One reader task handles every line the daemon sends, in order.  Events go
to a synchronous callback *before* the reply that follows them resolves
its caller's future, so the events a command causes (QEMU sends them
before its reply) are seen by the engine before the command returns.
Every command carries its own id and a timeout; a reply whose caller has
given up is dropped.  When the connection ends, every pending command
fails with :class:`QmpDisconnected` and the ``on_close`` callback learns
why.  No out-of-band execution: qemu-storage-daemon offers no command that
supports it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
from collections.abc import Callable, Mapping
from typing import Any, Final

logger = logging.getLogger(__name__)

JsonObject = dict[str, Any]
EventCallback = Callable[[JsonObject], None]
CloseCallback = Callable[[Exception], None]

DEFAULT_TIMEOUT: Final = 10.0
"""Seconds a command may take before the caller gets :class:`QmpTimeout`."""
_LINE_LIMIT: Final = 16 << 20
_YIELD_EVERY: Final = 64


class QmpError(Exception):
    """QEMU refused a command; ``desc`` is QEMU's text, unchanged."""

    def __init__(self, command: str, error_class: str, desc: str) -> None:
        super().__init__(desc)
        self.command = command
        self.error_class = error_class
        self.desc = desc


class QmpUnavailable(ConnectionError):
    """The daemon did not answer: the connection is gone or a command timed out."""


class QmpDisconnected(QmpUnavailable):
    """The connection ended before the reply arrived (or before the command was sent)."""


class QmpTimeout(QmpUnavailable):
    """The daemon did not reply in time; it may still be alive but stuck."""

    def __init__(self, command: str, seconds: float) -> None:
        super().__init__(
            f"qemu-storage-daemon did not answer '{command}' within {seconds:g} seconds"
        )
        self.command = command
        self.seconds = seconds


class QmpClient:
    """A negotiated QMP connection; create it with :meth:`connect`."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        on_event: EventCallback | None,
        on_close: CloseCallback | None,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._on_event = on_event
        self._on_close = on_close
        self._ids = itertools.count(1)
        self._pending: dict[str, tuple[str, asyncio.Future[Any]]] = {}
        self._reader_task: asyncio.Task[None] | None = None
        self._closed: Exception | None = None
        self.greeting: JsonObject = {}

    @classmethod
    async def connect(
        cls,
        path: str,
        *,
        on_event: EventCallback | None = None,
        on_close: CloseCallback | None = None,
        within: float = DEFAULT_TIMEOUT,
    ) -> QmpClient:
        """Connect to the monitor at ``path``, read the greeting and negotiate.

        A monitor that is busy with another client accepts the connection
        but sends no greeting; that ends in :class:`QmpTimeout`.
        """
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_unix_connection(path, limit=_LINE_LIMIT), within
            )
        except TimeoutError:
            raise QmpTimeout("connect", within) from None
        except OSError as error:
            raise QmpDisconnected(f"cannot connect to the QMP socket: {error}") from error
        client = cls(reader, writer, on_event, on_close)
        try:
            try:
                line = await asyncio.wait_for(reader.readline(), within)
            except TimeoutError:
                raise QmpTimeout("greeting", within) from None
            greeting = json.loads(line) if line else {}
            if "QMP" not in greeting:
                raise QmpDisconnected(f"no QMP greeting from the socket, got {line[:80]!r}")
            client.greeting = greeting
            client._reader_task = asyncio.get_running_loop().create_task(
                client._read_loop(), name="qmp-reader"
            )
            await client.execute("qmp_capabilities", within=within)
        except BaseException:
            await client.close()
            raise
        return client

    @property
    def connected(self) -> bool:
        """True until the connection ends (either side)."""
        return self._closed is None

    @property
    def version(self) -> tuple[int, int, int]:
        """QEMU's version from the greeting, e.g. ``(7, 2, 22)``."""
        qemu = self.greeting["QMP"]["version"]["qemu"]
        return (int(qemu["major"]), int(qemu["minor"]), int(qemu["micro"]))

    async def execute(
        self,
        command: str,
        arguments: Mapping[str, Any] | None = None,
        *,
        within: float = DEFAULT_TIMEOUT,
    ) -> Any:
        """Run ``command``; return what QMP puts under ``return``.

        Raises :class:`QmpError` when QEMU refuses it, :class:`QmpTimeout`
        after ``within`` seconds and :class:`QmpDisconnected` when the
        connection is or goes down.
        """
        if self._closed is not None:
            raise QmpDisconnected(str(self._closed))
        request_id = f"qj{next(self._ids)}"
        message: JsonObject = {"execute": command, "id": request_id}
        if arguments:
            message["arguments"] = dict(arguments)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = (command, future)
        try:
            # A timeout scope, not wait_for: no task per command, so the reply
            # reaches the caller in the loop iteration that reads it.  A reply
            # after the timeout finds no pending entry and is dropped.
            async with asyncio.timeout(within):
                self._writer.write(json.dumps(message).encode() + b"\n")
                await self._writer.drain()
                return await future
        except TimeoutError:
            raise QmpTimeout(command, within) from None
        except OSError as error:
            raise QmpDisconnected(f"QMP connection lost: {error}") from error
        finally:
            self._pending.pop(request_id, None)

    async def close(self) -> None:
        """Close the connection; pending commands fail with QmpDisconnected."""
        self._finish(QmpDisconnected("QMP connection closed by the engine"), notify=False)
        if self._reader_task is not None and self._reader_task is not asyncio.current_task():
            self._reader_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader_task
        self._writer.close()
        with contextlib.suppress(OSError):
            await self._writer.wait_closed()

    async def _read_loop(self) -> None:
        reason: Exception = QmpDisconnected("qemu-storage-daemon closed the QMP connection")
        try:
            for count in itertools.count(1):
                line = await self._reader.readline()
                if not line:
                    break
                self._dispatch(json.loads(line))
                if count % _YIELD_EVERY == 0:
                    # readline() does not suspend while lines are buffered: a daemon
                    # flooding events must not starve the rest of the loop.
                    await asyncio.sleep(0)
        except (OSError, ValueError) as error:
            reason = QmpDisconnected(f"QMP connection lost: {error}")
        self._finish(reason, notify=True)

    def _dispatch(self, message: JsonObject) -> None:
        if "event" in message:
            if self._on_event is not None:
                try:
                    self._on_event(message)
                except Exception:
                    logger.exception("QMP event handler failed on %s", message.get("event"))
            return
        entry = self._pending.get(str(message.get("id")))
        if entry is None:
            return  # the caller timed out and left
        command, future = entry
        if future.done():
            return
        error = message.get("error")
        if error is not None:
            future.set_exception(
                QmpError(command, str(error.get("class", "GenericError")), str(error.get("desc")))
            )
        else:
            future.set_result(message.get("return"))

    def _finish(self, reason: Exception, *, notify: bool) -> None:
        if self._closed is not None:
            return
        self._closed = reason
        for _, future in self._pending.values():
            if not future.done():
                future.set_exception(QmpDisconnected(str(reason)))
        if notify and self._on_close is not None:
            self._on_close(reason)
