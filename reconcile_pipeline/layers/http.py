"""The one HTTP seam of the httpx-based clients (IPFS gateways, Pinata, Cloudflare KV, webhooks).

:func:`fetch` sends one request with retries and exponential backoff, streams the body with a
byte cap, and maps every failure into the LayerError tree:

- connect errors, resets, closed connections         -> LayerConnectError
- connect/read/pool timeouts, a body past deadline   -> LayerTimeout
- 5xx after retries                                  -> LayerServerError
- 429 after retries (Retry-After honoured)           -> LayerRateLimited
- 401/403                                            -> LayerAuthError
- a body over ``max_bytes``                          -> ResponseTooLarge (not retried)

4xx other than those come back as a normal :class:`HttpResult` so the caller decides (404 is
"read and found nothing"). Tests pin error paths with ``httpx.MockTransport`` through the
``client`` argument; production passes an ``httpx.AsyncClient``.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass

import httpx

from .errors import (
    LayerAuthError,
    LayerConnectError,
    LayerRateLimited,
    LayerServerError,
    LayerTimeout,
    ResponseTooLarge,
    redact_url,
)

RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 3
    base_delay_s: float = 0.5
    max_delay_s: float = 30.0
    deadline_s: float | None = None  # overall wall-clock budget for one fetch, body included

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        if retry_after is not None:
            return min(retry_after, self.max_delay_s)
        backoff = self.base_delay_s * (2 ** (attempt - 1))
        return min(backoff * (0.5 + random.random() / 2), self.max_delay_s)


@dataclass
class HttpResult:
    status_code: int
    content: bytes
    headers: httpx.Headers
    url: str
    elapsed_s: float


def retry_after_seconds(response: httpx.Response) -> float | None:
    """The ``Retry-After`` delay in seconds (at least 0); None when absent or not a number (e.g. an HTTP date)."""
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        return None


async def _read_capped(response: httpx.Response, max_bytes: int, layer: str, where: str) -> bytes:
    declared = response.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise ResponseTooLarge(
            f"response declares {declared} bytes, cap is {max_bytes}", limit=max_bytes, layer=layer, where=where
        )
    chunks: list[bytes] = []
    total = 0
    async for chunk in response.aiter_bytes():
        total += len(chunk)
        if total > max_bytes:
            raise ResponseTooLarge(
                f"response exceeds the {max_bytes}-byte cap", limit=max_bytes, layer=layer, where=where
            )
        chunks.append(chunk)
    return b"".join(chunks)


def status_error(status: int, retry_after: float | None, layer: str, where: str) -> Exception:
    """The LayerError for a failing HTTP status: 429 rate limited, 401/403 auth, anything else a server error."""
    if status == 429:
        return LayerRateLimited("rate limited (HTTP 429)", retry_after=retry_after, layer=layer, where=where)
    if status in (401, 403):
        return LayerAuthError(f"credentials refused (HTTP {status})", layer=layer, where=where)
    return LayerServerError(f"server error (HTTP {status})", status_code=status, layer=layer, where=where)


async def _attempt(
    client: httpx.AsyncClient, method: str, url: str, max_bytes: int, layer: str, where: str, **kwargs: object
) -> HttpResult:
    started = time.perf_counter()
    try:
        async with client.stream(method, url, **kwargs) as response:
            if response.status_code in RETRYABLE_STATUS or response.status_code in (401, 403):
                raise status_error(response.status_code, retry_after_seconds(response), layer, where)
            content = await _read_capped(response, max_bytes, layer, where)
            return HttpResult(
                response.status_code, content, response.headers, str(response.url), time.perf_counter() - started
            )
    except httpx.TimeoutException as exc:
        raise LayerTimeout(f"timed out ({type(exc).__name__})", layer=layer, where=where) from None
    except (httpx.TransportError, httpx.DecodingError) as exc:
        raise LayerConnectError(f"transport failed ({type(exc).__name__}: {exc})", layer=layer, where=where) from None


async def fetch(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    layer: str,
    max_bytes: int = 10 * 1024 * 1024,
    retry: RetryPolicy = RetryPolicy(),
    **kwargs: object,
) -> HttpResult:
    """Send one request with retries; return the result or raise a LayerError."""
    where = redact_url(url)
    started = time.monotonic()
    last: Exception | None = None
    for attempt in range(1, max(retry.attempts, 1) + 1):
        try:
            coro = _attempt(client, method, url, max_bytes, layer, where, **kwargs)
            if retry.deadline_s is not None:
                remaining = retry.deadline_s - (time.monotonic() - started)
                if remaining <= 0:
                    raise LayerTimeout("deadline exceeded", layer=layer, where=where)
                return await asyncio.wait_for(coro, remaining)
            return await coro
        except TimeoutError:
            last = LayerTimeout(f"no complete response within {retry.deadline_s}s", layer=layer, where=where)
        except (LayerAuthError, ResponseTooLarge):
            raise
        except (LayerConnectError, LayerTimeout, LayerServerError, LayerRateLimited) as exc:
            last = exc
        if attempt < retry.attempts:
            await asyncio.sleep(retry.delay(attempt, getattr(last, "retry_after", None)))
    assert last is not None
    raise last
