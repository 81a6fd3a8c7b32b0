"""A client of the IPFS Pinning Service API (the standard ``/pins`` API that pinning services implement).

Endpoints (spec v1.0): ``GET /pins?cid=<up to 10, comma separated>&status=<list>&limit=<1..1000>&before=<ISO>``
-> ``{"count": N, "results": [PinStatus]}`` with results newest first (paged by ``before`` = the oldest
``created`` seen); ``POST /pins`` ``{"cid", "name", "origins", "meta"}`` -> 202 PinStatus; ``GET`` and
``DELETE /pins/{requestid}``. PinStatus is ``{"requestid", "status": queued|pinning|pinned|failed, "created",
"pin": {"cid", "name", "origins", "meta"}, "delegates": [...]}``. Auth: ``Authorization: Bearer TOKEN``
(the token never appears in a message or a repr).

:meth:`PinningServiceClient.statuses` asks for given CIDs only (5 per request, each in its CIDv0 and CIDv1
spelling: the spec's cap is 10), so a run
never lists a service's whole pin set to learn about its own CIDs. Errors map into the LayerError tree with
the service's name as the layer; a malformed answer is a DecodeError.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass

import httpx

from ..jsonsafe import loads_bounded
from .breaker import BreakerRegistry
from .cid import parse_cid
from .client_base import OwnedHttpClient
from .errors import DecodeError, LayerAuthError, LayerDataError
from .http import HttpResult, RetryPolicy, fetch

MAX_CIDS_PER_QUERY = 10
MAX_LIMIT = 1000
STATUSES = ("queued", "pinning", "pinned", "failed")
MAX_ANSWER_BYTES = 16 * 1024 * 1024
DEFAULT_RETRY = RetryPolicy()


@dataclass(frozen=True)
class PinStatus:
    requestid: str
    status: str
    created: str
    cid: str
    name: str = ""


class PinningServiceClient(OwnedHttpClient):
    def __init__(
        self,
        name: str,
        endpoint: str,
        token: str,
        *,
        retry: RetryPolicy = DEFAULT_RETRY,
        max_concurrency: int = 8,
        timeout_s: float = 30.0,
        client: httpx.AsyncClient | None = None,
        breakers: BreakerRegistry | None = None,
    ) -> None:
        self.name = name
        self.endpoint = endpoint.rstrip("/")
        self.retry = retry
        self.request_count = 0
        self.breakers = breakers or BreakerRegistry()
        self._headers = {"Authorization": f"Bearer {token}"}
        self._limit = asyncio.Semaphore(max(1, max_concurrency))
        self._init_client(client, timeout_s)

    def __repr__(self) -> str:
        return f"PinningServiceClient(name={self.name!r}, endpoint={self.endpoint!r})"


    async def _json(self, method: str, path: str, *, ok: tuple[int, ...] = (200,), **kwargs: object) -> object:
        self.request_count += 1
        async with self._limit:
            result = await fetch(self._client, method, self.endpoint + path, layer=self.name,
                                 max_bytes=MAX_ANSWER_BYTES, retry=self.retry, breakers=self.breakers,
                                 headers=self._headers, **kwargs)  # fmt: skip
        _require(result, ok, self.name, path)
        if not result.content:
            return None
        return loads_bounded(result.content, max_bytes=MAX_ANSWER_BYTES, layer=self.name, where=path)

    async def statuses(self, cids: Iterable[str]) -> dict[str, list[PinStatus]]:
        """Every pin request of the given CIDs (any status), CIDs compared in their CIDv1 form."""
        wanted = sorted(set(cids))
        per_query = MAX_CIDS_PER_QUERY // 2  # each CID asked in both spellings (services match the string)
        batches = [wanted[i : i + per_query] for i in range(0, len(wanted), per_query)]
        answers = await asyncio.gather(*(self._statuses_of(_spellings(batch)) for batch in batches))
        found: dict[str, list[PinStatus]] = {cid: [] for cid in wanted}
        by_v1 = {_v1(cid): cid for cid in wanted}
        for pins in answers:
            for pin in pins:
                if _v1(pin.cid) in by_v1:
                    found[by_v1[_v1(pin.cid)]].append(pin)
        return found

    async def pinned(self, cids: Iterable[str]) -> set[str]:
        """The given CIDs this service has pinned (status ``pinned``)."""
        return {cid for cid, pins in (await self.statuses(cids)).items() if any(p.status == "pinned" for p in pins)}

    async def _statuses_of(self, batch: list[str]) -> list[PinStatus]:
        params = {"cid": ",".join(batch), "status": ",".join(STATUSES), "limit": str(MAX_LIMIT)}
        pins: list[PinStatus] = []
        async for page in self._pages(params):
            pins.extend(page)
        return pins

    async def pin_pages(self, status: str = "pinned") -> AsyncIterator[list[PinStatus]]:
        """The service's pins of ``status``, newest first, one page at a time."""
        async for page in self._pages({"status": status, "limit": str(MAX_LIMIT)}):
            yield page

    async def _pages(self, params: dict[str, str]) -> AsyncIterator[list[PinStatus]]:
        seen = 0
        while True:
            body = await self._json("GET", "/pins", params=params)
            count, page = _results(body, self.name)
            yield page
            seen += len(page)
            if not page or seen >= count:
                return
            oldest = min(pin.created for pin in page)
            if params.get("before") == oldest:
                raise DecodeError("the service's page did not move past its oldest pin", layer=self.name)
            params = {**params, "before": oldest}

    async def add(self, cid: str, name: str = "", origins: list[str] | None = None) -> PinStatus:
        """Ask the service to pin ``cid`` (fetched by the service from the network or ``origins``)."""
        body = {"cid": str(parse_cid(cid)), "name": name, "origins": origins or [], "meta": {}}
        return _pin_status(await self._json("POST", "/pins", ok=(200, 202), json=body), self.name)

    async def remove(self, requestid: str) -> None:
        await self._json("DELETE", f"/pins/{requestid}", ok=(200, 202))


def _spellings(batch: list[str]) -> list[str]:
    out: list[str] = []
    for cid in batch:
        out.extend(dict.fromkeys([cid, _v1(cid), _v0(cid)]))
    return list(dict.fromkeys(out))


def _v0(cid: str) -> str:
    try:
        return str(parse_cid(cid).to_v0())
    except DecodeError:  # not a CID, or one without a v0 form (raw leaves, other hashes)
        return cid


def _v1(cid: str) -> str:
    try:
        return str(parse_cid(cid).to_v1())
    except DecodeError:
        return cid


def _require(result: HttpResult, ok: tuple[int, ...], layer: str, where: str) -> None:
    if result.status_code in ok:
        return
    if result.status_code in (401, 403):
        raise LayerAuthError(f"HTTP {result.status_code}", layer=layer, where=where)
    reason = ""
    try:
        error = loads_bounded(result.content, max_bytes=65536).get("error", {})
        reason = f": {error.get('reason', '')} {error.get('details', '')}".rstrip()
    except (DecodeError, AttributeError):
        pass
    raise LayerDataError(f"HTTP {result.status_code}{reason}"[:300], layer=layer, where=where)


def _results(body: object, layer: str) -> tuple[int, list[PinStatus]]:
    if not isinstance(body, dict) or not isinstance(body.get("results"), list):
        raise DecodeError("answer has no 'results' array", layer=layer, where="/pins")
    count = body.get("count")
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise DecodeError("answer has no valid 'count'", layer=layer, where="/pins")
    return count, [_pin_status(item, layer) for item in body["results"]]


def _pin_status(item: object, layer: str) -> PinStatus:
    pin = item.get("pin") if isinstance(item, dict) else None
    if not isinstance(pin, dict) or not all(isinstance(item.get(k), str) for k in ("requestid", "status", "created")):
        raise DecodeError("a PinStatus needs requestid, status, created and pin", layer=layer, where="/pins")
    if item["status"] not in STATUSES or not isinstance(pin.get("cid"), str):
        raise DecodeError(f"bad PinStatus status or cid: {str(item['status'])[:20]!r}", layer=layer, where="/pins")
    return PinStatus(item["requestid"], item["status"], item["created"], pin["cid"], str(pin.get("name") or ""))
