"""The Pinata client: pin status and (re-)pinning through Pinata's v1 REST API.

Endpoints: ``GET /data/testAuthentication``, ``GET /data/pinList`` (paginated with
``pageLimit`` <= 1000 and ``pageOffset``), ``POST /pinning/pinFileToIPFS`` (multipart),
``POST /pinning/pinJSONToIPFS``, ``POST /pinning/pinByHash``, ``DELETE /pinning/unpin/{cid}``.
Authentication is ``Authorization: Bearer <JWT>``. Errors are mapped into the LayerError tree
with ``layer="pinata"`` by :func:`layers.http.fetch` (with a circuit breaker on the API host); a
4xx that is not an auth failure becomes a :class:`LayerDataError` naming Pinata's reason. The JWT
is held privately and never appears in a message or a repr.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
from collections.abc import AsyncIterator

import httpx
from pydantic import SecretStr

from ..jsonsafe import loads_bounded
from .breaker import BreakerRegistry
from .cid import CID, parse_cid
from .errors import DecodeError, IntegrityError, LayerDataError, LayerError, LayerUnavailable
from .http import HttpResult, RetryPolicy, fetch

__all__ = ["PinataClient"]

log = logging.getLogger(__name__)

LAYER = "pinata"
MAX_PAGE_LIMIT = 1000
DEFAULT_RETRY = RetryPolicy()
_MAX_RESPONSE_BYTES = 32 * 1024 * 1024
_HEADER_SAFE = re.compile(r"^[\x21-\x7e]*$")


def _cid(text: object) -> str:
    """str(parse_cid(text)), with a bad CID reported as a Pinata-layer DecodeError."""
    try:
        return str(parse_cid(text))  # type: ignore[arg-type]
    except DecodeError as exc:
        raise DecodeError(exc.reason, layer=LAYER, where=str(text)[:100]) from None


class PinataClient:
    """Async client of the Pinata v1 API; usable as an async context manager."""

    def __init__(
        self,
        api_url: str,
        jwt: str | SecretStr,
        *,
        retry: RetryPolicy = DEFAULT_RETRY,
        page_limit: int = MAX_PAGE_LIMIT,
        timeout_s: float = 30.0,
        client: httpx.AsyncClient | None = None,
        breakers: BreakerRegistry | None = None,
    ) -> None:
        if not 1 <= page_limit <= MAX_PAGE_LIMIT:
            raise ValueError(f"page_limit must be between 1 and {MAX_PAGE_LIMIT}, not {page_limit}")
        self.api_url = api_url.rstrip("/")
        self.retry = retry
        self.page_limit = page_limit
        self.breakers = breakers or BreakerRegistry()
        self._jwt = jwt if isinstance(jwt, SecretStr) else SecretStr(jwt)
        if not _HEADER_SAFE.match(self._jwt.get_secret_value()):
            raise ValueError("the Pinata JWT holds characters not allowed in an HTTP header")
        self._owns_client = client is None
        self._client = client or httpx.AsyncClient(timeout=timeout_s, follow_redirects=False)
        self.invalid_rows: list[str] = []  # pin hashes from the last pinned_cids() that are not CIDs

    def __repr__(self) -> str:
        return f"PinataClient(api_url={self.api_url!r}, jwt=**********)"

    async def __aenter__(self) -> PinataClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    # -- data ------------------------------------------------------------------------------
    async def test_authentication(self) -> dict:
        return await self._json("GET", "/data/testAuthentication")

    async def pin_list(self) -> list[dict]:
        """Every pinned row (status=pinned), all pages."""
        return [row async for page in self.pin_pages() for row in page]

    async def pin_pages(self) -> AsyncIterator[list[dict]]:
        """The pinned rows page by page (a caller that keeps only some never holds the whole list)."""
        offset = 0
        while True:
            params = {"status": "pinned", "pageLimit": self.page_limit, "pageOffset": offset}
            page = await self._json("GET", "/data/pinList", params=params)
            batch, count = page.get("rows"), page.get("count")
            if not isinstance(batch, list) or not isinstance(count, int):
                raise DecodeError("pinList answer lacks rows/count", layer=LAYER, where="/data/pinList")
            yield batch
            offset += len(batch)
            if not batch or offset >= count:
                return

    async def pinned_cids(self) -> set[str]:
        """The pinned CIDs, each as str(parse_cid(x)) (v0 stays v0, v1 stays v1); non-CIDs are skipped."""
        cids: set[str] = set()
        self.invalid_rows = []
        for row in await self.pin_list():
            text = row.get("ipfs_pin_hash") if isinstance(row, dict) else None
            try:
                cids.add(str(parse_cid(text)))
            except DecodeError:
                self.invalid_rows.append(str(text)[:100])
        if self.invalid_rows:
            log.warning("pinata pinList holds %d rows that are not CIDs", len(self.invalid_rows))
        return cids

    async def is_pinned(self, cid: str) -> bool:
        """Whether Pinata pins ``cid`` under either CID version's spelling: ``hashContains`` queries (one per
        spelling), never the whole pin list. A row that is not a CID is not a match."""
        wanted = parse_cid(cid)
        spellings = [str(wanted.to_v1())]
        with contextlib.suppress(DecodeError):
            spellings.insert(0, str(wanted.to_v0()))
        for text in spellings:
            params = {"status": "pinned", "hashContains": text, "pageLimit": self.page_limit, "pageOffset": 0}
            page = await self._json("GET", "/data/pinList", params=params)
            rows = page.get("rows")
            if not isinstance(rows, list):
                raise DecodeError("pinList answer lacks rows", layer=LAYER, where="/data/pinList")
            if any(_same_cid(row, wanted) for row in rows):
                return True
        return False

    async def pins_of(self, cid: str) -> list[dict]:
        """The pinned rows of ``cid`` under either CID version's spelling (``hashContains`` queries, first page
        each: one CID has a handful of rows at most), never the whole pin list."""
        wanted = parse_cid(cid)
        spellings = [str(wanted.to_v1())]
        with contextlib.suppress(DecodeError):
            spellings.insert(0, str(wanted.to_v0()))
        found: list[dict] = []
        for text in spellings:
            params = {"status": "pinned", "hashContains": text, "pageLimit": self.page_limit, "pageOffset": 0}
            rows = (await self._json("GET", "/data/pinList", params=params)).get("rows")
            if not isinstance(rows, list):
                raise DecodeError("pinList answer lacks rows", layer=LAYER, where="/data/pinList")
            found += [row for row in rows if _same_cid(row, wanted) and row not in found]
        return found

    # -- pinning ---------------------------------------------------------------------------
    async def pin_file(self, data: bytes, name: str, *, cid_version: int = 0, expected_cid: str | None = None) -> str:
        """Pin bytes; return their CID. With `expected_cid`, a different answer raises IntegrityError."""
        form = {
            "pinataMetadata": json.dumps({"name": name}),
            "pinataOptions": json.dumps({"cidVersion": cid_version}),
        }
        files = {"file": (name or "file", bytes(data), "application/octet-stream")}
        answer = await self._json("POST", "/pinning/pinFileToIPFS", data=form, files=files)
        return self._returned_cid(answer, expected_cid)

    async def pin_json(self, obj: object, name: str, *, expected_cid: str | None = None) -> str:
        body = {"pinataContent": obj, "pinataMetadata": {"name": name}}
        answer = await self._json("POST", "/pinning/pinJSONToIPFS", json=body)
        return self._returned_cid(answer, expected_cid)

    async def pin_by_hash(self, cid: str, name: str = "") -> dict:
        """Ask Pinata to pin a CID it fetches from the network; returns the pin job."""
        body = {"hashToPin": _cid(cid), "pinataMetadata": {"name": name or str(cid)}}
        return await self._json("POST", "/pinning/pinByHash", json=body)

    async def unpin(self, cid: str) -> None:
        """Remove a pin; Pinata answers HTTP 400 (LayerDataError) for a CID that is not pinned."""
        await self._send("DELETE", f"/pinning/unpin/{_cid(cid)}")

    # -- plumbing --------------------------------------------------------------------------
    def _returned_cid(self, answer: dict, expected: str | None) -> str:
        cid = _cid(answer.get("IpfsHash"))
        if expected is not None and parse_cid(_cid(expected)).to_v1() != parse_cid(cid).to_v1():
            raise IntegrityError(f"Pinata pinned {cid}, expected {expected}", layer=LAYER, where=expected)
        return cid

    async def _json(self, method: str, path: str, **kwargs: object) -> dict:
        result = await self._send(method, path, **kwargs)
        try:
            payload = loads_bounded(result.content, max_bytes=_MAX_RESPONSE_BYTES, layer=LAYER, where=path)
        except DecodeError as exc:
            raise DecodeError(f"answer is not JSON ({exc.reason})", layer=LAYER, where=path) from None
        if not isinstance(payload, dict):
            raise DecodeError("answer is not a JSON object", layer=LAYER, where=path)
        return payload

    async def _send(self, method: str, path: str, **kwargs: object) -> HttpResult:
        secret = self._jwt.get_secret_value()
        headers = {"Accept": "application/json"} | ({"Authorization": f"Bearer {secret}"} if secret else {})
        try:
            result = await fetch(
                self._client, method, f"{self.api_url}{path}", layer=LAYER, max_bytes=_MAX_RESPONSE_BYTES,
                retry=self.retry, headers=headers, follow_redirects=False, breakers=self.breakers, **kwargs,
            )  # fmt: skip
        except LayerError as exc:
            if secret and secret in str(exc):  # never let the credential travel in a message
                withheld = LayerUnavailable if isinstance(exc, LayerUnavailable) else LayerDataError
                raise withheld("request failed (details withheld)", layer=LAYER, where=path) from None
            raise
        if result.status_code >= 300:
            details = _reason(result).replace(secret, "***") if secret else _reason(result)
            raise LayerDataError(f"Pinata refused: HTTP {result.status_code} {details}", layer=LAYER, where=path)
        return result


def _same_cid(row: object, wanted: CID) -> bool:
    text = row.get("ipfs_pin_hash") if isinstance(row, dict) else None
    try:
        found = parse_cid(text)
    except (DecodeError, TypeError):
        return False
    return (found.codec, found.multihash) == (wanted.codec, wanted.multihash)


def _reason(result: HttpResult) -> str:
    """Pinata's error reason and details, from its {"error": {...}} body (shortened)."""
    try:
        error = loads_bounded(result.content, max_bytes=_MAX_RESPONSE_BYTES).get("error")
    except (DecodeError, AttributeError):
        return result.content[:200].decode("utf-8", "replace")
    if isinstance(error, dict):
        return f"{error.get('reason', '')}: {error.get('details', '')}"[:300]
    return str(error)[:300]
