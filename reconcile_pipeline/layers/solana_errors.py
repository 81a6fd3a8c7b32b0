"""How the Solana client's failures map into the LayerError tree (layer="solana"), and which are retried.

What ``solana.rpc.async_api.AsyncClient`` raises is mapped by :func:`map_exception`:

- httpx2.TimeoutException                          -> LayerTimeout
- httpx2.TransportError (refused, reset, cut off)  -> LayerConnectError
- HTTP 429 (Retry-After honoured) / 401, 403 / 5xx -> LayerRateLimited / LayerAuthError / LayerServerError
  (layers/http.py's mapping; another 4xx, a wrong endpoint, is a LayerServerError that is not retried)
- a JSON-RPC error object                          -> RpcError (LayerUnavailable; transient codes retried)
- a malformed response                             -> DecodeError

:func:`retryable` says which of those a retry may cure.
"""

from __future__ import annotations

import httpx2
from solana.exceptions import SolanaRpcException
from solana.rpc.jsonrpc import SolanaJsonRpcError

from .errors import (
    DecodeError,
    LayerConnectError,
    LayerError,
    LayerRateLimited,
    LayerServerError,
    LayerTimeout,
    LayerUnavailable,
)
from .http import RETRYABLE_STATUS, retry_after_seconds, status_error

__all__ = ["LAYER", "TRANSIENT_RPC_CODES", "RpcError", "map_exception", "retryable"]

LAYER = "solana"
TRANSIENT_RPC_CODES = frozenset({-32603, -32004, -32005, -32014, -32016})  # internal, node behind, not yet available


class RpcError(LayerUnavailable):
    """The node answered with a JSON-RPC error object: nothing was read."""

    def __init__(self, message: str, *, code: int, layer: str = LAYER, where: str = "") -> None:
        self.code = code
        super().__init__(message, layer=layer, where=where)

    @property
    def kind(self) -> str:
        return "rpc_error"


def map_exception(exc: BaseException, where: str) -> LayerError:
    """Map what ``AsyncClient`` raises into the LayerError tree."""
    cause = exc.__cause__ if isinstance(exc, SolanaRpcException) else exc
    if isinstance(cause, httpx2.TimeoutException | TimeoutError):
        return LayerTimeout(f"timed out ({type(cause).__name__})", layer=LAYER, where=where)
    if isinstance(cause, httpx2.HTTPStatusError):  # the same mapping as the httpx seam's
        return status_error(cause.response.status_code, retry_after_seconds(cause.response), LAYER, where)
    if isinstance(cause, httpx2.HTTPError | httpx2.InvalidURL | OSError):
        return LayerConnectError(f"transport failed ({type(cause).__name__}: {cause})", layer=LAYER, where=where)
    if isinstance(exc, SolanaJsonRpcError):
        if exc.code == 429:
            return LayerRateLimited(f"rate limited (JSON-RPC {exc.code})", layer=LAYER, where=where)
        return RpcError(f"JSON-RPC error {exc.code}: {exc.message}", code=exc.code, where=where)
    return DecodeError(f"malformed JSON-RPC response ({type(exc).__name__}: {exc})", layer=LAYER, where=where)


def retryable(exc: LayerError) -> bool:
    """Whether a retry may cure ``exc``: transient RPC codes, retryable HTTP statuses, timeouts, transport, 429."""
    if isinstance(exc, RpcError):
        return exc.code in TRANSIENT_RPC_CODES
    if isinstance(exc, LayerServerError):
        return exc.status_code in RETRYABLE_STATUS
    return isinstance(exc, LayerTimeout | LayerConnectError | LayerRateLimited)
