"""The one HTTP seam of the httpx-based clients (IPFS gateways, Pinata, Cloudflare KV, webhooks).

:func:`fetch` sends one request with retries and exponential backoff, streams the body with a
byte cap, and maps every failure into the LayerError tree:

- connect errors, resets, closed connections         -> LayerConnectError
- connect/read/pool timeouts, a body past deadline   -> LayerTimeout
- 5xx after retries                                  -> LayerServerError
- 429 after retries (Retry-After honoured)           -> LayerRateLimited
- 401/403                                            -> LayerAuthError
- a body over ``max_bytes``                          -> ResponseTooLarge (not retried)
- a body in an unsupported or corrupt encoding       -> DecodeError (not retried)
- a host whose circuit is open                       -> CircuitOpen (a LayerUnavailable; nothing sent)

Bounds: every attempt has a wall-clock budget (``RetryPolicy.attempt_timeout_s``, by default
:data:`ATTEMPT_TIMEOUT_FACTOR` times the client's read timeout), so a body dripped slowly for
ever ends in a LayerTimeout; the whole fetch can have one more (``deadline_s``). The byte cap
counts *decoded* bytes: gzip/deflate bodies are inflated here, at most ``max_bytes + 1`` bytes at
a time, so a compression bomb never expands in memory (only gzip and deflate are asked for).

With ``breakers`` (a :class:`~.breaker.BreakerRegistry`), each call (its retries included) goes
through the host's circuit breaker: a dead host costs a few failed calls, then calls fail fast until
its cool-down ends.

httpx (and solana's httpx2) log every request at INFO with its full URL ("HTTP Request: GET ..."); URLs
can carry secrets (a webhook's path, an RPC key), so those lines are dropped by a filter on their loggers.

4xx other than those come back as a normal :class:`HttpResult` so the caller decides (404 is
"read and found nothing"). Tests pin error paths with ``httpx.MockTransport`` through the
``client`` argument; production passes an ``httpx.AsyncClient``.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx

from . import traffic
from .breaker import BreakerRegistry, guarded
from .errors import (
    DecodeError,
    LayerAuthError,
    LayerConnectError,
    LayerRateLimited,
    LayerServerError,
    LayerTimeout,
    ResponseTooLarge,
    redact_url,
)

RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
ATTEMPT_TIMEOUT_FACTOR = 4.0  # one attempt may take at most this many read timeouts, body included
ACCEPT_ENCODING = "gzip, deflate"  # what _Inflater can decode with bounded memory
_RETRIED = (LayerConnectError, LayerTimeout, LayerServerError, LayerRateLimited)


class _NoRequestLines(logging.Filter):
    """Drops httpx's per-request INFO lines, which carry full URLs (and so any secret in them)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("HTTP Request:")


for _name in ("httpx", "httpx2"):
    logging.getLogger(_name).addFilter(_NoRequestLines())


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 3
    base_delay_s: float = 0.5
    max_delay_s: float = 30.0
    deadline_s: float | None = None  # overall wall-clock budget for one fetch, body included
    attempt_timeout_s: float | None = None  # wall-clock budget of one attempt; None: from the client's timeout

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


class _Inflater:
    """Decodes a gzip/deflate body chunk by chunk, never holding more than the cap's worth of output."""

    def __init__(self, encoding: str, layer: str, where: str) -> None:
        name = encoding.strip().lower()
        self.layer, self.where = layer, where
        if name in ("", "identity"):
            self._zlib = None
        elif name in ("gzip", "x-gzip"):
            self._zlib = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif name == "deflate":
            self._zlib = zlib.decompressobj()
        else:
            raise DecodeError(f"unsupported Content-Encoding {encoding[:40]!r}", layer=layer, where=where)

    def feed(self, chunk: bytes, room: int) -> bytes:
        """Up to ``room + 1`` decoded bytes of ``chunk`` (one more than fits: the caller sees the overflow)."""
        if self._zlib is None:
            return chunk
        try:
            out = self._zlib.decompress(chunk, room + 1)
            while self._zlib.unconsumed_tail and len(out) <= room:
                out += self._zlib.decompress(self._zlib.unconsumed_tail, room + 1 - len(out))
        except zlib.error as exc:
            raise DecodeError(f"corrupt compressed body ({exc})", layer=self.layer, where=self.where) from None
        return out


async def _one_chunk(content: bytes) -> AsyncIterator[bytes]:
    yield content


async def _read_capped(response: httpx.Response, max_bytes: int, layer: str, where: str) -> bytes:
    declared = response.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise ResponseTooLarge(
            f"response declares {declared} bytes, cap is {max_bytes}", limit=max_bytes, layer=layer, where=where
        )
    if response.is_stream_consumed:  # built in memory (httpx.MockTransport): already decoded
        raw_chunks, encoding = _one_chunk(response.content), ""
    else:
        raw_chunks, encoding = response.aiter_raw(), response.headers.get("Content-Encoding", "")
    inflater = _Inflater(encoding, layer, where)
    chunks: list[bytes] = []
    total = 0
    async for raw in raw_chunks:
        chunk = inflater.feed(raw, max_bytes - total)
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


def _attempt_budget(client: httpx.AsyncClient, retry: RetryPolicy) -> float | None:
    if retry.attempt_timeout_s is not None:
        return retry.attempt_timeout_s
    read = getattr(getattr(client, "timeout", None), "read", None)
    return ATTEMPT_TIMEOUT_FACTOR * read if read else None


async def _bounded_attempt(budget: float | None, layer: str, where: str, attempt: object) -> HttpResult:
    """Run one attempt within ``budget`` seconds (None: no limit)."""
    traffic.sent()
    try:
        return await asyncio.wait_for(attempt, budget)  # type: ignore[arg-type]
    except TimeoutError:
        traffic.failed()
        raise LayerTimeout(f"no complete response within {budget:g}s", layer=layer, where=where) from None
    except Exception:
        traffic.failed()
        raise


async def _with_retries(
    client: httpx.AsyncClient, method: str, url: str, max_bytes: int, layer: str, where: str, retry: RetryPolicy,
    **kwargs: object,
) -> HttpResult:  # fmt: skip
    started = time.monotonic()
    last: Exception | None = None
    for attempt in range(1, max(retry.attempts, 1) + 1):
        budget = _attempt_budget(client, retry)
        if retry.deadline_s is not None:
            remaining = retry.deadline_s - (time.monotonic() - started)
            if remaining <= 0:
                raise LayerTimeout("deadline exceeded", layer=layer, where=where)
            budget = remaining if budget is None else min(budget, remaining)
        coro = _attempt(client, method, url, max_bytes, layer, where, **kwargs)
        try:
            return await _bounded_attempt(budget, layer, where, coro)
        except _RETRIED as exc:
            last = exc
        if attempt < retry.attempts:
            await asyncio.sleep(retry.delay(attempt, getattr(last, "retry_after", None)))
    assert last is not None
    raise last


async def fetch(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    layer: str,
    max_bytes: int = 10 * 1024 * 1024,
    retry: RetryPolicy = RetryPolicy(),
    breakers: BreakerRegistry | None = None,
    where: str | None = None,
    **kwargs: object,
) -> HttpResult:
    """Send one request with retries; return the result or raise a LayerError.

    With ``breakers``, the call (all its attempts) goes through the host's circuit breaker: refused at
    once (CircuitOpen) while the circuit is open, and its outcome counted once. Errors name ``where``
    (default: the URL without userinfo and secret-looking query values); pass it when the URL's path
    itself is a secret (a Slack webhook, an RPC URL with a key in its path)."""
    where = where or redact_url(url)
    headers = httpx.Headers(kwargs.pop("headers", None))  # type: ignore[arg-type]
    headers.setdefault("Accept-Encoding", ACCEPT_ENCODING)
    call = _with_retries(client, method, url, max_bytes, layer, where, retry, headers=headers, **kwargs)
    if breakers is None:
        return await call
    return await guarded(breakers.for_url(url), call, layer=layer, where=where)
