"""The backup-node API client (seed 003 "Backup Data Verification"), async on httpx through :func:`http.fetch`.

Every backup node serves (``{node}`` is its base URL):

- ``GET /v1/status`` -> ``{"node": NAME, "last_sync": ISO-8601 UTC, "records": N, "through_seq": S}``;
- ``GET /v1/digest?through_seq=S`` -> ``{"digest": HEX, "records": N, "through_seq": S}``: the completeness
  digest of its records with ``seq <= S`` (``layers.chat_records.completeness_digest``);
- ``GET /v1/records?after_seq=A&limit=L`` (L <= 1000) -> ``{"records": [{"id", "seq", "hash"}],
  "next_after_seq": A' | null}``: the listing, in ``seq`` order;
- ``POST /v1/proofs`` ``{"ids": [<= 100], "through_seq": S}`` -> ``{"through_seq": S, "leaves": N, "root": HEX,
  "proofs": [{"id", "index", "hash", "path": [{"side": "left"|"right", "hash": HEX}]}], "unknown_ids": [...]}``:
  Merkle audit paths (RFC 6962 tree over its record hashes with ``seq <= S``).

Answers are parsed strictly (a malformed one is a DecodeError); transport failures, timeouts, 5xx and 429 are
:class:`LayerUnavailable` (layer ``backup:NAME``): the node's checks are then unknown.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx

from ..jsonsafe import loads_bounded
from .breaker import BreakerRegistry
from .chat_records import ProofStep
from .client_base import OwnedHttpClient
from .errors import DecodeError, LayerDataError
from .http import RetryPolicy, fetch

MAX_LISTING = 1000
MAX_PROOF_IDS = 100
MAX_ANSWER_BYTES = 32 * 1024 * 1024
DEFAULT_RETRY = RetryPolicy()
ListingRow = tuple[str, int, str]  # id, seq, hash


@dataclass(frozen=True)
class NodeStatus:
    node: str
    last_sync: datetime
    records: int
    through_seq: int


@dataclass(frozen=True)
class NodeProof:
    id: str
    index: int
    hash: str
    path: tuple[ProofStep, ...]


@dataclass(frozen=True)
class ProofAnswer:
    through_seq: int
    leaves: int
    root: bytes
    proofs: tuple[NodeProof, ...]
    unknown_ids: tuple[str, ...]


class BackupNodeClient(OwnedHttpClient):
    def __init__(
        self,
        name: str,
        base_url: str,
        *,
        retry: RetryPolicy = DEFAULT_RETRY,
        timeout_s: float = 30.0,
        client: httpx.AsyncClient | None = None,
        breakers: BreakerRegistry | None = None,
    ) -> None:
        self.name, self.base_url, self.retry = name, base_url.rstrip("/"), retry
        self.layer = f"backup:{name}"
        self.request_count = 0
        self.breakers = breakers or BreakerRegistry()
        self._init_client(client, timeout_s)

    def __repr__(self) -> str:
        return f"BackupNodeClient(name={self.name!r}, base_url={self.base_url!r})"


    async def _json(self, method: str, path: str, **kwargs: object) -> dict:
        self.request_count += 1
        result = await fetch(self._client, method, self.base_url + path, layer=self.layer, max_bytes=MAX_ANSWER_BYTES,
                             retry=self.retry, breakers=self.breakers, **kwargs)  # fmt: skip
        if result.status_code != 200:
            raise LayerDataError(f"HTTP {result.status_code}", layer=self.layer, where=path)
        body = loads_bounded(result.content, max_bytes=MAX_ANSWER_BYTES, layer=self.layer, where=path)
        if not isinstance(body, dict):
            raise DecodeError("answer is not a JSON object", layer=self.layer, where=path)
        return body

    def _fail(self, message: str, where: str) -> DecodeError:
        return DecodeError(message, layer=self.layer, where=where)

    async def status(self) -> NodeStatus:
        body = await self._json("GET", "/v1/status")
        try:
            last_sync = datetime.fromisoformat(str(body["last_sync"]).replace("Z", "+00:00"))
        except (KeyError, ValueError):
            raise self._fail("last_sync is not an ISO-8601 time", "/v1/status") from None
        if last_sync.tzinfo is None:
            last_sync = last_sync.replace(tzinfo=UTC)
        return NodeStatus(str(body.get("node", self.name)), last_sync, _int(body, "records", self, "/v1/status"),
                          _int(body, "through_seq", self, "/v1/status"))  # fmt: skip

    async def digest(self, through_seq: int) -> tuple[str, int]:
        """(the completeness digest of the node's records with ``seq <= through_seq``, how many they are)."""
        body = await self._json("GET", "/v1/digest", params={"through_seq": str(through_seq)})
        return _hex(body.get("digest"), 32, self, "/v1/digest"), _int(body, "records", self, "/v1/digest")

    async def record_pages(self, after_seq: int = 0, limit: int = MAX_LISTING) -> AsyncIterator[list[ListingRow]]:
        """The node's (id, seq, hash) listing after ``after_seq``, a page at a time."""
        cursor: int | None = after_seq
        while cursor is not None:
            body = await self._json("GET", "/v1/records", params={"after_seq": str(cursor), "limit": str(limit)})
            rows = body.get("records")
            if not isinstance(rows, list):
                raise self._fail("no 'records' array", "/v1/records")
            page = [_listing_row(row, self) for row in rows]
            if page and page[0][1] <= cursor:
                raise self._fail(f"listing did not move past seq {cursor}", "/v1/records")
            yield page
            following = body.get("next_after_seq")
            cursor = None if following is None or not page else _int(body, "next_after_seq", self, "/v1/records")

    async def proofs(self, ids: Sequence[str], through_seq: int) -> ProofAnswer:
        if len(ids) > MAX_PROOF_IDS:
            raise ValueError(f"at most {MAX_PROOF_IDS} ids per proof request")
        body = await self._json("POST", "/v1/proofs", json={"ids": list(ids), "through_seq": through_seq})
        where = "/v1/proofs"
        raw = body.get("proofs")
        if not isinstance(raw, list) or not isinstance(body.get("unknown_ids", []), list):
            raise self._fail("no 'proofs' array", where)
        unknown = tuple(str(i) for i in body.get("unknown_ids", []))
        return ProofAnswer(_int(body, "through_seq", self, where), _int(body, "leaves", self, where),
                           bytes.fromhex(_hex(body.get("root"), 32, self, where)),
                           tuple(_proof(p, self) for p in raw), unknown)  # fmt: skip


def _int(body: dict, name: str, client: BackupNodeClient, where: str) -> int:
    value = body.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise client._fail(f"{name} must be a non-negative integer", where)
    return value


def _hex(value: object, size: int, client: BackupNodeClient, where: str) -> str:
    if not isinstance(value, str) or len(value) != 2 * size:
        raise client._fail(f"expected {2 * size} hex digits", where)
    try:
        bytes.fromhex(value)
    except ValueError:
        raise client._fail("not hex", where) from None
    return value.lower()


def _listing_row(row: object, client: BackupNodeClient) -> ListingRow:
    if not isinstance(row, dict) or not isinstance(row.get("id"), str):
        raise client._fail("a listing row needs id, seq and hash", "/v1/records")
    return row["id"], _int(row, "seq", client, "/v1/records"), _hex(row.get("hash"), 32, client, "/v1/records")


def _proof(item: object, client: BackupNodeClient) -> NodeProof:
    where = "/v1/proofs"
    if not isinstance(item, dict) or not isinstance(item.get("id"), str) or not isinstance(item.get("path"), list):
        raise client._fail("a proof needs id, index, hash and path", where)
    steps = []
    for step in item["path"]:
        if not isinstance(step, dict) or step.get("side") not in ("left", "right"):
            raise client._fail("a path step needs side left|right and hash", where)
        steps.append(ProofStep(step["side"], bytes.fromhex(_hex(step.get("hash"), 32, client, where))))
    return NodeProof(item["id"], _int(item, "index", client, where), _hex(item.get("hash"), 32, client, where),
                     tuple(steps))  # fmt: skip
