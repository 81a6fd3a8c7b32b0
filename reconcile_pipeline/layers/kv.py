"""Cloudflare Workers KV REST client (API v4), async on httpx through :func:`layers.http.fetch`.

Endpoints under ``{api_url}/accounts/{account_id}/storage/kv/namespaces/{namespace_id}``:

- ``GET /values/{key}`` (key percent-encoded) -> raw bytes; HTTP 404 with envelope code 10009
  is the only "not found" (:meth:`KVClient.get` returns ``None``); any other 404 (no such
  namespace, no such route) means the layer could not be read -> :class:`LayerUnavailable`;
- ``PUT /values/{key}`` with the raw value as body, ``DELETE /values/{key}``;
- ``GET /keys?prefix=&limit=1000&cursor=`` with cursor pagination (``result_info.cursor``,
  empty when done);
- ``POST /bulk/get`` ``{"keys": [<= 100], "type": "text"}`` -> ``{"result": {"values": {key:
  value-or-null}}}``. Keys the answer leaves out (or gives as non-text) are read one by one; if the
  endpoint is not there at all (404 without code 10009) the client falls back to per-key GETs.

Auth is ``Authorization: Bearer TOKEN``; the token never appears in errors or reprs. Errors:
transport, timeouts, 5xx, 429 and 401/403 map as in ``http.fetch`` (layer ``"kv"``; with a circuit
breaker on the API host: ``CircuitOpen`` once it failed repeatedly); envelope auth
codes on other statuses -> :class:`LayerAuthError`; other 4xx -> :class:`LayerDataError`; a
malformed envelope -> :class:`DecodeError`. ``request_count`` counts logical requests (not retries).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from urllib.parse import quote

import httpx

from ..jsonsafe import loads_bounded
from .breaker import BreakerRegistry
from .errors import DecodeError, LayerAuthError, LayerDataError, LayerUnavailable
from .http import HttpResult, RetryPolicy, fetch

LAYER = "kv"
CODE_KEY_NOT_FOUND = 10009
AUTH_ERROR_CODES = frozenset({6003, 6111, 9106, 9109, 10000})  # bad/missing token, "Authentication error"
MAX_BULK_KEYS = 100
DEFAULT_RETRY = RetryPolicy()
MAX_VALUE_BYTES = 25 * 1024 * 1024 + 1024
MAX_JSON_BYTES = 64 * 1024 * 1024


class KVClient:
    def __init__(
        self,
        api_url: str,
        account_id: str,
        namespace_id: str,
        token: str,
        *,
        retry: RetryPolicy = DEFAULT_RETRY,
        bulk_size: int = MAX_BULK_KEYS,
        max_concurrency: int = 8,
        list_limit: int = 1000,
        timeout_s: float = 30.0,
        client: httpx.AsyncClient | None = None,
        breakers: BreakerRegistry | None = None,
    ) -> None:
        if not 1 <= bulk_size <= MAX_BULK_KEYS:
            raise ValueError(f"bulk_size must be 1..{MAX_BULK_KEYS}, got {bulk_size}")
        self.api_url = api_url.rstrip("/")
        self.account_id = account_id
        self.namespace_id = namespace_id
        self.base_url = f"{self.api_url}/accounts/{account_id}/storage/kv/namespaces/{namespace_id}"
        self.retry = retry
        self.bulk_size = bulk_size
        self.max_concurrency = max(1, max_concurrency)
        self.list_limit = list_limit
        self.request_count = 0
        self.breakers = breakers or BreakerRegistry()
        self._headers = {"Authorization": f"Bearer {token}"}
        self._owns_client = client is None
        self._client = client or httpx.AsyncClient(
            timeout=httpx.Timeout(timeout_s), limits=httpx.Limits(max_connections=self.max_concurrency)
        )
        self._bulk_supported = True

    def __repr__(self) -> str:
        return f"KVClient(api_url={self.api_url!r}, account_id={self.account_id!r}, namespace_id={self.namespace_id!r})"

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    async def __aenter__(self) -> KVClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- requests -----------------------------------------------------------------------------
    def _value_url(self, key: str) -> str:
        return f"{self.base_url}/values/{quote(key, safe='')}"

    async def _send(self, method: str, url: str, *, max_bytes: int = MAX_JSON_BYTES, **kwargs: object) -> HttpResult:
        self.request_count += 1
        headers = {**self._headers, **kwargs.pop("headers", {})}  # type: ignore[dict-item]
        return await fetch(
            self._client, method, url, layer=LAYER, max_bytes=max_bytes, retry=self.retry, headers=headers,
            breakers=self.breakers, **kwargs,
        )  # fmt: skip

    async def get(self, key: str) -> bytes | None:
        """The value's bytes, or None if the key does not exist (envelope code 10009 only)."""
        result = await self._send("GET", self._value_url(key), max_bytes=MAX_VALUE_BYTES)
        if result.status_code == 200:
            return result.content
        if result.status_code == 404 and CODE_KEY_NOT_FOUND in _error_codes(result.content):
            return None
        raise _status_error(result, key)

    async def put(self, key: str, value: bytes) -> None:
        headers = {"Content-Type": "application/octet-stream"}
        result = await self._send("PUT", self._value_url(key), content=bytes(value), headers=headers)
        _require_success(result, key)

    async def delete(self, key: str) -> None:
        result = await self._send("DELETE", self._value_url(key))
        _require_success(result, key)

    async def list_keys(self, prefix: str = "") -> list[str]:
        """Every key name starting with ``prefix``, following the cursor to the end."""
        return [name async for page in self.key_pages(prefix) for name in page]

    async def key_pages(self, prefix: str = "") -> AsyncIterator[list[str]]:
        """The key names starting with ``prefix``, one listing page (<= ``list_limit``) at a time, so a caller
        walking a large namespace holds one page, not every name."""
        cursor, seen = "", set()
        while True:
            params = {"prefix": prefix, "limit": str(self.list_limit)}
            if cursor:
                params["cursor"] = cursor
            result = await self._send("GET", f"{self.base_url}/keys", params=params)
            body = _require_success(result, _list_where(prefix))
            yield _key_names(body, prefix)
            cursor = _next_cursor(body, prefix)
            if not cursor:
                return
            if cursor in seen:
                raise DecodeError("list cursor repeats itself", layer=LAYER, where=_list_where(prefix))
            seen.add(cursor)

    async def get_many(self, keys: list[str]) -> dict[str, bytes | None]:
        """Values for ``keys`` (None = not found) via bulk reads of <= ``bulk_size`` keys, concurrently."""
        unique = list(dict.fromkeys(keys))
        semaphore = asyncio.Semaphore(self.max_concurrency)
        batches = [unique[i : i + self.bulk_size] for i in range(0, len(unique), self.bulk_size)]
        found: dict[str, bytes | None] = {}
        for part in await asyncio.gather(*(self._read_batch(batch, semaphore) for batch in batches)):
            found.update(part)
        return {key: found[key] for key in unique}

    async def _read_batch(self, batch: list[str], semaphore: asyncio.Semaphore) -> dict[str, bytes | None]:
        values: dict[str, bytes | None] = {}
        if self._bulk_supported:
            async with semaphore:
                values = await self._bulk_get(batch)
        missing = [key for key in batch if key not in values]
        singles = await asyncio.gather(*(self._get_limited(key, semaphore) for key in missing))
        values.update(zip(missing, singles, strict=True))
        return values

    async def _get_limited(self, key: str, semaphore: asyncio.Semaphore) -> bytes | None:
        async with semaphore:
            return await self.get(key)

    async def _bulk_get(self, batch: list[str]) -> dict[str, bytes | None]:
        """Text values for ``batch``; keys it cannot answer are left out (read singly by the caller)."""
        where = f"bulk/get[{batch[0]}..{batch[-1]}]"
        result = await self._send("POST", f"{self.base_url}/bulk/get", json={"keys": batch, "type": "text"})
        if result.status_code == 404:
            if CODE_KEY_NOT_FOUND not in _error_codes(result.content):
                self._bulk_supported = False  # the endpoint is not there: per-key GETs from now on
            return {}
        if result.status_code == 400 and not (_error_codes(result.content) & AUTH_ERROR_CODES):
            return {}  # e.g. a binary value in the batch: read these keys one by one
        body = _require_success(result, where)
        values = body.get("result", {}).get("values") if isinstance(body.get("result"), dict) else None
        if not isinstance(values, dict):
            raise DecodeError("bulk get answer has no result.values object", layer=LAYER, where=where)
        return {key: _text_value(values[key]) for key in batch if key in values and _is_text(values[key])}


def _is_text(value: object) -> bool:
    return value is None or isinstance(value, str)


def _text_value(value: str | None) -> bytes | None:
    return None if value is None else value.encode("utf-8")


def _decode_envelope(content: bytes, where: str) -> dict:
    try:
        body = loads_bounded(content, max_bytes=MAX_JSON_BYTES, layer=LAYER, where=where)
    except DecodeError as exc:
        raise DecodeError(f"answer is not JSON ({exc.reason})", layer=LAYER, where=where) from None
    if not isinstance(body, dict):
        raise DecodeError("answer is not a JSON object", layer=LAYER, where=where)
    return body


def _errors(content: bytes) -> list[dict]:
    try:
        body = loads_bounded(content, max_bytes=MAX_JSON_BYTES)
    except DecodeError:
        return []
    errors = body.get("errors") if isinstance(body, dict) else None
    return [e for e in errors if isinstance(e, dict)] if isinstance(errors, list) else []


def _error_codes(content: bytes) -> set[int]:
    return {e["code"] for e in _errors(content) if isinstance(e.get("code"), int)}


def _describe_errors(content: bytes) -> str:
    parts = [f"{e.get('code')}: {str(e.get('message', ''))[:120]}" for e in _errors(content)[:3]]
    return "; ".join(parts) or "no error envelope"


def _status_error(result: HttpResult, where: str) -> Exception:
    status, detail = result.status_code, _describe_errors(result.content)
    if _error_codes(result.content) & AUTH_ERROR_CODES:
        return LayerAuthError(f"credentials refused (HTTP {status}, {detail})", layer=LAYER, where=where)
    if status == 404:
        return LayerUnavailable(f"HTTP 404 that is not 'key not found' ({detail})", layer=LAYER, where=where)
    return LayerDataError(f"request refused (HTTP {status}, {detail})", layer=LAYER, where=where)


def _require_success(result: HttpResult, where: str) -> dict:
    if result.status_code != 200:
        raise _status_error(result, where)
    body = _decode_envelope(result.content, where)
    if body.get("success") is not True:
        raise DecodeError(f"envelope says success={body.get('success')!r}", layer=LAYER, where=where)
    return body


def _list_where(prefix: str) -> str:
    return f"keys?prefix={prefix}"


def _key_names(body: dict, prefix: str) -> list[str]:
    entries = body.get("result")
    names = [e.get("name") for e in entries if isinstance(e, dict)] if isinstance(entries, list) else []
    if not isinstance(entries, list) or len(names) != len(entries) or not all(isinstance(n, str) for n in names):
        raise DecodeError("list answer's result is not a list of {name}", layer=LAYER, where=_list_where(prefix))
    return names


def _next_cursor(body: dict, prefix: str) -> str:
    info = body.get("result_info") or {}
    cursor = info.get("cursor", "") if isinstance(info, dict) else None
    if cursor is None:
        return ""
    if not isinstance(cursor, str):
        raise DecodeError("list answer's result_info.cursor is not a string", layer=LAYER, where=_list_where(prefix))
    return cursor
