"""IPFS content identifiers: strict CID parsing and printing, and IPFS URI recognition (pure, no I/O).

A :class:`CID` is ``(version, codec, multihash)``. CIDv0 is a bare base58btc sha2-256 multihash of a
dag-pb node ("Qm..."); CIDv1 is ``varint(1) varint(codec) multihash`` in a multibase text ("b..." by
default). Parsing is strict: anything not exactly a CID raises :class:`DecodeError` (layer "ipfs")
and never another exception type. :func:`parse_ipfs_uri` turns ``ipfs://``, ``/ipfs/``, path- and
subdomain-gateway URLs into ``(cid, path)`` so callers can rewrite them to configured gateways.
The byte and text encodings underneath (varints, multihash, multibase) are in :mod:`.multibase`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote, unquote_to_bytes, urlsplit

from reconcile_pipeline.layers.errors import DecodeError
from reconcile_pipeline.layers.multibase import (
    MultiformatError,
    decode_base58btc,
    decode_multibase,
    encode_base58btc,
    encode_multibase,
    encode_varint,
    read_varint,
    split_multihash,
)

__all__ = [
    "CID",
    "DAG_PB",
    "RAW",
    "SHA2_256",
    "decode_multibase",
    "encode_multibase",
    "encode_varint",
    "is_cid",
    "parse_cid",
    "parse_ipfs_uri",
]

DAG_PB = 0x70
RAW = 0x55
SHA2_256 = 0x12
MAX_CID_TEXT = 200


# -- CID ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CID:
    version: int
    codec: int
    multihash: bytes

    def __post_init__(self) -> None:
        try:
            _check_cid(self.version, self.codec, self.multihash)
        except MultiformatError as exc:
            raise DecodeError(f"invalid CID: {exc}", layer="ipfs", where=self.multihash.hex()[:80]) from None

    @property
    def hash_code(self) -> int:
        return split_multihash(self.multihash)[0]

    @property
    def digest(self) -> bytes:
        return split_multihash(self.multihash)[1]

    def __str__(self) -> str:
        if self.version == 0:
            return encode_base58btc(self.multihash)
        return encode_multibase("b", self.encode())

    def to_text(self, prefix: str = "b") -> str:
        """CIDv1 text in another multibase (b B z k K f F); CIDv0 has only its base58btc form."""
        return str(self) if self.version == 0 else encode_multibase(prefix, self.encode())

    def encode(self) -> bytes:
        if self.version == 0:
            return self.multihash
        return encode_varint(1) + encode_varint(self.codec) + self.multihash

    def to_v1(self) -> CID:
        return CID(1, self.codec, self.multihash)

    def to_v0(self) -> CID:
        if self.codec != DAG_PB or self.hash_code != SHA2_256:
            raise DecodeError("only dag-pb sha2-256 CIDs have a v0 form", layer="ipfs", where=str(self))
        return CID(0, DAG_PB, self.multihash)

    @classmethod
    def create(cls, version: int, codec: int, digest: bytes, hash_code: int = SHA2_256) -> CID:
        return cls(version, codec, encode_varint(hash_code) + encode_varint(len(digest)) + bytes(digest))

    @classmethod
    def from_bytes(cls, data: bytes) -> CID:
        try:
            return _cid_from_bytes(bytes(data))
        except MultiformatError as exc:
            raise DecodeError(f"invalid binary CID: {exc}", layer="ipfs", where=bytes(data).hex()[:80]) from None


def _check_cid(version: int, codec: int, multihash: bytes) -> None:
    if version not in (0, 1):
        raise MultiformatError(f"unsupported CID version {version}")
    if not isinstance(codec, int) or codec < 0 or not isinstance(multihash, bytes):
        raise MultiformatError("codec must be a non-negative int and multihash bytes")
    code, digest = split_multihash(multihash)
    if version == 0 and (codec != DAG_PB or code != SHA2_256):
        raise MultiformatError("CIDv0 must be dag-pb with a sha2-256 multihash")


def _cid_from_bytes(data: bytes) -> CID:
    if len(data) == 34 and data[:2] == b"\x12\x20":
        return CID(0, DAG_PB, data)
    version, pos = read_varint(data, 0)
    if version != 1:
        raise MultiformatError(f"unsupported CID version {version}")
    codec, pos = read_varint(data, pos)
    split_multihash(data[pos:])
    return CID(1, codec, data[pos:])


def parse_cid(text: str) -> CID:
    """The CID spelled by `text` (v0 base58btc, or v1 in multibase b B z k K f F); DecodeError otherwise."""
    where = text[:80] if isinstance(text, str) else repr(text)[:80]
    try:
        return _parse_cid_text(text)
    except MultiformatError as exc:
        raise DecodeError(f"not a CID: {exc}", layer="ipfs", where=where) from None
    except DecodeError as exc:
        raise DecodeError(f"not a CID: {exc.reason}", layer="ipfs", where=where) from None


def _parse_cid_text(text: str) -> CID:
    if not isinstance(text, str):
        raise MultiformatError(f"expected text, got {type(text).__name__}")
    if not text:
        raise MultiformatError("empty")
    if len(text) > MAX_CID_TEXT:
        raise MultiformatError(f"longer than {MAX_CID_TEXT} characters")
    if len(text) == 46 and text.startswith("Qm"):
        multihash = decode_base58btc(text)
        if len(multihash) != 34 or multihash[:2] != b"\x12\x20":
            raise MultiformatError("CIDv0 must be a 34-byte sha2-256 multihash")
        return CID(0, DAG_PB, multihash)
    data = decode_multibase(text)
    if data[:1] == b"\x12":
        raise MultiformatError("a CIDv0 multihash may not be multibase-encoded")
    return _cid_from_bytes(data)


def is_cid(text: str) -> bool:
    try:
        parse_cid(text)
    except DecodeError:
        return False
    return True


# -- IPFS URIs ----------------------------------------------------------------------------------

_LOOKS_LIKE_CID = re.compile(r"^(Qm|baf)[A-Za-z0-9]*$")
_SEGMENT_SAFE = "!$&'()*+,;=:@-._~"


def parse_ipfs_uri(uri: str) -> tuple[CID, str] | None:
    """``(cid, path)`` for an IPFS reference, None for any other URI; DecodeError for a malformed one.

    Accepted: ``ipfs://CID[/p]``, ``ipfs://ipfs/CID[/p]``, ``/ipfs/CID[/p]``, bare ``CID[/p]``,
    ``http(s)://HOST/ipfs/CID[/p]`` and ``http(s)://CID.ipfs.HOST[/p]``; query and fragment are dropped.
    `path` is "" or "/a/b": empty and "." segments removed, ".." and NUL refused, each segment
    percent-encoded canonically so it can be appended to a gateway URL as it is.
    """
    if not isinstance(uri, str):
        raise DecodeError("IPFS URI must be text", layer="ipfs", where=repr(uri)[:80])
    try:
        found = _locate_cid(uri)
        if found is None:
            return None
        cid_text, raw_path = found
        return parse_cid(cid_text), _normalise_path(raw_path)
    except MultiformatError as exc:
        raise DecodeError(f"bad IPFS URI: {exc}", layer="ipfs", where=uri[:80]) from None
    except DecodeError as exc:
        raise DecodeError(f"bad IPFS URI: {exc.reason}", layer="ipfs", where=uri[:80]) from None


def _locate_cid(uri: str) -> tuple[str, str] | None:
    """(cid text, raw path) for the recognised forms; None when `uri` is not an IPFS reference."""
    lowered = uri.lower()
    if lowered.startswith("ipfs://"):
        rest = re.split(r"[?#]", uri[7:], maxsplit=1)[0]
        if rest.startswith("ipfs/"):
            rest = rest[5:]
        return _split_first(rest)
    if uri.startswith("/ipfs/"):
        return _split_first(re.split(r"[?#]", uri[6:], maxsplit=1)[0])
    if lowered.startswith(("http://", "https://")):
        return _locate_in_http_url(uri)
    if ":" in uri or uri.startswith("/"):
        return None
    cid_text, raw_path = _split_first(uri)
    if is_cid(cid_text) or _LOOKS_LIKE_CID.match(cid_text):
        return cid_text, raw_path
    return None


def _locate_in_http_url(uri: str) -> tuple[str, str] | None:
    try:
        parts = urlsplit(uri)
    except ValueError as exc:
        raise MultiformatError("unparseable URL") from exc
    if parts.path.startswith("/ipfs/"):
        return _split_first(parts.path[6:])
    host = parts.netloc.rpartition("@")[2].partition(":")[0]
    label, _, domain = host.partition(".")
    if not domain.lower().startswith("ipfs."):
        return None
    for candidate in (label, label.lower()):  # DNS is case-insensitive; a v0 label keeps its case
        if is_cid(candidate):
            return candidate, parts.path
    return (label, parts.path) if _LOOKS_LIKE_CID.match(label.lower()) else None


def _split_first(rest: str) -> tuple[str, str]:
    cid_text, slash, path = rest.partition("/")
    return cid_text, slash + path


def _normalise_path(raw_path: str) -> str:
    segments = []
    for segment in raw_path.split("/"):
        try:
            decoded = unquote_to_bytes(segment).decode("utf-8")
        except UnicodeError as exc:
            raise MultiformatError("path is not UTF-8 after percent-decoding") from exc
        if "\0" in decoded:
            raise MultiformatError("NUL in path")
        if decoded == "..":
            raise MultiformatError("'..' in path")
        if decoded not in ("", "."):
            segments.append(quote(decoded, safe=_SEGMENT_SAFE))
    return "".join("/" + segment for segment in segments)
