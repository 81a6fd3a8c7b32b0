"""The local world's IPFS: a content store and path gateways on loopback (Pinata is in :mod:`.pinata`).

- :class:`ContentStore` holds bytes by CID (real CIDs, computed like Kubo's ``ipfs add``) and
  Pinata's pin records. v0 and v1 spellings of one multihash+codec name the same object.
- :class:`GatewayServer` is an IPFS path gateway: ``GET``/``HEAD /ipfs/{cid}``. Besides the base
  faults it can serve wrong bytes (``serve_wrong_bytes`` or per CID ``wrong_bytes``), lack some
  CIDs (``missing``: partial propagation), redirect every request (``redirect_to``) or answer one
  CID with any response (:meth:`GatewayServer.serve`: a hostile gateway's redirect, endless body,
  compression bomb, ...).

  A trustless request (``?format=raw`` or ``Accept: application/vnd.ipld.raw``) is answered per
  ``raw_mode``: ``block`` (Kubo, Helia's verified-fetch: the CID's root block) or ``file`` (js-ipfs: both
  ignored, the whole file). Content the gateway lacks is answered per ``absent`` as real gateways do:
  ``hang`` (js-ipfs, Kubo: no answer until the client gives up; after ``hang_s`` a 504), ``504`` (a
  public gateway after its own timeout, the default), ``412`` (Helia) or ``404``.
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
from typing import TypeAlias

from reconcile_pipeline.layers.cid import parse_cid
from reconcile_pipeline.layers.errors import DecodeError
from reconcile_pipeline.layers.unixfs import unixfs_cid

from .httpserver import LoopbackServer, Request, Response
from .ipfs_blocks import root_block

__all__ = [
    "ABSENT_MODES",
    "PIN_NAMESPACE",
    "RAW_MODES",
    "ContentStore",
    "GatewayServer",
    "PinRecord",
    "guess_content_type",
]

RAW_MODES = ("block", "file")
ABSENT_MODES = ("hang", "504", "412", "404")
DEFAULT_ABSENT = "504"
HANG_S = 60.0

PIN_NAMESPACE = uuid.UUID("6f1d3a52-6a43-4f3e-9a55-2f5b0c1e7a10")  # pin ids are uuid5s in it


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
            pin_id = str(uuid.uuid5(PIN_NAMESPACE, f"{key}:{self._pin_serial}"))
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
        except (ValueError, RecursionError):  # hostile content: a bracket bomb is still served
            pass
    return "application/octet-stream"


def _corrupt(data: bytes) -> bytes:
    """Bytes of the same length that do not hash to the original's CID."""
    return bytes(b ^ 0x5A for b in data) if data else b"\x00"


@functools.lru_cache(maxsize=16)
def _keys_of(cids: frozenset[str]) -> frozenset[str]:
    return frozenset(_key(cid) for cid in cids)


Answer: TypeAlias = Response | Callable[[], Response]

_GATEWAY_PATH = re.compile(r"^/ipfs/([^/]+)(/.*)?$")


class GatewayServer(LoopbackServer):
    """An IPFS path gateway over a :class:`ContentStore`."""

    def __init__(
        self,
        store: ContentStore,
        name: str = "gw0",
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        raw_mode: str = "block",
        absent: str = DEFAULT_ABSENT,
    ) -> None:
        if raw_mode not in RAW_MODES or absent not in ABSENT_MODES:
            raise ValueError(f"raw_mode must be one of {RAW_MODES} and absent one of {ABSENT_MODES}")
        super().__init__(host, port)
        self.raw_mode = raw_mode  # RAW_MODES: what a trustless (raw) request gets
        self.absent = absent  # ABSENT_MODES: how content this gateway lacks is answered
        self.hang_s = HANG_S
        self.store = store
        self.name = name
        self.serve_wrong_bytes = False
        self.wrong_bytes: set[str] = set()
        self.missing: set[str] = set()
        self.redirect_to: str | None = None  # answer 302 to f"{redirect_to}{request path}"
        self.custom: dict[str, Answer] = {}  # CID key -> what to answer instead (see serve())

    def serve(self, cid: str, answer: Answer | None) -> None:
        """Answer requests for ``cid`` with ``answer`` (a Response, or a factory for streamed ones); None undoes."""
        if answer is None:
            self.custom.pop(_key(cid), None)
        else:
            self.custom[_key(cid)] = answer

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
        if key in self.custom:
            answer = self.custom[key]
            return answer if isinstance(answer, Response) else answer()
        data = None if self._lacks(key) else self.store.get(cid_text)
        if data is None:
            return self._absent_answer()
        if sub_path.strip("/"):
            return Response(404, b"ipfs resolve: no link named", {"Content-Type": "text/plain"})
        raw = self._wants_raw(request) and self.raw_mode == "block"
        if raw:
            data = root_block(key, data)
        if self.serve_wrong_bytes or key in _keys_of(frozenset(self.wrong_bytes)):
            data = _corrupt(data)
        headers = self._headers(cid_text, data)
        if raw:
            headers["Content-Type"] = "application/vnd.ipld.raw"
        return Response(200, data, headers)

    @staticmethod
    def _wants_raw(request: Request) -> bool:
        accept = next((v for k, v in request.headers.items() if k.lower() == "accept"), "")
        return request.arg("format") == "raw" or "application/vnd.ipld.raw" in accept

    def _absent_answer(self) -> Response:
        """What this gateway answers for content it lacks (see the module docstring)."""
        if self.absent not in ABSENT_MODES:
            raise ValueError(f"absent must be one of {ABSENT_MODES}, not {self.absent!r}")
        plain = {"Content-Type": "text/plain"}
        if self.absent == "404":
            return Response(404, b"ipfs resolve: not found", plain)
        if self.absent == "412":
            return Response(412, b"not retrievable: no provider answered and the request is offline", plain)
        if self.absent == "hang":
            self._stopping.wait(self.hang_s)  # until the world stops, or long past any client's timeout
        return Response(504, b"gateway timeout: could not retrieve the content in time", plain)

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
