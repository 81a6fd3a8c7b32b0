"""Kubo-compatible ``ipfs add`` CIDs for files: UnixFS over dag-pb, balanced layout (pure, no I/O).

Reproduces what ``ipfs add`` (default chunker size-262144, balanced DAG with 174 links per node)
names a file, streaming: :class:`UnixfsBuilder` holds one chunk plus the pending link lists and
hashes the whole content (sha256) in the same pass. :func:`cid_matches` / :class:`StreamVerifier`
check that bytes are what a CID names, trying the layouts that could have produced that CID.
The dag-pb and UnixFS protobufs are encoded by hand (fields in the order go-codec-dagpb writes them).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

from reconcile_pipeline.layers.cid import CID, DAG_PB, RAW, SHA2_256, encode_varint, parse_cid
from reconcile_pipeline.layers.errors import IntegrityError

__all__ = [
    "CHUNK_SIZE",
    "MAX_LINKS",
    "StreamVerifier",
    "UnixfsBuilder",
    "cid_matches",
    "raw_cid",
    "unixfs_cid",
    "verify_bytes",
]

CHUNK_SIZE = 262144
MAX_LINKS = 174
_UNIXFS_FILE = 2


@dataclass(frozen=True)
class _Link:
    """A child as its parent sees it: CID, Tsize (total serialized bytes) and file bytes below it."""

    cid: CID
    tsize: int
    filesize: int


def _field_bytes(number: int, payload: bytes) -> bytes:
    return encode_varint(number << 3 | 2) + encode_varint(len(payload)) + payload


def _field_varint(number: int, value: int) -> bytes:
    return encode_varint(number << 3) + encode_varint(value)


def _unixfs_file(data: bytes | None, filesize: int, blocksizes: list[int]) -> bytes:
    """UnixFS Data message: Type=File, Data (absent when None), filesize, blocksizes (unpacked)."""
    out = _field_varint(1, _UNIXFS_FILE)
    if data is not None:
        out += _field_bytes(2, data)
    out += _field_varint(3, filesize)
    return out + b"".join(_field_varint(4, size) for size in blocksizes)


def _dag_pb_node(links: list[_Link], data: bytes) -> bytes:
    """PBNode bytes: Links (field 2, each Hash, Name="", Tsize) before Data (field 1)."""
    encoded_links = b"".join(
        _field_bytes(2, _field_bytes(1, link.cid.encode()) + _field_bytes(2, b"") + _field_varint(3, link.tsize))
        for link in links
    )
    return encoded_links + _field_bytes(1, data)


def raw_cid(data: bytes) -> CID:
    """CIDv1, raw codec, sha2-256 of `data`."""
    return CID.create(1, RAW, hashlib.sha256(data).digest())


class UnixfsBuilder:
    """Streaming ``ipfs add``: feed bytes with :meth:`update` in any split, then :meth:`finish`.

    `max_links` (tests, other importers) and `on_block` (called with each block's CID and bytes,
    e.g. to serve or archive the DAG) are optional extras; the defaults are Kubo's.
    """

    def __init__(
        self,
        cid_version: int = 0,
        raw_leaves: bool | None = None,
        chunk_size: int = CHUNK_SIZE,
        *,
        max_links: int = MAX_LINKS,
        on_block: Callable[[CID, bytes], None] | None = None,
    ) -> None:
        if cid_version not in (0, 1):
            raise ValueError(f"cid_version must be 0 or 1, not {cid_version}")
        if chunk_size < 1 or max_links < 2:
            raise ValueError("chunk_size must be positive and max_links at least 2")
        self.cid_version = cid_version
        self.raw_leaves = cid_version == 1 if raw_leaves is None else raw_leaves
        self.chunk_size = chunk_size
        self.max_links = max_links
        self._on_block = on_block
        self.size = 0
        self._content_hash = hashlib.sha256()
        self._buffer = bytearray()
        self._levels: list[list[_Link]] = [[]]  # levels[0] holds leaves, levels[i] nodes of depth i
        self._result: CID | None = None

    @property
    def sha256(self) -> str:
        """Hex sha256 of all bytes seen so far."""
        return self._content_hash.hexdigest()

    def update(self, data: bytes) -> None:
        if self._result is not None:
            raise RuntimeError("UnixfsBuilder.update after finish")
        self.size += len(data)
        self._content_hash.update(data)
        self._buffer += data
        while len(self._buffer) >= self.chunk_size:
            chunk = bytes(self._buffer[: self.chunk_size])
            del self._buffer[: self.chunk_size]
            self._push(0, self._leaf(chunk))

    def finish(self) -> CID:
        """The root CID; idempotent."""
        if self._result is None:
            if self._buffer:
                self._push(0, self._leaf(bytes(self._buffer)))
                self._buffer.clear()
            self._result = self._collapse()
        return self._result

    def _leaf(self, chunk: bytes) -> _Link:
        if self.raw_leaves:
            return _Link(self._emit(raw_cid(chunk), chunk), len(chunk), len(chunk))
        node = _dag_pb_node([], _unixfs_file(chunk, len(chunk), []))
        return _Link(self._node_cid(node), len(node), len(chunk))

    def _node_cid(self, node: bytes) -> CID:
        return self._emit(CID.create(self.cid_version, DAG_PB, hashlib.sha256(node).digest()), node)

    def _emit(self, cid: CID, block: bytes) -> CID:
        if self._on_block is not None:
            self._on_block(cid, block)
        return cid

    def _parent(self, children: list[_Link]) -> _Link:
        filesize = sum(child.filesize for child in children)
        node = _dag_pb_node(children, _unixfs_file(None, filesize, [child.filesize for child in children]))
        return _Link(self._node_cid(node), len(node) + sum(child.tsize for child in children), filesize)

    def _push(self, depth: int, link: _Link) -> None:
        """Append to a level; a full level is first closed into one node a level up (balanced layout)."""
        if depth == len(self._levels):
            self._levels.append([])
        level = self._levels[depth]
        if len(level) == self.max_links:
            self._push(depth + 1, self._parent(level))
            level.clear()
        level.append(link)

    def _collapse(self) -> CID:
        if not self._levels[0] and len(self._levels) == 1:
            return self._empty_file()
        depth = 0
        while True:
            level = self._levels[depth]
            is_top = depth == len(self._levels) - 1
            if is_top and len(level) == 1:
                return level[0].cid
            if level:
                self._push(depth + 1, self._parent(level))
                level.clear()
            depth += 1

    def _empty_file(self) -> CID:
        if self.raw_leaves:
            return self._emit(raw_cid(b""), b"")
        return self._node_cid(_dag_pb_node([], _unixfs_file(None, 0, [])))


def unixfs_cid(
    data: bytes, *, cid_version: int = 0, raw_leaves: bool | None = None, chunk_size: int = CHUNK_SIZE
) -> CID:
    """The CID ``ipfs add`` gives `data` with these options."""
    builder = UnixfsBuilder(cid_version, raw_leaves, chunk_size)
    builder.update(data)
    return builder.finish()


_LAYOUTS = {0: [(0, False), (0, True), (1, True), (1, False)], 1: [(1, True), (1, False), (0, False), (0, True)]}


def _candidate_builders(cid: CID) -> list[UnixfsBuilder]:
    """Every Kubo-default layout that could have produced a dag-pb `cid`, its own version's first.

    A CID's version is only a spelling: a Qm root converted to "bafybei..." (subdomain gateways do
    this) still has v0 links, and a v1 root can be spelled as Qm, so both versions are tried.
    """
    return [UnixfsBuilder(version, raw_leaves=raw) for version, raw in _LAYOUTS[cid.version]]


class StreamVerifier:
    """Checks streamed bytes against one CID; :meth:`finish` says whether they are what it names.

    Raw CIDs: sha256 of the bytes. dag-pb CIDs: the UnixFS DAG is rebuilt in parallel for each
    candidate layout (v0/v1 links, dag-pb/raw leaves, 256 KiB chunks, 174 links) and compared.
    """

    def __init__(self, cid: CID | str) -> None:
        self.cid = parse_cid(cid) if isinstance(cid, str) else cid
        self.size = 0
        self._supported = self.cid.hash_code == SHA2_256 and self.cid.codec in (RAW, DAG_PB)
        self._raw_hash = hashlib.sha256() if self.cid.codec == RAW else None
        self._builders = _candidate_builders(self.cid) if self._supported and self.cid.codec == DAG_PB else []

    def update(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self._raw_hash is not None:
            self._raw_hash.update(chunk)
        for builder in self._builders:
            builder.update(chunk)

    def finish(self) -> bool:
        if not self._supported:
            return False
        if self._raw_hash is not None:
            return self._raw_hash.digest() == self.cid.digest
        return any(_same_content_id(builder.finish(), self.cid) for builder in self._builders)


def _same_content_id(computed: CID, expected: CID) -> bool:
    """Same codec and multihash: CIDv0 and CIDv1 of one dag-pb node name the same content."""
    return computed.codec == expected.codec and computed.multihash == expected.multihash


def cid_matches(cid: CID | str, data: bytes) -> bool:
    """True iff `data` is the content `cid` names (raw: its sha256; dag-pb: the recomputed UnixFS DAG)."""
    verifier = StreamVerifier(cid)
    verifier.update(data)
    return verifier.finish()


def verify_bytes(cid: CID | str, data: bytes) -> None:
    """Raise IntegrityError unless `data` is what `cid` names."""
    if not cid_matches(cid, data):
        raise IntegrityError(f"{len(data)} bytes do not hash to the CID", layer="ipfs", where=str(cid))
