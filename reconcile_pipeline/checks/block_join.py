"""The joined block-store frame ``block_consistency``: one row per block number, KV, R2 and IPFS side by side.

Inputs are the snapshot frames ``blockstore_kv``, ``blockstore_r2`` (long format, one row per key)
and ``blockstore_ipfs`` (one row per KV block, read by its ``ipfsHash``). A row exists for every
block number of which some tier holds a copy. Per tier ``t`` (``kv``, ``r2``, ``ipfs``):

- ``t_status``: ``present`` | ``missing`` (read, not there) | ``unavailable`` (could not be read:
  unknown, never missing) | ``unlocated`` (IPFS only: no usable ``ipfsHash`` to look the copy up)
  | ``unverified`` (IPFS only: gateways served bytes that do not hash to the CID); ``t_reason`` says why;
- ``t_sha256`` (raw bytes), ``t_core_sha256`` (the canonical block without its IPFS fields, so the
  tiers compare like for like; ``raw:<sha256>`` when the copy is not a JSON object), ``t_error``
  (parse error or a blockNumber under the wrong key), ``t_usable`` (parsed, right number),
  ``t_object`` (the copy is at least a JSON object);
- parsed fields: ``t_hash``, ``t_previous_hash``, ``t_merkle_root``, ``t_tx_ids``, and recomputed
  ``t_hash_computed`` (over ``settings.blockstore.hash_fields``) and ``t_merkle_computed``;
  ``t_valid`` = usable and both recomputations match.

Then ``kv_ipfs_hash``, ``kv_ipfs_problem`` (why that hash cannot name the block, judged with no
network: missing, not a CID, a mock), ``ipfs_cid``, ``ipfs_read`` (the gateway read status);
``source_tier`` (the first valid copy, KV > R2 > IPFS: where a rehydration would copy from, None if
no copy validates); ``ref_tier`` (the copy the chain checks judge: the source, else the first usable
copy) with its fields as ``ref_*``. Everything is linear in the number of blocks; each copy is parsed once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..layers import blocks as fmt
from ..snapshots.base import layer_readable, read_status
from .block_copies import COPY_FIELDS, ipfs_copies, ipfs_hash_problem, known_cores, store_copies

TIERS = ("kv", "r2", "ipfs")
FRAME_NAMES = {"kv": "blockstore_kv", "r2": "blockstore_r2", "ipfs": "blockstore_ipfs"}
PRESENT, MISSING, UNAVAILABLE, UNLOCATED, UNVERIFIED = "present", "missing", "unavailable", "unlocated", "unverified"
UNKNOWN_STATES = frozenset({UNAVAILABLE, UNVERIFIED})
REF_FIELDS = ("hash", "previous_hash", "merkle_root", "hash_computed", "merkle_computed", "tx_ids", "core_sha256")
FLAGS = ("usable", "valid", "object")
NOT_AN_OBJECT = "ipfsHash unreadable: the KV copy is not a JSON object"


@dataclass
class BlockContext:
    """The joined frame plus what the checks beyond it need: the raw tier frames and their readability."""

    blocks: pd.DataFrame
    frames: dict[str, pd.DataFrame | None]
    readable: dict[str, bool]
    reasons: dict[str, str] = field(default_factory=dict)
    hash_fields: tuple[str, ...] = fmt.DEFAULT_HASH_FIELDS
    backlog_max: int = 10


def _reason(frame: pd.DataFrame | None, tier: str) -> str:
    if frame is None:
        return f"{tier}: no snapshot"
    return f"{tier}: {read_status(frame).get('message') or 'could not be read'}"


def tier_readability(frames: dict[str, pd.DataFrame]) -> tuple[dict[str, bool], dict[str, str]]:
    """Whether each tier's snapshot could be read at all, and why not."""
    readable, reasons = {}, {}
    for tier, name in FRAME_NAMES.items():
        frame = frames.get(name)
        readable[tier] = frame is not None and layer_readable(frame)
        reasons[tier] = _reason(frame, tier)
    return readable, reasons


# -- tier statuses -------------------------------------------------------------------------
def _store_status(frame: pd.DataFrame, tier: str, readable: bool, reason: str) -> None:
    present = frame[f"{tier}_sha256"].notna().to_numpy()
    frame[f"{tier}_status"] = np.where(present, PRESENT, MISSING) if readable else UNAVAILABLE
    frame[f"{tier}_reason"] = np.where(present, None, f"{tier}: read, no copy") if readable else reason


def _ipfs_problems(frame: pd.DataFrame) -> list[str | None]:
    """Each KV copy's ipfsHash problem. A CIDv0 whose bytes a gateway served and verified is real (no mock
    digest has content hashing to it), so it skips the (slow, base58) parse."""
    kv_present = (frame["kv_status"] == PRESENT).to_numpy()
    cids = frame["kv_ipfs_hash"].to_numpy(dtype=object)
    read_ok = ((frame["ipfs_read"] == "ok") & (frame["ipfs_cid"] == frame["kv_ipfs_hash"])).to_numpy(dtype=bool)
    v0_text = np.array([isinstance(c, str) and len(c) == 46 and c.startswith("Qm") for c in cids], dtype=bool)
    verified_v0 = read_ok & v0_text
    return [
        None if not here or verified else (ipfs_hash_problem(cid) if is_object else NOT_AN_OBJECT)
        for here, verified, is_object, cid in zip(kv_present, verified_v0, frame["kv_object"], cids, strict=True)
    ]


def _ipfs_status(frame: pd.DataFrame, readable: dict[str, bool], reasons: dict[str, str]) -> None:
    """IPFS is read through the KV copy's ipfsHash: no KV read or no usable hash means it was not located."""
    frame["kv_ipfs_problem"] = pd.Series(_ipfs_problems(frame), index=frame.index, dtype=object)
    read = frame["ipfs_read"].to_numpy()
    n = len(frame)
    read_error = "ipfs: " + frame["ipfs_read_error"].fillna("not read").astype(str)
    rules = [  # (condition, status, reason), first match wins
        (np.full(n, not readable["kv"]), UNAVAILABLE, f"ipfs: KV not read, so no ipfsHash ({reasons['kv']})"),
        ((frame["kv_status"] != PRESENT).to_numpy(), UNLOCATED, "ipfs: no KV copy names an ipfsHash"),
        (frame["kv_ipfs_problem"].notna().to_numpy(), UNLOCATED, "ipfs: " + frame["kv_ipfs_problem"].astype(str)),
        (np.full(n, not readable["ipfs"]), UNAVAILABLE, reasons["ipfs"]),
        (read == "ok", PRESENT, None),
        (read == "missing", MISSING, "ipfs: not found on any gateway"),
        (read == "invalid", UNVERIFIED, read_error),
    ]
    conditions = [rule[0] for rule in rules]
    frame["ipfs_status"] = np.select(conditions, [rule[1] for rule in rules], UNAVAILABLE)
    why = [np.broadcast_to(np.asarray(rule[2], dtype=object), n) for rule in rules]
    frame["ipfs_reason"] = np.select(conditions, why, read_error.to_numpy(dtype=object))


# -- the join ------------------------------------------------------------------------------
def _joined(numbers: list[int], parts: list[pd.DataFrame]) -> pd.DataFrame:
    frame = pd.DataFrame({"block_number": pd.Series(numbers, dtype="int64")})
    for part in parts:
        frame = frame.merge(part, on="block_number", how="left")
    wanted = ["block_number"]
    for tier in TIERS:
        wanted += [f"{tier}_{name}" for name in ("sha256", *COPY_FIELDS, "object")]
    wanted += ["kv_ipfs_hash", "ipfs_cid", "ipfs_read", "ipfs_read_error"]
    absent = [column for column in wanted if column not in frame.columns]
    frame = frame.reindex(columns=wanted + [c for c in frame.columns if c not in wanted])
    for column in absent:  # a tier with no copies: keep text columns text-typed (None), not float NaN
        frame[column] = pd.Series([None] * len(frame), index=frame.index, dtype=object)
    for tier in TIERS:
        for flag in FLAGS:
            frame[f"{tier}_{flag}"] = frame[f"{tier}_{flag}"].astype("boolean").fillna(False).astype(bool)
    return frame


def _first_tier(frame: pd.DataFrame, flag: str) -> pd.Series:
    """The first tier (KV > R2 > IPFS) whose present copy has ``flag`` set; None where none has."""
    choices = [((frame[f"{tier}_status"] == PRESENT) & frame[f"{tier}_{flag}"]).to_numpy() for tier in TIERS]
    picked = np.select(choices, list(TIERS), "")
    return pd.Series([str(tier) if tier else None for tier in picked], index=frame.index, dtype=object)


def _pick(frame: pd.DataFrame, choice: pd.Series, name: str) -> pd.Series:
    out = pd.Series([None] * len(frame), index=frame.index, dtype=object)
    for tier in TIERS:
        out = out.where(choice != tier, frame[f"{tier}_{name}"].astype(object))
    return out


def build_block_consistency(frames: dict[str, pd.DataFrame], settings) -> pd.DataFrame:
    """One row per block number seen in any tier, each tier's status, hashes and parsed fields (module docstring)."""
    fields = tuple(settings.blockstore.hash_fields)
    readable, reasons = tier_readability(frames)
    kv = store_copies(frames.get("blockstore_kv"), "kv", fields)
    known = known_cores(kv)
    r2 = store_copies(frames.get("blockstore_r2"), "r2", fields, known)
    ipfs = ipfs_copies(frames.get("blockstore_ipfs") if readable["kv"] else None, fields, known)
    present_ipfs = ipfs.loc[ipfs["ipfs_sha256"].notna(), "block_number"] if "ipfs_sha256" in ipfs else []
    numbers = sorted(set(kv["block_number"]) | set(r2["block_number"]) | set(present_ipfs))
    frame = _joined(numbers, [kv, r2, ipfs])
    _store_status(frame, "kv", readable["kv"], reasons["kv"])
    _store_status(frame, "r2", readable["r2"], reasons["r2"])
    _ipfs_status(frame, readable, reasons)
    frame["source_tier"] = _first_tier(frame, "valid")
    frame["ref_tier"] = frame["source_tier"].where(frame["source_tier"].notna(), _first_tier(frame, "usable"))
    for name in REF_FIELDS:
        frame[f"ref_{name}"] = _pick(frame, frame["ref_tier"], name)
    return frame


def block_context(frames: dict[str, pd.DataFrame], settings, blocks: pd.DataFrame | None = None) -> BlockContext:
    """What the block checks run on; pass ``blocks`` to reuse an already built ``block_consistency``."""
    readable, reasons = tier_readability(frames)
    return BlockContext(
        blocks=build_block_consistency(frames, settings) if blocks is None else blocks,
        frames={tier: frames.get(name) for tier, name in FRAME_NAMES.items()},
        readable=readable,
        reasons=reasons,
        hash_fields=tuple(settings.blockstore.hash_fields),
        backlog_max=settings.blockstore.pending_backlog_max,
    )


# -- helpers for the checks ----------------------------------------------------------------
def tiers_in(blocks: pd.DataFrame, states: frozenset[str] | set[str]) -> pd.Series:
    """Per block, the tiers whose status is one of ``states`` (a list, KV > R2 > IPFS order)."""
    statuses = zip(*(blocks[f"{tier}_status"] for tier in TIERS), strict=True)
    lists = [[tier for tier, status in zip(TIERS, row, strict=True) if status in states] for row in statuses]
    return pd.Series(lists, index=blocks.index, dtype=object)


def unknown_reasons(blocks: pd.DataFrame, tiers: tuple[str, ...] = TIERS) -> pd.Series:
    """Per block, why the tiers in ``tiers`` that could not be read were not ('; '-joined)."""
    parts = [blocks[f"{tier}_reason"].where(blocks[f"{tier}_status"].isin(UNKNOWN_STATES)) for tier in tiers]
    rows = zip(*parts, strict=True)
    return pd.Series(["; ".join(str(r) for r in row if isinstance(r, str)) for row in rows], index=blocks.index)


def any_unknown(blocks: pd.DataFrame, tiers: tuple[str, ...] = TIERS) -> pd.Series:
    return pd.concat([blocks[f"{tier}_status"].isin(UNKNOWN_STATES) for tier in tiers], axis=1).any(axis=1)
