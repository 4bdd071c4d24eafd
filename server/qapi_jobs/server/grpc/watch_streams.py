"""Running watch streams: sessions, the registry of open streams, and the two ways to write.

A :class:`StreamSession` holds the logic of one stream and knows nothing
about gRPC: it hands out :class:`Frame` objects and ends by returning None
(status OK) or raising :class:`StreamEnd`.  Two adapters drive a session:

- :func:`write_frames`, a reader/writer-style handler that writes each
  frame's cached bytes (for methods registered with an identity
  serializer, so an event shared by many streams is serialised once);
- :func:`yield_messages`, an async generator of the frames' messages (for
  methods registered through the generated code, which serialises per
  stream).

Every stream is entered in a :class:`StreamRegistry` so that shutdown can
end them all at once.  Ending a stream means cancelling its task and then
sending the status from that task.  The reader/writer adapter can be
cancelled anywhere, even while a write waits for a slow client (the
message being written still goes out first, so positions stay exact).
The async-generator adapter can only be cancelled while the session waits
inside its own code: gRPC writes each yielded message itself, and a
cancellation there would end the call without any status.  A session
stopped while its message is being written notices at its next step.

Client disconnects cancel the stream's task (gRPC does that); the
session's resources are released by the adapter's ``finally`` and, as a
safety net for generators abandoned mid-write, by a done-callback on the
task.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Generic, TypeVar

import grpc

from qapi_jobs.server.grpc.watch_encoding import Frame, M
from qapi_jobs.server.grpc.watch_status import StreamEnd

_T = TypeVar("_T")

Context = grpc.aio.ServicerContext[Any, Any]


class StreamSession(ABC, Generic[M]):
    """The logic of one open stream: which frames to send, and when to stop."""

    def __init__(self) -> None:
        self.parked = False
        """True while the session waits in its own code (safe to cancel there)."""
        self.stop_requested = False

    @abstractmethod
    async def next_frame(self) -> Frame[M] | None:
        """The next frame to send; None ends the stream with OK.

        Raises :class:`StreamEnd` to end it with an error status.
        """

    @abstractmethod
    def stop_status(self) -> grpc.Status:
        """The status the stream ends with when the server closes it."""

    def close(self) -> None:
        """Release what the session holds (subscriptions); idempotent."""

    def request_stop(self) -> None:
        """Ask the session to end with :meth:`stop_status` at its next step."""
        self.stop_requested = True

    def check_stop(self) -> None:
        """Raise the stop status if a stop was requested."""
        if self.stop_requested:
            raise StreamEnd(self.stop_status())

    async def park(self, awaitable: Awaitable[_T]) -> _T:
        """Await ``awaitable`` as a point where shutdown may cancel the stream."""
        self.parked = True
        try:
            return await awaitable
        finally:
            self.parked = False


class OpenStream:
    """A registry entry: a stream's task and session."""

    __slots__ = ("_released", "cancel_writes", "cancelled_by_server", "registry", "session", "task")

    def __init__(
        self,
        registry: StreamRegistry,
        task: asyncio.Task[Any],
        session: StreamSession[Any],
        cancel_writes: bool,
    ) -> None:
        self.registry = registry
        self.task = task
        self.session = session
        self.cancel_writes = cancel_writes
        self.cancelled_by_server = False
        self._released = False

    def interrupt(self) -> None:
        """End the stream with its session's stop status as soon as possible."""
        self.session.request_stop()
        if self.cancelled_by_server or self.task.done():
            return
        if self.cancel_writes or self.session.parked:
            self.cancelled_by_server = True
            self.task.cancel()

    def release(self) -> None:
        """Leave the registry and release the session; idempotent."""
        if self._released:
            return
        self._released = True
        self.session.close()
        self.registry._forget(self)

    def _task_done(self, _task: asyncio.Task[Any]) -> None:
        self.release()


class StreamRegistry:
    """The open streams of one servicer; :meth:`close_all` ends them together."""

    def __init__(self, refusal: Callable[[], grpc.Status]) -> None:
        """``refusal`` makes the status for streams opened after :meth:`close_all`."""
        self._refusal = refusal
        self._open: dict[OpenStream, None] = {}
        self._closed = False
        self._drained = asyncio.Event()
        self._drained.set()

    @property
    def closed(self) -> bool:
        """True once :meth:`close_all` was called."""
        return self._closed

    def __len__(self) -> int:
        return len(self._open)

    def refusal(self) -> grpc.Status:
        """The status for a stream opened after :meth:`close_all`."""
        return self._refusal()

    def admit(self, session: StreamSession[Any], *, cancel_writes: bool) -> OpenStream:
        """Enter the current task's stream; it leaves when released or when the task ends."""
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("streams run inside a task")
        entry = OpenStream(self, task, session, cancel_writes)
        self._open[entry] = None
        self._drained.clear()
        task.add_done_callback(entry._task_done)
        return entry

    def close_all(self) -> None:
        """Refuse new streams and end every open one with its stop status."""
        self._closed = True
        for entry in list(self._open):
            entry.interrupt()

    async def wait_closed(self) -> None:
        """Wait until no stream is open any more."""
        await self._drained.wait()

    def _forget(self, entry: OpenStream) -> None:
        self._open.pop(entry, None)
        if not self._open:
            self._drained.set()


async def _open_session(
    registry: StreamRegistry,
    open_session: Callable[[], StreamSession[M]],
    context: Context,
    *,
    cancel_writes: bool,
) -> tuple[StreamSession[M], OpenStream]:
    if registry.closed:
        await context.abort_with_status(registry.refusal())
    try:
        session = open_session()
    except StreamEnd as end:
        await context.abort_with_status(end.status)
    try:
        # Headers go out on their own, before the stream can be cancelled:
        # gRPC would otherwise send them again with the final status after
        # a first write was cancelled, and core refuses that.
        await context.send_initial_metadata(())
    except BaseException:
        session.close()
        raise
    if registry.closed:
        session.close()
        await context.abort_with_status(registry.refusal())
    return session, registry.admit(session, cancel_writes=cancel_writes)


async def write_frames(
    registry: StreamRegistry,
    open_session: Callable[[], StreamSession[M]],
    context: Context,
) -> None:
    """Run a session as a reader/writer handler, writing each frame's bytes.

    The method must be registered with an identity response serializer.
    """
    session, entry = await _open_session(registry, open_session, context, cancel_writes=True)
    status: grpc.Status | None = None
    try:
        while (frame := await session.next_frame()) is not None:
            await context.write(frame.data)
    except StreamEnd as end:
        status = end.status
    except asyncio.CancelledError:
        if not entry.cancelled_by_server:
            raise
        entry.task.uncancel()
        status = session.stop_status()
    finally:
        entry.release()
    if status is not None:
        await context.abort_with_status(status)


async def yield_messages(
    registry: StreamRegistry,
    open_session: Callable[[], StreamSession[M]],
    context: Context,
) -> AsyncIterator[M]:
    """Run a session as an async generator of its frames' messages."""
    session, entry = await _open_session(registry, open_session, context, cancel_writes=False)
    status: grpc.Status | None = None
    try:
        while True:
            try:
                frame = await session.next_frame()
            except StreamEnd as end:
                status = end.status
                break
            except asyncio.CancelledError:
                if not entry.cancelled_by_server:
                    raise
                entry.task.uncancel()
                status = session.stop_status()
                break
            if frame is None:
                break
            yield frame.message
    finally:
        entry.release()
    if status is not None:
        await context.abort_with_status(status)
