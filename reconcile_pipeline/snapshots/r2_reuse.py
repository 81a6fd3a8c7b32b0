"""R2 copies already read, for the regular cadence: GET only objects whose ETag or size changed.

The bucket listing gives each object's ETag and size (1,000 keys a request). Each object read is kept in the
content archive under the CID of its bytes (CIDv1, raw codec, SHA-256: content-addressed, re-verified on every
read), and the verification state (``kind`` "r2", key ``bucket/key``) records the SHA-256 and size of those bytes
with the ETag they were listed under. An object is not read again when its listed ETag and size are the ones
recorded and the archive still holds bytes hashing to the recorded SHA-256: the snapshot row is built from those
bytes, the same row a GET would give. Anything else (new key, changed ETag or size, no state, bytes not in the
archive) is read with a GET. ``deep`` reads everything. A state or archive that cannot be read or written only
makes the snapshot read everything.

A cold run has no state, but it has the KV blocks: R2 ``blocks/N.json`` should hold KV block N without its IPFS
fields, in canonical JSON (:func:`expected_block_copies`). The listing's ETag of a single-part object is the MD5
of its bytes, so when the ETag equals the MD5 of those expected bytes (and the size matches) R2 holds exactly those
bytes and the row is built from them without a GET (:meth:`R2Reuse.proven`). A multipart ETag (with a ``-``), a
missing ETag, or any mismatch (a tampered, stale or differently serialised copy) is read with a GET, so the
findings are those of reading every object.
"""

from __future__ import annotations

import hashlib
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pandas as pd

from .. import verification
from ..layers import blocks as fmt
from ..layers.cid import CID, RAW
from ..layers.errors import LayerError
from ..layers.r2 import ObjectInfo
from ..layers.unixfs import raw_cid
from ..repairs.archive import ContentArchive
from ..settings import Settings

log = logging.getLogger(__name__)
ARCHIVE_THREADS = 8


@dataclass
class R2Reuse:
    settings: Settings
    bucket: str
    listed: dict[str, ObjectInfo]
    use_known: bool  # regular cadence: reuse unchanged copies; deep: read everything
    cadence: str | None = None
    run_id: str | None = None
    reused: dict[str, bytes] = field(default_factory=dict)
    proved: dict[str, bytes] = field(default_factory=dict)
    states: dict[str, dict] | None = None  # the verification state of the listed keys (None: not read)

    def state_key(self, key: str) -> str:
        return f"{self.bucket}/{key}"

    def __post_init__(self) -> None:
        self.archive: ContentArchive | None = ContentArchive.from_settings(self.settings)

    def known(self, keys: list[str]) -> dict[str, bytes]:
        """Key -> bytes for the listed objects not to read again (see the module docstring)."""
        if not self.use_known:
            return {}
        candidates = [key for key in keys if key in self.listed]
        try:
            self.states = verification.r2_states(self.settings, [self.state_key(key) for key in candidates])
        except (LayerError, ValueError) as exc:
            log.warning("verification state unreadable, reading every R2 object: %s", exc)
            self.states = None
            return {}
        for key in candidates:
            state, info = self.states.get(self.state_key(key)), self.listed[key]
            if self.archive is None or state is None or not _unchanged(state, info):
                continue
            data = self.archive.get(str(CID.create(1, RAW, bytes.fromhex(state["sha256"]))))
            if data is not None and len(data) == info.size:
                self.reused[key] = data
        return self.reused

    def proven(self, keys: list[str], expected: dict[str, bytes]) -> dict[str, bytes]:
        """Key -> expected bytes for the listed objects whose single-part ETag is the MD5 of those bytes.

        Only for objects not known to have changed: an object whose ETag or size differs from the recorded read
        was written since, and is read again (as is everything when the state could not be read)."""
        if not self.use_known or self.states is None:
            return {}
        for key in keys:
            info, data, state = self.listed.get(key), expected.get(key), self.states.get(self.state_key(key))
            if info is None or data is None or (state is not None and not _unchanged(state, info)):
                continue
            if etag_proves(info, data):
                self.proved[key] = data
        return self.proved

    def save(self, values: dict[str, bytes | None]) -> None:
        """Archive the copies read this run and record them (with the ETag they were listed under).

        Copies proven by their ETag are recorded (not archived: the next run proves them the same way)."""
        skipped = self.reused.keys() | self.proved.keys()
        read = {key: raw for key, raw in values.items() if key not in skipped and raw is not None}
        read = {key: raw for key, raw in read.items() if key in self.listed and len(raw) == self.listed[key].size}
        with ThreadPoolExecutor(ARCHIVE_THREADS, thread_name_prefix="r2-archive") as pool:  # writes overlap
            archived = dict(zip(read, pool.map(self._archived, read.values()), strict=True))
        copies = [{"key": self.state_key(key), "fresh": False} for key in self.reused]
        fresh = [(key, raw) for key, raw in read.items() if archived[key]] + list(self.proved.items())
        copies += [self._fresh_copy(key, raw) for key, raw in fresh]
        try:
            verification.record_r2_copies(self.settings, copies, cadence=self.cadence, run_id=self.run_id)
        except (LayerError, ValueError) as exc:
            log.warning("verification state of R2 copies not written: %s", exc)

    def _fresh_copy(self, key: str, raw: bytes) -> dict:
        """The state of a copy whose bytes are ``raw``, with the ETag and size it was listed under."""
        info = self.listed[key]
        return {"key": self.state_key(key), "fresh": True, "etag": info.etag, "size": info.size,
                "sha256": hashlib.sha256(raw).hexdigest()}  # fmt: skip

    def close(self) -> None:
        if self.archive is not None:
            self.archive.close()

    def _archived(self, raw: bytes) -> bool:
        if self.archive is None:
            return False
        try:
            # the CID is of these bytes; a copy lost in a crash is only read again (reads re-verify)
            return bool(self.archive.put(str(raw_cid(raw)), raw, verified=True, durable=False))
        except OSError as exc:  # a full or read-only archive: the copy will be read again next time
            log.warning("R2 copy not archived: %s", exc)
            return False


def _unchanged(state: dict, info: ObjectInfo) -> bool:
    details = state.get("details")
    etag = details.get("etag") if isinstance(details, dict) else None
    return bool(info.etag) and etag == info.etag and int(state["size"]) == info.size


def etag_proves(info: ObjectInfo, data: bytes) -> bool:
    """True if the listed object holds exactly ``data``: its single-part ETag is their MD5 and the sizes match."""
    etag = info.etag.strip('"').lower()
    if not etag or "-" in etag or len(data) != info.size:
        return False
    return hashlib.md5(data, usedforsecurity=False).hexdigest() == etag


def expected_block_bytes(kv_frame: pd.DataFrame | None) -> dict[int, bytes]:
    """Block number -> the bytes R2 and IPFS should hold for each KV block read (the block without its IPFS
    fields, canonical JSON). Only a candidate: an R2 copy is taken for these bytes only when its ETag proves it."""
    if kv_frame is None or kv_frame.empty or "value" not in kv_frame:
        return {}
    blocks = kv_frame[(kv_frame["kind"] == "block") & kv_frame["present"]]
    expected: dict[int, bytes] = {}
    for number, value in zip(blocks["block_number"].tolist(), blocks["value"].tolist(), strict=True):
        try:
            block = json.loads(value)
        except (TypeError, ValueError, RecursionError):
            continue
        if isinstance(block, dict):
            expected[int(number)] = fmt.canonical_json(fmt.block_core(block))
    return expected


def expected_block_copies(kv_frame: pd.DataFrame | None) -> dict[str, bytes]:
    """R2 key -> the bytes R2 should hold (:func:`expected_block_bytes`)."""
    return {fmt.r2_block_key(number): data for number, data in expected_block_bytes(kv_frame).items()}
