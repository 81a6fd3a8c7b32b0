"""The IPFS gateway client: reads objects by CID from configured path gateways and verifies them.

Every gateway read ends in one :class:`GatewayRead` status:

    ok           200 and the bytes hash to the CID (or a sub-path / unverifiable hash: ``verified`` False)
    missing      404/410: the gateway answered and does not have it; or a timeout, 504 or 412 (what real
                 gateways answer for content no node holds) from a gateway that served a control CID after
                 the read began (:mod:`.ipfs_absent`): it is readable and cannot retrieve this CID
    unavailable  could not read: timeout, refused, 5xx, 429 past retries, refused redirect, odd status
    integrity    200 but the bytes do not hash to the CID (IPFS_CID_INTEGRITY)
    too_large    the body is over the byte cap
    skipped      not asked: an availability probe that already had its k answers (:meth:`probe` with ``need``)

and one object read (:class:`ObjectRead`) sums them up: ``ok`` at the first verified copy,
``missing`` only when EVERY gateway answered 404, ``unavailable`` when none served verified bytes
and at least one could not be read (unknown, never missing), ``invalid`` when gateways answered
only with wrong or oversized bytes (or the CID itself is malformed).

Availability probes (:meth:`IpfsGatewayClient.probe`) are trustless: each gateway is asked for the CID's
root block in raw form (:mod:`.ipfs_raw`) and whatever comes back (the block, or the whole file from a
gateway that ignores the raw request) is verified against the CID, so a gateway serving wrong bytes is
found by every probe; only a sub-path (or a CID whose hash cannot be verified) is probed with HEAD.

Requests go through :func:`layers.http.fetch` (retries, Retry-After, byte caps, error mapping)
with ``follow_redirects=False``; a redirect is re-validated by :meth:`UrlPolicy.check_redirect`
(at most 3 hops). Each gateway has its own small connection pools (:mod:`.ipfs_pools`; a redirect
to another allowed origin uses a shared one). Concurrency is bounded per host by semaphores, and
each gateway has a circuit breaker (:mod:`.breaker`): a gateway that is down is tried a few times,
then reported unavailable ("circuit open") without a request until its cool-down ends. A timeout, 504 or
412 of a gateway that serves a control CID is an absent CID, not a host failure: it never opens the breaker.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from urllib.parse import urljoin

import httpx

from .breaker import BreakerRegistry, CircuitOpen
from .cid import CID, DAG_PB, RAW, SHA2_256, parse_cid, parse_ipfs_uri
from .errors import DecodeError, LayerError, ResponseTooLarge, UrlRefused
from .http import HttpResult, RetryPolicy, fetch
from .ipfs_absent import Liveness, absent_error, absent_status
from .ipfs_pools import GatewayPools, new_client
from .ipfs_raw import RAW_HEADERS, RAW_QUERY, verify_raw
from .unixfs import cid_matches
from .urlpolicy import UrlPolicy, origin_of

__all__ = ["GatewayRead", "GatewayStats", "IpfsGatewayClient", "ObjectRead", "summarise"]

MAX_REDIRECTS = 3
DEFAULT_RETRY = RetryPolicy()
_REDIRECT_STATUS = frozenset({301, 302, 303, 307, 308})
_MISSING_STATUS = frozenset({404, 410})
SKIPPED = "skipped"


@dataclass
class GatewayRead:
    gateway: str
    status: str  # ok | missing | unavailable | integrity | too_large | skipped
    error: str | None = None
    error_kind: str | None = None
    bytes_read: int = 0
    elapsed_s: float = 0.0
    http_status: int | None = None
    verified: bool = False
    form: str | None = None  # a raw probe's answer: "block" (the root block) or "file" (the whole content)


@dataclass
class ObjectRead:
    cid: str
    path: str
    status: str  # ok | missing | unavailable | invalid
    content: bytes | None = None
    gateways: list[GatewayRead] = field(default_factory=list)
    error: str | None = None
    bytes_read: int = 0
    verified: bool = False  # the content was checked against the CID (never for a sub-path)
    served_by: str | None = None


@dataclass
class GatewayStats:
    requests: int = 0
    bytes: int = 0
    errors: int = 0


def summarise(reads: list[GatewayRead]) -> tuple[str, str | None]:
    """(object status, error) from the gateway reads (``skipped`` ones aside); see the module docstring."""
    reads = [read for read in reads if read.status != SKIPPED]
    if any(read.status == "ok" for read in reads):
        return "ok", None
    failures = "; ".join(f"{read.gateway}: {read.status} ({read.error})" for read in reads)
    if reads and all(read.status == "missing" for read in reads):
        return "missing", "not found on any gateway"
    if not reads or any(read.status == "unavailable" for read in reads):
        return "unavailable", failures or "no gateway configured"
    return "invalid", failures


def _verifiable(cid: CID) -> bool:
    return cid.hash_code == SHA2_256 and cid.codec in (RAW, DAG_PB)


class IpfsGatewayClient:
    """Reads IPFS objects from several path gateways; async, bounded per host."""

    def __init__(
        self,
        gateways: list[str],
        *,
        timeout_s: float = 30.0,
        retry: RetryPolicy = DEFAULT_RETRY,
        max_bytes: int = 10 * 1024 * 1024,
        max_concurrency_per_host: int = 16,
        client: httpx.AsyncClient | None = None,
        policy: UrlPolicy | None = None,
        breakers: BreakerRegistry | None = None,
        control_cids: list[str] = (),
    ) -> None:
        self.gateways = [gateway.rstrip("/") for gateway in gateways]
        self.liveness = Liveness(_controls(control_cids), self._control_read)
        self.retry = retry
        self.max_bytes = max_bytes
        self.max_concurrency_per_host = max_concurrency_per_host
        self.policy = policy or UrlPolicy(self.gateways)
        self.breakers = breakers or BreakerRegistry()
        self.stats: dict[str, GatewayStats] = {gateway: GatewayStats() for gateway in self.gateways}
        self._owns_client = client is None
        self._client = client or new_client(timeout_s, max_concurrency_per_host + 8)  # redirect targets
        self._pools: dict[tuple[str, str, int], GatewayPools] = {}
        if client is None:  # pools of each gateway's own (:mod:`.ipfs_pools`: CPU per request stays flat)
            self._pools = {origin_of(g): GatewayPools(timeout_s, max_concurrency_per_host) for g in self.gateways}
        self._semaphores: dict[tuple[str, str, int], asyncio.Semaphore] = {}

    async def __aenter__(self) -> IpfsGatewayClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()
            for pools in self._pools.values():
                await pools.aclose()

    # -- public ----------------------------------------------------------------------------
    async def fetch(
        self, cid: CID | str, path: str = "", *, max_bytes: int | None = None, first: int = 0
    ) -> ObjectRead:
        """Try the gateways in order (from the ``first``-th, wrapping round); stop at the first copy that verifies."""
        try:
            parsed, path = _parse_ref(cid, path)
        except DecodeError as exc:
            return ObjectRead(str(cid), path, "invalid", error=str(exc))
        reads: list[GatewayRead] = []
        for gateway in _rotated(self.gateways, first):
            read, content = await self._read(gateway, "GET", parsed, path, max_bytes or self.max_bytes)
            reads.append(read)
            if read.status == "ok":
                return ObjectRead(str(parsed), path, "ok", content, reads, None, _total(reads), read.verified, gateway)
        status, error = summarise(reads)
        return ObjectRead(str(parsed), path, status, None, reads, error, _total(reads))

    async def fetch_many(self, refs: list[tuple[str, str]]) -> list[ObjectRead]:
        """Fetch (cid, path) refs concurrently; identical refs are fetched once; results in input order."""
        unique = list(dict.fromkeys(refs))
        pending = iter(unique)
        results: dict[tuple[str, str], ObjectRead] = {}

        async def worker() -> None:
            for ref in pending:
                results[ref] = await self.fetch(*ref)

        workers = min(len(unique), self.max_concurrency_per_host * max(len(self.gateways), 1))
        await asyncio.gather(*(worker() for _ in range(workers)))
        return [results[ref] for ref in refs]

    async def probe(
        self, cid: CID | str, path: str = "", *, need: int | None = None, known: list[GatewayRead] = (), first: int = 0
    ) -> list[GatewayRead]:
        """Availability probes, one read per gateway in configured order; DecodeError on a bad CID.

        Each probe asks for the CID's root block in raw form and verifies what comes back (``integrity`` when
        it is neither the block nor the file); a sub-path or an unverifiable CID is probed with HEAD.

        Without ``need``, every gateway is probed. With ``need`` (k of n), the first gateways are probed
        concurrently until ``need`` answered ok: first as many as are still needed, then, if that fell short,
        all the others; gateways never asked are ``skipped``. ``known`` are reads already made this run
        (e.g. the GET that served the content): they count and are not asked again. ``first`` rotates the order
        in which gateways are asked (spreading single-copy probes over the gateways); reads stay in configured
        order."""
        parsed, path = _parse_ref(cid, path)
        reads = {read.gateway: read for read in known if read.gateway in self.gateways}
        waiting = [gateway for gateway in _rotated(self.gateways, first) if gateway not in reads]
        short = None if need is None else need - sum(read.status == "ok" for read in reads.values())
        raw = not path and _verifiable(parsed)
        method, max_bytes = ("GET", self.max_bytes) if raw else ("HEAD", sys.maxsize)
        for wave in _waves(waiting, short):
            done = await asyncio.gather(*(self._read(g, method, parsed, path, max_bytes, raw) for g in wave))
            reads |= {read.gateway: read for read, _ in done}
            if need is not None and sum(read.status == "ok" for read in reads.values()) >= need:
                break
        return [reads.get(gateway) or GatewayRead(gateway, SKIPPED) for gateway in self.gateways]

    async def fetch_all_gateways(self, cid: CID | str) -> list[GatewayRead]:
        """GET on every gateway and verify each copy (finds a gateway serving wrong bytes); DecodeError on a bad CID."""
        parsed, _ = _parse_ref(cid, "")
        reads = [self._read(gateway, "GET", parsed, "", self.max_bytes) for gateway in self.gateways]
        return [read for read, _ in await asyncio.gather(*reads)]

    # -- one gateway -----------------------------------------------------------------------
    async def _read(
        self, gateway: str, method: str, cid: CID, path: str, max_bytes: int, raw: bool = False
    ) -> tuple[GatewayRead, bytes | None]:
        """One read of one gateway, through its circuit breaker (counted here: an absent CID is no failure)."""
        started = time.perf_counter()
        stats = self.stats.setdefault(gateway, GatewayStats())
        stats.requests += 1
        breaker = self.breakers.for_url(gateway)
        try:
            breaker.acquire(layer="ipfs", where=gateway)
        except CircuitOpen as exc:
            stats.errors += 1
            return _failed(gateway, exc, started), None
        url = _url(gateway, cid, path, raw)

        def ask(retry: RetryPolicy) -> Awaitable[HttpResult | LayerError]:
            return self._outcome(stats, method, url, max_bytes, raw, retry)

        try:
            outcome = await self._absent_or(gateway, cid, ask)
        except BaseException as exc:
            breaker.record(exc)
            raise
        breaker.record(outcome if isinstance(outcome, LayerError) else None)
        if isinstance(outcome, LayerError):
            return _failed(gateway, outcome, started), None
        if isinstance(outcome, str):
            return _absent(gateway, outcome, started), None
        read = _classify(gateway, method, cid, path, outcome, time.perf_counter() - started, raw)
        if read.verified:
            self.liveness.served(gateway, cid)
        return read, (outcome.content if read.status == "ok" and method == "GET" and not raw else None)

    async def _absent_or(
        self, gateway: str, cid: CID, ask: Callable[[RetryPolicy], Awaitable[HttpResult | LayerError]]
    ) -> HttpResult | LayerError | str:
        """The answer of ``ask``, or (a str saying why) absent: ``ask`` gave a timeout, 504 or 412, the gateway
        then proved readable (:class:`.ipfs_absent.Liveness`), and asked once more (a transient stall would have
        passed) gave one again while the gateway kept serving controls."""
        since = self.liveness.now()
        first = await ask(self.retry)
        if not _absent_like(first) or not await self.liveness.readable(gateway, since, cid):
            return first
        since = self.liveness.now()
        again = await ask(replace(self.retry, attempts=1))
        if not _absent_like(again) or not await self.liveness.readable(gateway, since, cid):
            return again
        return str(first) if isinstance(first, LayerError) else f"HTTP {first.status_code}"

    async def _outcome(
        self, stats: GatewayStats, method: str, url: str, max_bytes: int, raw: bool, retry: RetryPolicy
    ) -> HttpResult | LayerError:
        """The HttpResult, or the LayerError it ended in (counted in ``stats``)."""
        try:
            result = await self._follow(method, url, max_bytes, raw, retry)
        except LayerError as exc:
            stats.errors += 1
            return exc
        stats.bytes += len(result.content)
        return result

    async def _control_read(self, gateway: str, cid: CID) -> bool | None:
        """A control CID's root block from ``gateway``: True verified, False answered without it, None unreadable."""
        stats = self.stats.setdefault(gateway, GatewayStats())
        stats.requests += 1
        try:
            result = await self._follow("GET", _url(gateway, cid, "", True), self.max_bytes, True)
        except LayerError as exc:
            stats.errors += 1
            return False if isinstance(exc, ResponseTooLarge) else None  # an answer, or none
        stats.bytes += len(result.content)
        return result.status_code == 200 and verify_raw(cid, result.content) is not None

    async def _follow(
        self, method: str, url: str, max_bytes: int, raw: bool = False, retry: RetryPolicy | None = None
    ) -> HttpResult:
        """The answer, redirects re-validated; hops to another origin go through that origin's breaker."""
        home = origin_of(url)
        headers = RAW_HEADERS if raw else None
        for _ in range(MAX_REDIRECTS + 1):
            origin = origin_of(url)
            pools = self._pools.get(origin)
            breakers = None if origin == home else self.breakers  # the gateway's own is counted by _read
            async with self._slot(origin):
                with pools.lease() if pools else nullcontext(self._client) as pool:
                    result = await fetch(
                        pool, method, url, layer="ipfs", max_bytes=max_bytes, retry=retry or self.retry,
                        follow_redirects=False, breakers=breakers, headers=headers,
                    )  # fmt: skip
            location = result.headers.get("Location")
            if result.status_code not in _REDIRECT_STATUS or not location:
                return result
            url = _checked_redirect(self.policy, url, location)
        raise UrlRefused(f"more than {MAX_REDIRECTS} redirects", layer="ipfs", where=url)

    def _slot(self, origin: tuple[str, str, int]) -> asyncio.Semaphore:
        if origin not in self._semaphores:
            self._semaphores[origin] = asyncio.Semaphore(self.max_concurrency_per_host)
        return self._semaphores[origin]


def _controls(cids: list[str]) -> list[CID]:
    try:
        return [parse_cid(cid) for cid in cids]
    except DecodeError as exc:
        raise ValueError(f"bad control CID: {exc}") from None


def _url(gateway: str, cid: CID, path: str, raw: bool) -> str:
    return f"{gateway}/ipfs/{cid}{path}{RAW_QUERY if raw else ''}"


def _failed(gateway: str, exc: LayerError, started: float) -> GatewayRead:
    status = "too_large" if isinstance(exc, ResponseTooLarge) else "unavailable"
    return GatewayRead(gateway, status, str(exc), exc.kind, 0, time.perf_counter() - started)


def _absent(gateway: str, answer: str, started: float) -> GatewayRead:
    error = f"{answer}, twice, from a gateway that serves a control CID: it cannot retrieve this CID"
    return GatewayRead(gateway, "missing", error, "absent", 0, time.perf_counter() - started)


def _absent_like(outcome: HttpResult | LayerError) -> bool:
    if isinstance(outcome, LayerError):
        return absent_error(outcome)
    return absent_status(outcome.status_code)


def _rotated(gateways: list[str], first: int) -> list[str]:
    start = first % len(gateways) if gateways else 0
    return gateways[start:] + gateways[:start]


def _waves(gateways: list[str], short: int | None) -> list[list[str]]:
    """Probe waves: all at once (``short`` None), nothing (no more needed), or the first ``short`` then the rest."""
    if short is None:
        return [gateways]
    if short <= 0:
        return []
    return [gateways[:short], gateways[short:]] if gateways[short:] else [gateways]


def _checked_redirect(policy: UrlPolicy, url: str, location: str) -> str:
    """The redirect target if the policy allows it; else UrlRefused naming the gateway that redirected."""
    try:
        return policy.check_redirect(urljoin(url, location))
    except UrlRefused as exc:
        raise UrlRefused(f"redirect refused: {exc.reason} (to {exc.where})", layer="ipfs", where=url) from None


def _parse_ref(cid: CID | str, path: str) -> tuple[CID, str]:
    """The CID and a normalised sub-path ("" or "/a/b"); DecodeError for a bad CID or path."""
    ref = parse_ipfs_uri(f"/ipfs/{cid}{'/' if path and not path.startswith('/') else ''}{path}")
    if ref is None:  # pragma: no cover - "/ipfs/..." is always recognised
        raise DecodeError("not an IPFS reference", layer="ipfs", where=str(cid))
    return ref


def _classify(
    gateway: str, method: str, cid: CID, path: str, result: HttpResult, elapsed: float, raw: bool = False
) -> GatewayRead:
    size = len(result.content)
    status = result.status_code
    if status in _MISSING_STATUS:
        return GatewayRead(gateway, "missing", f"HTTP {status}", "not_found", size, elapsed, status)
    if status != 200:
        return GatewayRead(gateway, "unavailable", f"unexpected HTTP {status}", "http_status", size, elapsed, status)
    if raw:
        form = verify_raw(cid, result.content)
        if form is None:
            error = f"{size} bytes served for the raw root block are neither the block nor the file {cid} names"
            return GatewayRead(gateway, "integrity", error, "integrity", size, elapsed, status)
        return GatewayRead(gateway, "ok", None, None, size, elapsed, status, verified=True, form=form)
    if method == "HEAD" or path or not _verifiable(cid):
        return GatewayRead(gateway, "ok", None, None, size, elapsed, status, verified=False)
    if not cid_matches(cid, result.content):
        error = f"{size} bytes served do not hash to {cid}"
        return GatewayRead(gateway, "integrity", error, "integrity", size, elapsed, status)
    return GatewayRead(gateway, "ok", None, None, size, elapsed, status, verified=True)


def _total(reads: list[GatewayRead]) -> int:
    return sum(read.bytes_read for read in reads)
