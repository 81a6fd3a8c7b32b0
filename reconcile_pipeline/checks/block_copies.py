"""Parse each stored copy of a block (KV, R2 or IPFS) and recompute its hash and Merkle root.

:func:`parse_copy` turns one copy's text into flat fields (see :mod:`.block_join`);
:func:`store_copies` and :func:`ipfs_copies` do it for a whole tier frame, one row per block
number, with columns prefixed by the tier. :func:`ipfs_hash_problem` judges an ``ipfsHash``
without the network (missing, not a CID, a mock).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

import pandas as pd

from ..layers import blocks as fmt
from ..layers.cid import parse_cid
from ..layers.errors import DecodeError
from ..snapshots.base import layer_readable

COPY_FIELDS = ("usable", "valid", "error", "core_sha256", "hash", "previous_hash", "merkle_root",
               "hash_computed", "merkle_computed", "tx_ids")  # fmt: skip
IDENTITY_HASH = 0x00


# -- one copy ------------------------------------------------------------------------------
def _empty_copy() -> dict:
    return {name: None for name in COPY_FIELDS} | {"usable": False, "valid": False, "object": False, "ipfs_hash": None}


def _broken_copy(raw: bytes, error: str) -> dict:
    copy = _empty_copy() | {"error": error, "core_sha256": "raw:" + hashlib.sha256(raw).hexdigest()}
    try:
        obj = json.loads(raw)
    except (ValueError, RecursionError):
        return copy
    if isinstance(obj, dict):
        copy |= {"object": True, "core_sha256": fmt.core_sha256(obj), "ipfs_hash": obj.get("ipfsHash")}
    return copy


def parse_copy(value: str | None, number: int, where: str, hash_fields: Sequence[str]) -> dict:
    """Parse one stored copy of block ``number`` and recompute its hash and Merkle root."""
    if not isinstance(value, str):  # no copy (None / NaN)
        return _empty_copy()
    raw = value.encode("utf-8")
    try:
        block = fmt.parse_block(raw, where=where)
    except DecodeError as exc:
        return _broken_copy(raw, str(exc))
    txs = block["transactions"]
    hash_computed = fmt.block_hash(block, hash_fields)
    merkle_computed = fmt.merkle_root([fmt.tx_hash(tx) for tx in txs])
    stored_number = block["blockNumber"]
    error = None if stored_number == number else f"blockNumber {stored_number} stored as block {number} ({where})"
    return {
        "usable": error is None,
        "valid": error is None and hash_computed == block["hash"] and merkle_computed == block["merkleRoot"],
        "error": error,
        "core_sha256": fmt.core_sha256(block),
        "hash": block["hash"],
        "previous_hash": block["previousHash"],
        "merkle_root": block["merkleRoot"],
        "hash_computed": hash_computed,
        "merkle_computed": merkle_computed,
        "tx_ids": [tx["txId"] for tx in txs],
        "object": True,
        "ipfs_hash": block.get("ipfsHash"),
    }


def ipfs_hash_problem(value: object) -> str | None:
    """Why ``value`` cannot be the CID of a block, decided without the network (None if it may be)."""
    if not isinstance(value, str) or not value:
        return "ipfsHash is missing"
    try:
        cid = parse_cid(value)
    except DecodeError as exc:
        label = "a mock hash" if "mock" in value.lower() else "not a CID"
        return f"ipfsHash {value[:80]!r} is {label} ({exc.reason})"
    if cid.hash_code == IDENTITY_HASH:
        return f"ipfsHash {value[:80]!r} is an identity CID, not a content hash"
    if len(set(cid.digest)) < 4:
        return f"ipfsHash {value[:80]!r} is a mock hash (its digest is a constant pattern)"
    return None


# -- tiers ---------------------------------------------------------------------------------
Known = dict[tuple[int, str], dict]


def known_cores(kv_parsed: pd.DataFrame) -> Known:
    """(block number, core sha256) -> the parsed KV copy, for the usable KV copies.

    An R2 or IPFS copy whose raw bytes hash to the KV copy's core sha256 *is* that core in canonical
    form, so it parses to the same fields: the second and third tiers cost a hash lookup, not a parse.
    """
    if kv_parsed.empty:
        return {}
    usable = kv_parsed[kv_parsed["kv_usable"]]
    records = usable.rename(columns=lambda c: c.removeprefix("kv_")).to_dict("records")
    return {(int(r["block_number"]), r["core_sha256"]): r | {"ipfs_hash": None} for r in records}


def _parsed_frame(rows: pd.DataFrame, values: pd.Series, wheres: pd.Series, prefix: str, fields, known: Known):
    copies = [
        known.get((int(n), sha)) or parse_copy(v, int(n), str(w), fields)
        for v, n, w, sha in zip(values, rows["block_number"], wheres, rows["sha256"], strict=True)
    ]
    parsed = pd.DataFrame(copies, columns=[*COPY_FIELDS, "object", "ipfs_hash"])
    parsed.insert(0, "block_number", rows["block_number"].astype("int64").to_numpy())
    return parsed.rename(columns={c: f"{prefix}_{c}" for c in parsed.columns if c != "block_number"})


def store_copies(frame: pd.DataFrame | None, tier: str, hash_fields: Sequence[str], known: Known | None = None):
    """The present block copies of a KV or R2 frame, parsed; one row per block number."""
    if frame is None or frame.empty or not layer_readable(frame):
        return pd.DataFrame({"block_number": pd.Series(dtype="int64")})
    rows = frame[(frame["kind"] == "block") & frame["present"].astype(bool) & frame["block_number"].notna()]
    rows = rows.drop_duplicates("block_number")
    parsed = _parsed_frame(rows, rows["value"], rows["key"], tier, hash_fields, known or {})
    parsed[f"{tier}_sha256"] = rows["sha256"].to_numpy()
    return parsed


def ipfs_copies(frame: pd.DataFrame | None, hash_fields: Sequence[str], known: Known | None = None) -> pd.DataFrame:
    """The IPFS reads (one per KV block, by its ipfsHash), parsed where a gateway served the bytes."""
    if frame is None or frame.empty:
        return pd.DataFrame({"block_number": pd.Series(dtype="int64")})
    rows = frame.drop_duplicates("block_number")
    ok = rows["status"] == "ok"
    values = rows["value"].where(ok, None)
    wheres = "ipfs:" + rows["cid"].astype(str)
    parsed = _parsed_frame(rows.assign(sha256=rows["sha256"].where(ok, None)), values, wheres, "ipfs",
                           hash_fields, known or {})  # fmt: skip
    parsed["ipfs_sha256"] = rows["sha256"].where(ok, None).to_numpy()
    parsed["ipfs_cid"] = rows["cid"].to_numpy()
    parsed["ipfs_read"] = rows["status"].to_numpy()
    parsed["ipfs_read_error"] = rows["error"].to_numpy()
    return parsed.drop(columns=["ipfs_ipfs_hash"])
