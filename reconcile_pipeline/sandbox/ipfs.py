"""The local world's IPFS: a content store, path gateways and a Pinata v1 REST API on loopback.

- :class:`ContentStore` holds bytes by CID (real CIDs, computed like Kubo's ``ipfs add``) and
  Pinata's pin records. v0 and v1 spellings of one multihash+codec name the same object.
- :class:`GatewayServer` is an IPFS path gateway: ``GET``/``HEAD /ipfs/{cid}``. Besides the base
  faults it can serve wrong bytes (``serve_wrong_bytes`` or per CID ``wrong_bytes``), lack some
  CIDs (``missing``: partial propagation) or redirect every request (``redirect_to``).
- :class:`PinataServer` speaks the Pinata v1 API: ``/data/testAuthentication``,
  ``/data/pinList``, ``/pinning/pinFileToIPFS`` (multipart), ``/pinning/pinJSONToIPFS``,
  ``/pinning/pinByHash`` and ``/pinning/unpin/{cid}``, with ``Authorization: Bearer <jwt>``.
"""

from __future__ import annotations

import functools
import json
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from reconcile_pipeline.layers.cid import parse_cid
from reconcile_pipeline.layers.errors import DecodeError
from reconcile_pipeline.layers.unixfs import unixfs_cid

from .httpserver import LoopbackServer, Request, Response

__all__ = ["ContentStore", "GatewayServer", "PinRecord", "PinataServer", "guess_content_type"]

_PIN_NAMESPACE = uuid.UUID("6f1d3a52-6a43-4f3e-9a55-2f5b0c1e7a10")


def _key(cid: str) -> str:
    """One key for every spelling of the same object (CIDv1, base32)."""
    return str(parse_cid(cid).to_v1())


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class PinRecord:
    id: str
    cid: str
    name: str
    size: int
    date_pinned: str
    keyvalues: dict[str, object] = field(default_factory=dict)


class ContentStore:
    """Bytes by CID plus pin records; thread-safe (servers answer on several threads)."""

    def __init__(self, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._lock = threading.Lock()
        self._objects: dict[str, bytes] = {}
        self._pins: dict[str, PinRecord] = {}
        self._pin_serial = 0
        self._clock = clock

    def add(self, data: bytes, *, cid_version: int = 0) -> str:
        cid = str(unixfs_cid(bytes(data), cid_version=cid_version))
        self.put(cid, data)
        return cid

    def put(self, cid: str, data: bytes) -> None:
        """Store any bytes under a CID (fault injection: the bytes need not hash to it)."""
        with self._lock:
            self._objects[_key(cid)] = bytes(data)

    def get(self, cid: str) -> bytes | None:
        with self._lock:
            return self._objects.get(_key(cid))

    def remove(self, cid: str) -> None:
        with self._lock:
            self._objects.pop(_key(cid), None)

    def __contains__(self, cid: str) -> bool:
        return self.get(cid) is not None

    def pin(self, cid: str, name: str = "", keyvalues: dict[str, object] | None = None) -> PinRecord:
        key = _key(cid)
        with self._lock:
            self._pin_serial += 1
            size = len(self._objects.get(key, b""))
            pin_id = str(uuid.uuid5(_PIN_NAMESPACE, f"{key}:{self._pin_serial}"))
            record = PinRecord(pin_id, cid, name, size, _iso(self._clock()), dict(keyvalues or {}))
            self._pins.pop(key, None)
            self._pins[key] = record
            return record

    def unpin(self, cid: str) -> bool:
        with self._lock:
            return self._pins.pop(_key(cid), None) is not None

    def is_pinned(self, cid: str) -> bool:
        with self._lock:
            return _key(cid) in self._pins

    def pins(self) -> list[PinRecord]:
        """Pin records, newest first (Pinata's order)."""
        with self._lock:
            return list(reversed(self._pins.values()))


def guess_content_type(data: bytes) -> str:
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.lstrip()[:1] in (b"{", b"["):
        try:
            json.loads(data)
            return "application/json"
        except ValueError:
            pass
    return "application/octet-stream"


def _corrupt(data: bytes) -> bytes:
    """Bytes of the same length that do not hash to the original's CID."""
    return bytes(b ^ 0x5A for b in data) if data else b"\x00"


@functools.lru_cache(maxsize=16)
def _keys_of(cids: frozenset[str]) -> frozenset[str]:
    return frozenset(_key(cid) for cid in cids)


_GATEWAY_PATH = re.compile(r"^/ipfs/([^/]+)(/.*)?$")


class GatewayServer(LoopbackServer):
    """An IPFS path gateway over a :class:`ContentStore`."""

    def __init__(self, store: ContentStore, name: str = "gw0", host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(host, port)
        self.store = store
        self.name = name
        self.serve_wrong_bytes = False
        self.wrong_bytes: set[str] = set()
        self.missing: set[str] = set()
        self.redirect_to: str | None = None  # answer 302 to f"{redirect_to}{request path}"

    def route(self, request: Request) -> Response:
        if request.method not in ("GET", "HEAD"):
            return Response(405, b"method not allowed", {"Allow": "GET, HEAD"})
        match = _GATEWAY_PATH.match(request.path)
        if match is None:
            return Response(404, b"not found", {"Content-Type": "text/plain"})
        if self.redirect_to is not None:
            return Response(302, b"", {"Location": f"{self.redirect_to}{request.path}"})
        cid_text, sub_path = match.group(1), match.group(2) or ""
        try:
            key = _key(cid_text)
        except DecodeError:
            return Response(400, f"invalid CID: {cid_text[:80]}".encode(), {"Content-Type": "text/plain"})
        data = None if self._lacks(key) or sub_path.strip("/") else self.store.get(cid_text)
        if data is None:
            return Response(404, b"ipfs resolve: no link named or not found", {"Content-Type": "text/plain"})
        if self.serve_wrong_bytes or key in _keys_of(frozenset(self.wrong_bytes)):
            data = _corrupt(data)
        return Response(200, data, self._headers(cid_text, data))

    def _lacks(self, key: str) -> bool:
        return key in _keys_of(frozenset(self.missing))

    @staticmethod
    def _headers(cid: str, data: bytes) -> dict[str, str]:
        return {
            "Content-Type": guess_content_type(data),
            "Etag": f'"{cid}"',
            "X-Ipfs-Path": f"/ipfs/{cid}",
            "X-Ipfs-Roots": cid,
            "Cache-Control": "public, max-age=29030400, immutable",
        }


_AUTH_ERROR = {"error": {"reason": "INVALID_CREDENTIALS", "details": "Invalid/expired credentials provided."}}
_MAX_PAGE_LIMIT = 1000


def _bad_request(details: str) -> Response:
    return Response.json({"error": {"reason": "INVALID_REQUEST", "details": details}}, status=400)


def _multipart_fields(content_type: str, body: bytes) -> dict[str, bytes]:
    """Fields of a multipart/form-data body, by name (the last value wins)."""
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if match is None:
        raise ValueError("multipart body without a boundary")
    delimiter = b"\r\n--" + match.group(1).encode()
    fields: dict[str, bytes] = {}
    for part in (b"\r\n" + body).split(delimiter)[1:]:
        if part.startswith(b"--"):
            break
        head, sep, content = part[2:].partition(b"\r\n\r\n")
        name = re.search(rb'name="([^"]*)"', head)
        if sep and name:
            fields[name.group(1).decode()] = content
    return fields


class PinataServer(LoopbackServer):
    """The Pinata v1 REST API over a :class:`ContentStore`."""

    name = "pinata"

    def __init__(self, store: ContentStore, jwt: str = "local-pinata-jwt", host: str = "127.0.0.1", port: int = 0):
        super().__init__(host, port)
        self.store = store
        self._jwt = jwt
        self.pin_queue: list[str] = []  # pinByHash requests for content the store does not have

    def __repr__(self) -> str:
        return f"PinataServer(url={self.url!r})"

    def route(self, request: Request) -> Response:
        if not self._authorized(request):
            return Response.json(_AUTH_ERROR, status=401)
        handler = self._ROUTES.get((request.method, request.path))
        if handler is not None:
            return handler(self, request)
        if request.method == "DELETE" and request.path.startswith("/pinning/unpin/"):
            return self._unpin(request.path.removeprefix("/pinning/unpin/"))
        return Response.json({"error": {"reason": "NOT_FOUND", "details": request.path}}, status=404)

    def _authorized(self, request: Request) -> bool:
        header = _header(request, "authorization")
        return bool(self._jwt) and header == f"Bearer {self._jwt}"

    def _test_authentication(self, request: Request) -> Response:
        return Response.json({"message": "Congratulations! You are communicating with the Pinata API!"})

    def _pin_list(self, request: Request) -> Response:
        try:
            limit, offset = int(request.arg("pageLimit", "10")), int(request.arg("pageOffset", "0"))
        except ValueError:
            return _bad_request("pageLimit and pageOffset must be integers")
        if not 1 <= limit <= _MAX_PAGE_LIMIT or offset < 0:
            return _bad_request(f"pageLimit must be 1..{_MAX_PAGE_LIMIT} and pageOffset >= 0")
        if request.arg("status", "all") == "unpinned":
            return Response.json({"count": 0, "rows": []})
        wanted = request.arg("hashContains")
        records = [r for r in self.store.pins() if not wanted or wanted in r.cid]
        rows = [_pin_row(record) for record in records[offset : offset + limit]]
        return Response.json({"count": len(records), "rows": rows})

    def _pin_file(self, request: Request) -> Response:
        try:
            fields = _multipart_fields(_header(request, "content-type"), request.body)
            metadata = json.loads(fields.get("pinataMetadata") or b"{}")
            options = json.loads(fields.get("pinataOptions") or b"{}")
        except ValueError as exc:
            return _bad_request(f"malformed multipart body: {exc}")
        if "file" not in fields:
            return _bad_request("no file in the form")
        return self._store_and_pin(fields["file"], metadata, options)

    def _pin_json(self, request: Request) -> Response:
        try:
            payload = json.loads(request.body)
        except ValueError:
            return _bad_request("body is not JSON")
        if not isinstance(payload, dict) or "pinataContent" not in payload:
            return _bad_request("pinataContent is required")
        content = json.dumps(payload["pinataContent"], separators=(",", ":"), ensure_ascii=False).encode()
        return self._store_and_pin(content, payload.get("pinataMetadata") or {}, payload.get("pinataOptions") or {})

    def _store_and_pin(self, data: bytes, metadata: object, options: object) -> Response:
        if not isinstance(metadata, dict) or not isinstance(options, dict):
            return _bad_request("pinataMetadata and pinataOptions must be JSON objects")
        version = options.get("cidVersion", 0)
        if version not in (0, 1, "0", "1") or options.get("wrapWithDirectory"):
            return _bad_request("cidVersion must be 0 or 1; wrapWithDirectory is not supported here")
        cid = self.store.add(data, cid_version=int(version))
        duplicate = self.store.is_pinned(cid)
        record = self.store.pin(cid, str(metadata.get("name") or ""), metadata.get("keyvalues") or {})
        answer = {"IpfsHash": cid, "PinSize": len(data), "Timestamp": record.date_pinned}
        return Response.json({**answer, "isDuplicate": True} if duplicate else answer)

    def _pin_by_hash(self, request: Request) -> Response:
        try:
            payload = json.loads(request.body)
            cid = str(parse_cid(payload["hashToPin"]))
        except (ValueError, KeyError, TypeError, DecodeError):
            return _bad_request("hashToPin must be a valid CID")
        metadata = payload.get("pinataMetadata")
        metadata = metadata if isinstance(metadata, dict) else {}
        name = str(metadata.get("name") or "")
        if cid in self.store:
            record = self.store.pin(cid, name, metadata.get("keyvalues") or {})
            pin_id, status = record.id, "prechecking"
        else:
            self.pin_queue.append(cid)
            pin_id, status = str(uuid.uuid5(_PIN_NAMESPACE, f"queue:{cid}:{len(self.pin_queue)}")), "searching"
        return Response.json({"id": pin_id, "ipfsHash": cid, "status": status, "name": name})

    def _unpin(self, cid: str) -> Response:
        try:
            removed = self.store.unpin(cid)
        except DecodeError:
            return _bad_request("not a valid CID")
        if not removed:
            return _bad_request("The current user has not pinned the cid: " + cid)
        return Response(200, b"OK", {"Content-Type": "text/plain"})

    _ROUTES: dict[tuple[str, str], Callable[[PinataServer, Request], Response]] = {
        ("GET", "/data/testAuthentication"): _test_authentication,
        ("GET", "/data/pinList"): _pin_list,
        ("POST", "/pinning/pinFileToIPFS"): _pin_file,
        ("POST", "/pinning/pinJSONToIPFS"): _pin_json,
        ("POST", "/pinning/pinByHash"): _pin_by_hash,
    }


def _header(request: Request, name: str) -> str:
    return next((v for k, v in request.headers.items() if k.lower() == name), "")


def _pin_row(record: PinRecord) -> dict[str, object]:
    return {
        "id": record.id,
        "ipfs_pin_hash": record.cid,
        "size": record.size,
        "user_id": "local-user",
        "date_pinned": record.date_pinned,
        "date_unpinned": None,
        "metadata": {"name": record.name, "keyvalues": record.keyvalues or None},
        "regions": [],
    }
