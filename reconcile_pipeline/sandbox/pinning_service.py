"""A local IPFS Pinning Service API (``/pins``, spec v1.0) on loopback, for the world's extra pinning services.

``GET /pins`` (filters ``cid`` (at most 10), ``status`` (default ``pinned``), ``name``, ``before``, ``after``,
``limit`` 1..1000 (default 10); results newest first with the total ``count``), ``POST /pins`` (202), ``GET``
and ``DELETE /pins/{requestid}``; ``Authorization: Bearer TOKEN`` (401 otherwise). A pin request for a CID
the shared content store holds is ``pinned`` at once; any other stays ``queued`` (a real service would keep
searching the network for it).
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from ..layers.cid import parse_cid
from ..layers.errors import DecodeError
from .httpserver import LoopbackServer, Request, Response

STATUSES = ("queued", "pinning", "pinned", "failed")
_EPOCH = datetime(2024, 1, 1, tzinfo=UTC)


def _error(status: int, reason: str, details: str = "") -> Response:
    return Response.json({"error": {"reason": reason, "details": details}}, status)


@dataclass
class StoredPin:
    requestid: str
    cid: str
    name: str
    status: str
    created: str
    origins: list[str] = field(default_factory=list)
    meta: dict = field(default_factory=dict)

    def as_json(self) -> dict:
        return {"requestid": self.requestid, "status": self.status, "created": self.created, "delegates": [],
                "pin": {"cid": self.cid, "name": self.name, "origins": self.origins, "meta": self.meta}}  # fmt: skip


class PinningServiceServer(LoopbackServer):
    name = "pinning-service"

    def __init__(
        self, token: str = "local-pinning-token", *, has_content: Callable[[str], bool] = lambda cid: True,
        host: str = "127.0.0.1", port: int = 0,
    ) -> None:  # fmt: skip
        super().__init__(host, port)
        self._token = token
        self.has_content = has_content
        self.pins: dict[str, StoredPin] = {}
        self._lock = threading.Lock()
        self._tick = 0

    def __repr__(self) -> str:
        return f"PinningServiceServer({self.url})"

    # -- the pin set (also for the world builder and tests) ---------------------------------
    def pin(self, cid: str, name: str = "", origins: list[str] | None = None) -> StoredPin:
        with self._lock:
            self._tick += 1
            created = (_EPOCH + timedelta(microseconds=self._tick)).isoformat().replace("+00:00", "Z")
            status = "pinned" if self.has_content(cid) else "queued"
            stored = StoredPin(uuid.uuid4().hex, cid, name, status, created, origins or [])
            self.pins[stored.requestid] = stored
            return stored

    def unpin_cid(self, cid: str) -> int:
        with self._lock:
            gone = [rid for rid, pin in self.pins.items() if pin.cid == cid]
            for rid in gone:
                del self.pins[rid]
            return len(gone)

    # -- REST ------------------------------------------------------------------------------
    def route(self, request: Request) -> Response:
        auth = next((v for k, v in request.headers.items() if k.lower() == "authorization"), "")
        if auth != f"Bearer {self._token}":
            return _error(401, "UNAUTHORIZED", "Access token is missing or invalid")
        if request.path == "/pins":
            return self._list(request) if request.method == "GET" else self._add(request)
        if request.path.startswith("/pins/") and request.method in ("GET", "DELETE"):
            return self._one(request, request.path[len("/pins/") :])
        return _error(404, "NOT_FOUND", "no such route")

    def _list(self, request: Request) -> Response:
        cids = [c for c in (request.arg("cid") or "").split(",") if c]
        statuses = [s for s in (request.arg("status") or "pinned").split(",") if s]
        limit = request.arg("limit", "10") or ""
        if len(cids) > 10 or not set(statuses) <= set(STATUSES) or not limit.isdigit() or not 1 <= int(limit) <= 1000:
            return _error(400, "BAD_REQUEST", "cid (at most 10), status or limit out of range")
        with self._lock:
            matching = [p for p in self.pins.values() if p.status in statuses and (not cids or p.cid in cids)]
        if name := request.arg("name"):
            matching = [p for p in matching if p.name == name]
        matching.sort(key=lambda p: p.created, reverse=True)
        count = len(matching)
        if before := request.arg("before"):
            matching = [p for p in matching if p.created < before]
        if after := request.arg("after"):
            matching = [p for p in matching if p.created > after]
        return Response.json({"count": count, "results": [p.as_json() for p in matching[: int(limit)]]})

    def _add(self, request: Request) -> Response:
        try:
            body = json.loads(request.body)
            cid = str(parse_cid(body["cid"]))
        except (ValueError, KeyError, TypeError, DecodeError):
            return _error(400, "BAD_REQUEST", "body must be a Pin object with a valid cid")
        stored = self.pin(cid, str(body.get("name") or ""), list(body.get("origins") or []))
        return Response.json(stored.as_json(), 202)

    def _one(self, request: Request, requestid: str) -> Response:
        with self._lock:
            stored = self.pins.get(requestid)
            if stored is not None and request.method == "DELETE":
                del self.pins[requestid]
                return Response(202, b"", {})
        if stored is None:
            return _error(404, "NOT_FOUND", "no such pin request")
        return Response.json(stored.as_json())
