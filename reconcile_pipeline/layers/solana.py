"""The Solana layer client: Metaplex metadata accounts and transaction signatures over JSON-RPC.

Production speaks to a real node through ``solana.rpc.async_api.AsyncClient`` (its generic
``send_rpc_request``, so every JSON-RPC error keeps its code); the local world is
:mod:`reconcile_pipeline.sandbox.solana_rpc`. Calls are batched (``getMultipleAccounts`` <= 100
keys, ``getSignatureStatuses`` <= 256), run concurrently under a semaphore, paced by a token bucket
per client (public RPC allows ~100 requests / 10 s) and retried with backoff. Failures are mapped
at this boundary into the LayerError tree (layer="solana"; the table is in :mod:`.solana_errors`):
timeouts, refused or cut connections, HTTP 429/401/403/5xx, JSON-RPC error objects (:class:`RpcError`)
and malformed responses (DecodeError). The token bucket is in :mod:`.ratelimit`; the per-record
reads (:class:`MetadataRead`, :class:`SignatureRead`) and their entry parsers in :mod:`.solana_records`.

Every call goes through a circuit breaker on the RPC host (:mod:`.breaker`; a JSON-RPC error object
is an answer, not a host failure) and has a wall-clock budget (``retry.attempt_timeout_s``, else
``ATTEMPT_TIMEOUT_FACTOR`` x ``timeout_s``), so a node that drips its answer for ever costs one timeout.

Per-record results never raise: a batch that cannot be read makes only its entries "unavailable";
"missing" is said only after a successful read returned null.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import Any
from urllib.parse import urlsplit

from solana.rpc.async_api import AsyncClient
from solana.rpc.jsonrpc import JsonRpcRequest
from solders.pubkey import Pubkey
from solders.signature import Signature

from ..shards import base58_byte
from . import traffic
from .breaker import BreakerRegistry
from .errors import DecodeError, LayerError, LayerTimeout, redact_url
from .http import ATTEMPT_TIMEOUT_FACTOR, RetryPolicy
from .metaplex import METADATA_PROGRAM_ID, MINT_OFFSET, UPDATE_AUTHORITY_OFFSET, decode_metadata, metadata_pda
from .ratelimit import TokenBucket
from .solana_errors import LAYER, RpcError, map_exception, retryable
from .solana_records import MetadataRead, SignatureRead, account_bytes, mint_hint, signature_read

__all__ = [
    "MetadataRead",
    "RpcError",
    "SignatureRead",
    "SolanaClient",
    "TokenBucket",
    "map_exception",
]

DEFAULT_RETRY = RetryPolicy()


def _chunks(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), max(size, 1)):
        yield items[start : start + size]


class SolanaClient:
    """Reads the Solana layer. Use ``async with SolanaClient(url) as client:`` or call :meth:`aclose`."""

    def __init__(
        self,
        rpc_url: str,
        *,
        commitment: str = "confirmed",
        program_id: str = METADATA_PROGRAM_ID,
        accounts_per_call: int = 100,
        signatures_per_call: int = 256,
        requests_per_window: int = 100,
        window_s: float = 10.0,
        timeout_s: float = 30.0,
        retry: RetryPolicy = DEFAULT_RETRY,
        max_concurrency: int = 4,
        breakers: BreakerRegistry | None = None,
    ) -> None:
        self.where = _origin(rpc_url)  # RPC providers put API keys in paths and queries: log the host only
        self.commitment, self.program_id, self.retry = commitment, program_id, retry
        self.accounts_per_call = min(max(accounts_per_call, 1), 100)
        self.signatures_per_call = min(max(signatures_per_call, 1), 256)
        self.request_count = 0
        self._bucket = TokenBucket.for_provider(rpc_url, requests_per_window, window_s)  # shared per provider
        self._semaphore = asyncio.Semaphore(max(max_concurrency, 1))
        self._client = AsyncClient(rpc_url, timeout=timeout_s, max_transport_retries=0)
        self.breakers = breakers or BreakerRegistry()
        self._breaker = self.breakers.for_url(rpc_url)
        self._attempt_budget = retry.attempt_timeout_s or ATTEMPT_TIMEOUT_FACTOR * timeout_s

    async def __aenter__(self) -> SolanaClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.close()

    # -- one JSON-RPC call, paced, retried, mapped -------------------------------------------
    async def _call(self, method: str, params: list) -> Any:
        """One call (its retries included) through the RPC host's breaker; a JSON-RPC error is an answer."""
        self._breaker.acquire(layer=LAYER, where=f"{self.where} {method}")
        try:
            result = await self._retrying(method, params)
        except BaseException as exc:
            self._breaker.record(None if isinstance(exc, RpcError) else exc)
            raise
        self._breaker.record(None)
        return result

    async def _retrying(self, method: str, params: list) -> Any:
        started, last = time.monotonic(), None
        for attempt in range(1, max(self.retry.attempts, 1) + 1):
            try:
                return await self._attempt(method, params, started)
            except LayerError as exc:
                if not retryable(exc) or attempt >= self.retry.attempts:
                    raise
                last = exc
            await asyncio.sleep(self.retry.delay(attempt, getattr(last, "retry_after", None)))
        raise AssertionError("unreachable")

    async def _attempt(self, method: str, params: list, started: float) -> Any:
        await self._bucket.acquire()  # the provider's limit counts a request until it has ended
        try:
            return await self._send(method, params, started)
        finally:
            self._bucket.release()

    async def _send(self, method: str, params: list, started: float) -> Any:
        where = f"{self.where} {method}"
        timeout = self._attempt_budget
        if self.retry.deadline_s is not None:
            remaining = self.retry.deadline_s - (time.monotonic() - started)
            if remaining <= 0:
                raise LayerTimeout("deadline exceeded", layer=LAYER, where=where)
            timeout = min(timeout, remaining)
        self.request_count += 1
        traffic.sent()
        request = JsonRpcRequest(method=method, params=params)
        try:
            return await asyncio.wait_for(self._client.send_rpc_request(request, Any), timeout)
        except Exception as exc:  # everything AsyncClient raises is mapped here, at the boundary
            traffic.failed()
            raise map_exception(exc, where) from None

    async def _guarded(self, read: Callable[[], Awaitable[Any]]) -> Any:
        async with self._semaphore:
            return await read()

    # -- metadata accounts -------------------------------------------------------------------
    async def metadata_for_mints(self, mints: list[str]) -> dict[str, MetadataRead]:
        """Read the metadata account of every mint; one entry per distinct mint, in input order."""
        results: dict[str, MetadataRead] = {}
        wanted: list[tuple[str, str]] = []
        for mint in dict.fromkeys(mints):
            try:
                wanted.append((mint, metadata_pda(mint, self.program_id)))
            except DecodeError as exc:
                results[mint] = MetadataRead(mint, None, "invalid", error=str(exc))
        batches = list(_chunks(wanted, self.accounts_per_call))
        for reads in await asyncio.gather(*(self._guarded(lambda b=b: self._read_batch(b)) for b in batches)):
            results.update((read.mint, read) for read in reads)
        return {mint: results[mint] for mint in dict.fromkeys(mints)}

    async def _read_batch(self, batch: list[tuple[str, str]]) -> list[MetadataRead]:
        config = {"encoding": "base64", "commitment": self.commitment}
        try:
            result = await self._call("getMultipleAccounts", [[pda for _, pda in batch], config])
            accounts = result["value"]
            if not isinstance(accounts, list) or len(accounts) != len(batch):
                raise DecodeError("getMultipleAccounts returned the wrong number of accounts", layer=LAYER)
        except (LayerError, KeyError, TypeError) as exc:
            reason = str(exc) if isinstance(exc, LayerError) else f"malformed getMultipleAccounts result ({exc!r})"
            return [MetadataRead(mint, pda, "unavailable", error=reason) for mint, pda in batch]
        return [self._metadata_read(mint, pda, account) for (mint, pda), account in zip(batch, accounts, strict=True)]

    def _metadata_read(self, mint: str | None, pda: str, account: Any) -> MetadataRead:
        if account is None:
            return MetadataRead(mint or "", pda, "missing")
        try:
            data, owner = account_bytes(account, pda)
        except DecodeError as exc:  # the node's fault, not the chain's: unknown, not invalid
            return MetadataRead(mint or "", pda, "unavailable", error=str(exc))
        mint = mint or mint_hint(data)
        if owner != self.program_id:
            error = f"account is owned by {owner}, not the metadata program {self.program_id}"
            return MetadataRead(mint, pda, "invalid", error=error, owner=owner)
        try:
            metadata = decode_metadata(data, where=pda)
        except DecodeError as exc:
            return MetadataRead(mint, pda, "invalid", error=str(exc), owner=owner)
        if mint and metadata.mint != mint:
            error = f"account names mint {metadata.mint}, expected {mint}"
            return MetadataRead(mint, pda, "invalid", metadata, error, owner)
        return MetadataRead(metadata.mint, pda, "ok", metadata, owner=owner)

    async def metadata_by_update_authority(
        self, authority: str, mint_first_bytes: Iterable[int] | None = None
    ) -> list[MetadataRead]:
        """Every metadata account whose update authority is ``authority`` (getProgramAccounts + memcmp).

        ``mint_first_bytes``: only the accounts whose mint starts with one of these bytes (one call per byte,
        each with a second one-byte memcmp on the mint field): one shard of the listing at a time."""
        try:
            Pubkey.from_string(authority)
        except (ValueError, TypeError):
            raise DecodeError("update authority is not a base58 public key", layer=LAYER, where=authority) from None
        memcmp = {"memcmp": {"offset": UPDATE_AUTHORITY_OFFSET, "bytes": authority}}
        if mint_first_bytes is None:
            return await self._program_accounts([memcmp])
        parts = await asyncio.gather(
            *(
                self._program_accounts([memcmp, {"memcmp": {"offset": MINT_OFFSET, "bytes": base58_byte(byte)}}])
                for byte in sorted(set(mint_first_bytes))
            )
        )
        return [read for part in parts for read in part]

    async def _program_accounts(self, filters: list[dict]) -> list[MetadataRead]:
        config = {"encoding": "base64", "commitment": self.commitment, "filters": filters}
        result = await self._guarded(lambda: self._call("getProgramAccounts", [self.program_id, config]))
        keyed = result["value"] if isinstance(result, dict) else result
        if not isinstance(keyed, list):
            raise DecodeError("getProgramAccounts did not return a list", layer=LAYER, where=self.where)
        return [self._keyed_read(item) for item in keyed]

    def _keyed_read(self, item: Any) -> MetadataRead:
        if not isinstance(item, dict) or not isinstance(item.get("pubkey"), str):
            return MetadataRead("", None, "unavailable", error=f"malformed getProgramAccounts entry: {item!r:.200}")
        return self._metadata_read(None, item["pubkey"], item.get("account"))

    # -- signatures --------------------------------------------------------------------------
    async def signature_statuses(self, sigs: list[str]) -> dict[str, SignatureRead]:
        """The cluster's status of each signature (searching the whole transaction history)."""
        results: dict[str, SignatureRead] = {}
        valid: list[str] = []
        for sig in dict.fromkeys(sigs):
            try:
                Signature.from_string(sig)
                valid.append(sig)
            except (ValueError, TypeError):
                results[sig] = SignatureRead(sig, "invalid", err="not a base58 64-byte transaction signature")
        batches = list(_chunks(valid, self.signatures_per_call))
        for reads in await asyncio.gather(*(self._guarded(lambda b=b: self._read_statuses(b)) for b in batches)):
            results.update((read.signature, read) for read in reads)
        return {sig: results[sig] for sig in dict.fromkeys(sigs)}

    async def _read_statuses(self, batch: list[str]) -> list[SignatureRead]:
        try:
            result = await self._call("getSignatureStatuses", [batch, {"searchTransactionHistory": True}])
            statuses = result["value"]
            if not isinstance(statuses, list) or len(statuses) != len(batch):
                raise DecodeError("getSignatureStatuses returned the wrong number of statuses", layer=LAYER)
            return [signature_read(sig, status) for sig, status in zip(batch, statuses, strict=True)]
        except (LayerError, KeyError, TypeError, AttributeError) as exc:
            reason = str(exc) if isinstance(exc, LayerError) else f"malformed getSignatureStatuses result ({exc!r})"
            return [SignatureRead(sig, "unavailable", err=reason) for sig in batch]


def _origin(url: str) -> str:
    parts = urlsplit(redact_url(url))
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme else "<rpc>"
