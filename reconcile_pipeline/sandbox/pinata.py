"""The local world's Pinata: the Pinata v1 REST API on loopback over the IPFS :class:`ContentStore`.

:class:`PinataServer` speaks ``/data/testAuthentication``, ``/data/pinList``,
``/pinning/pinFileToIPFS`` (multipart), ``/pinning/pinJSONToIPFS``, ``/pinning/pinByHash`` and
``/pinning/unpin/{cid}``, with ``Authorization: Bearer <jwt>``. Pinned content is stored in the
same :class:`~reconcile_pipeline.sandbox.ipfs.ContentStore` the gateways serve.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable

from reconcile_pipeline.layers.cid import parse_cid
from reconcile_pipeline.layers.errors import DecodeError

from .httpserver import LoopbackServer, Request, Response
from .ipfs import PIN_NAMESPACE, ContentStore, PinRecord

__all__ = ["PinataServer"]

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
            pin_id, status = str(uuid.uuid5(PIN_NAMESPACE, f"queue:{cid}:{len(self.pin_queue)}")), "searching"
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
