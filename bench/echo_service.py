"""The floor under every unary RPC: a grpc.aio method that answers bytes with bytes.

No protobuf, no application code: a generic handler whose method name says
how many bytes to answer (``/bench.Echo/Reply<n>``), so that a benchmark can
send and receive exactly as many bytes as the service's RPC does.
"""

from __future__ import annotations

import grpc

SERVICE = "bench.Echo"
_PREFIX = f"/{SERVICE}/Reply"


def reply_method(size: int) -> str:
    """The method path that answers any request with ``size`` bytes."""
    return f"{_PREFIX}{size}"


class EchoHandler(grpc.GenericRpcHandler):
    """Serves ``/bench.Echo/Reply<n>`` for every n."""

    def __init__(self) -> None:
        self._handlers: dict[int, grpc.RpcMethodHandler[bytes, bytes]] = {}

    def service(
        self, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler[bytes, bytes] | None:
        """The handler for ``handler_call_details.method``, or None for other services."""
        method = handler_call_details.method
        if not method.startswith(_PREFIX):
            return None
        try:
            size = int(method[len(_PREFIX) :])
        except ValueError:
            return None
        handler = self._handlers.get(size)
        if handler is None:
            handler = _reply_handler(bytes(size))
            self._handlers[size] = handler
        return handler


def _reply_handler(payload: bytes) -> grpc.RpcMethodHandler[bytes, bytes]:
    async def reply(request: bytes, context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
        return payload

    return grpc.unary_unary_rpc_method_handler(reply)
