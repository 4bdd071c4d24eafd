"""Server interceptors that observe every call, whatever style its handler has.

The server has three kinds of handlers: coroutines returning a response
(unary), coroutines writing with ``context.write`` (the watch streams,
which write shared bytes) and async generators (health's Watch,
reflection).  An :class:`ObservingInterceptor` wraps each of them in the
same style, so the reader/writer streams keep writing their bytes, and
runs the call inside the context manager its ``observe`` function makes
for that call; the manager's ``__exit__`` sees how the call ended.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractContextManager
from typing import Any

import grpc
import grpc.aio

Context = grpc.aio.ServicerContext[Any, Any]
Observe = Callable[[object, Context], AbstractContextManager[object]]
"""Given a call's request (or request iterator) and context: what to run it in."""
ObserveFactory = Callable[[str, "grpc.RpcMethodHandler[Any, Any]"], Observe | None]
"""Given a method's full name (``/package.Service/Method``) and handler: its Observe, or None."""

_Behavior = Callable[..., Any]


def status_code(context: Context, error: BaseException | None) -> grpc.StatusCode:
    """The status a call ended with, given the exception (if any) that ended its handler."""
    if isinstance(error, asyncio.CancelledError):
        return grpc.StatusCode.CANCELLED
    code = context.code()
    if isinstance(code, grpc.StatusCode):
        return code
    return grpc.StatusCode.OK if error is None else grpc.StatusCode.UNKNOWN


def call_type(handler: grpc.RpcMethodHandler[Any, Any]) -> str:
    """``unary``, ``server_stream``, ``client_stream`` or ``bidi_stream``."""
    if handler.request_streaming:
        return "bidi_stream" if handler.response_streaming else "client_stream"
    return "server_stream" if handler.response_streaming else "unary"


def _wrap(behavior: _Behavior, observe: Observe) -> _Behavior:
    if inspect.isasyncgenfunction(behavior):

        async def stream(request: object, context: Context) -> AsyncIterator[object]:
            with observe(request, context):
                async for response in behavior(request, context):
                    yield response

        return stream

    async def call(request: object, context: Context) -> object:
        with observe(request, context):
            result: Awaitable[object] = behavior(request, context)
            return await result

    return call


def wrap_handler(
    handler: grpc.RpcMethodHandler[Any, Any], observe: Observe
) -> grpc.RpcMethodHandler[Any, Any]:
    """``handler`` with its behaviour run inside ``observe``'s context manager."""
    common: dict[str, Any] = {
        "request_deserializer": handler.request_deserializer,
        "response_serializer": handler.response_serializer,
    }
    if handler.unary_unary is not None:
        return grpc.unary_unary_rpc_method_handler(_wrap(handler.unary_unary, observe), **common)
    if handler.unary_stream is not None:
        return grpc.unary_stream_rpc_method_handler(_wrap(handler.unary_stream, observe), **common)
    if handler.stream_unary is not None:
        return grpc.stream_unary_rpc_method_handler(_wrap(handler.stream_unary, observe), **common)
    assert handler.stream_stream is not None
    return grpc.stream_stream_rpc_method_handler(_wrap(handler.stream_stream, observe), **common)


class ObservingInterceptor(grpc.aio.ServerInterceptor):
    """Runs every call of the methods ``factory`` accepts inside their Observe."""

    def __init__(self, factory: ObserveFactory) -> None:
        self._factory = factory
        # Wrapped handlers, per method, for the handler they were made from.
        self._cache: dict[str, tuple[grpc.RpcMethodHandler[Any, Any], Any]] = {}

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any] | None]
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        """The method's handler, wrapped."""
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        method = handler_call_details.method
        cached = self._cache.get(method)
        if cached is not None and cached[0] is handler:
            wrapped: grpc.RpcMethodHandler[Any, Any] = cached[1]
            return wrapped
        observe = self._factory(method, handler)
        wrapped = handler if observe is None else wrap_handler(handler, observe)
        self._cache[method] = (handler, wrapped)
        return wrapped
