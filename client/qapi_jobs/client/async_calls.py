"""How the generated command methods of the asyncio client reach the server.

The generated classes build a request and hand it to ``_unary`` together
with the stub's method; this is the one place where deadlines are applied
and gRPC errors become :class:`~qapi_jobs.client.errors.QapiJobsError`.
The synchronous twin, ``sync_calls.py``, is generated from this module
(see ``make generate``); edit this one.
"""

# ``timeout`` is the gRPC deadline, which the server sees too.
# ruff: noqa: ASYNC109

from __future__ import annotations

from typing import TypeVar

import grpc
import grpc.aio

from qapi_jobs.client.errors import error_from_rpc

_Request = TypeVar("_Request")
_Response = TypeVar("_Response")


class AsyncCaller:
    """Runs the unary calls of the generated command methods."""

    _default_timeout: float | None = 30.0

    def _deadline(self, timeout: float | None) -> float | None:
        return self._default_timeout if timeout is None else timeout

    async def _unary(
        self,
        method: grpc.aio.UnaryUnaryMultiCallable[_Request, _Response],
        request: _Request,
        timeout: float | None,
    ) -> _Response:
        try:
            return await method(request, timeout=self._deadline(timeout))
        except grpc.RpcError as err:
            raise error_from_rpc(err) from err
